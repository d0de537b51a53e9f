import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AddressSpace, AnonymousStore, FileStore, PageAllocator, Reclaimer } from "../../src/index.js";
import type { OomEvent } from "../../src/reclaim/oom.js";

const PS = 4096;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("reclaim writes dirty pages back before it kills", () => {
  it("a space whose dirty pages its file can take is written back and shrunk, not OOM-killed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mneme-launder-"));
    dirs.push(dir);
    const pages = new PageAllocator({ bytes: 160 * PS, hotPages: 0 });
    const file = new AddressSpace({ frames: 150, pages });
    const anon = new AddressSpace({ frames: 150, pages });
    const vf = file.map({ length: 120 * PS, store: new FileStore(join(dir, "a.bin")) });
    const va = anon.map({ length: 1000 * PS, store: new AnonymousStore({ swap: false }) });
    for (let i = 0; i < 120; i++) await file.write(vf + i * PS, new Uint8Array(PS).fill(1 + (i % 250)));
    // The anonymous space takes what is left of the page layer.
    for (let i = 0; pages.freePages > 0; i++) await anon.write(va + i * PS, new Uint8Array(PS).fill(9));
    const anonPages = anon.cachedPages();
    const reclaimer = new Reclaimer({ maxRounds: 2 });
    reclaimer.addSpace(file, { name: "file" });
    reclaimer.addSpace(anon, { name: "anon" });
    const events: OomEvent[] = [];
    reclaimer.on("oom", (e: OomEvent) => events.push(e));

    const r = await reclaimer.reclaim(8 * PS);
    expect(r.killed).toBeNull();
    expect(events).toEqual([]);
    expect(r.freed).toBeGreaterThanOrEqual(8 * PS);
    expect(pages.freePages).toBeGreaterThanOrEqual(8);
    expect(reclaimer.stats().laundered).toBeGreaterThanOrEqual(8 * PS);
    // Nothing is lost: the written pages are in the file, the rest still resident, and the
    // anonymous space (no swap: its pages could go nowhere) kept every page.
    expect(anon.cachedPages()).toBe(anonPages);
    for (let i = 0; i < 120; i++)
      expect((await file.read(vf + i * PS, 1))[0], `page ${i}`).toBe(1 + (i % 250));
    await file.sync();
    const bytes = readFileSync(join(dir, "a.bin"));
    for (let i = 0; i < 120; i++) expect(bytes[i * PS + PS - 1], `page ${i}`).toBe(1 + (i % 250));
    await file.close();
    await anon.close();
  });
});
