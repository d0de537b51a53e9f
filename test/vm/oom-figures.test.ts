/**
 * A fault that fails because stores refuse the dirty pages (no swap, swap at its cap) says, besides
 * the store's reason, how this space's frames stand: the figures that explain why no other page
 * could leave instead. Nothing changes.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AddressSpace, AnonymousStore, OutOfMemoryError } from "../../src/index.js";

const PS = 4096;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function failure(space: AddressSpace, v: number): Promise<OutOfMemoryError> {
  const before = space.stats();
  const e = await space.read(v, 1).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(OutOfMemoryError);
  const after = space.stats();
  expect(after).toMatchObject({
    resident: before.resident,
    dirty: before.dirty,
    evictions: before.evictions,
  });
  space.check();
  return e as OutOfMemoryError;
}

describe("OutOfMemoryError from stores that refuse dirty pages", () => {
  it("no-backing-store names the frames in use, the dirty ones and the pinned ones", async () => {
    const space = new AddressSpace({ frames: 3 });
    const v = space.map({ length: 8 * PS, store: new AnonymousStore({ swap: false }) });
    await space.write(v, new Uint8Array(2 * PS).fill(1));
    const pin = await space.pin(v + 2 * PS, 1, { owner: "t" });
    const e = await failure(space, v + 3 * PS);
    expect(e.reason).toBe("no-backing-store");
    expect(e.message).toContain("a dirty anonymous page cannot leave memory");
    expect(e.message).toContain(
      "3 of 3 frames in use: 2 hold dirty pages their store cannot take now and 1 hold pinned pages",
    );
    pin.release();
    await space.close();
  });

  it("quota keeps the swap file's figures and adds the frames'", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mneme-oom-"));
    dirs.push(dir);
    const store = new AnonymousStore({ swap: join(dir, "s.swap"), swapCap: PS });
    const space = new AddressSpace({ frames: 2 });
    const v = space.map({ length: 8 * PS, store });
    await space.write(v, new Uint8Array(3 * PS).fill(1)); // the first page took the one slot
    const e = await failure(space, v + 3 * PS);
    expect(e.reason).toBe("quota");
    expect(e.message).toContain(`is at its cap of ${PS} bytes (1 slots of ${PS} bytes in use)`);
    expect(e.message).toContain(
      "2 of 2 frames in use: 2 hold dirty pages their store cannot take now and 0 hold pinned pages",
    );
    await space.close();
    await store.close();
  });
});
