/**
 * The swap file of an AnonymousStore under concurrent evictions: faults started at once whose
 * victims are all dirty anonymous pages, with room in the swap for only some of them (only the
 * operations that found no slot fail, with reason quota; slots are not leaked; the file never
 * passes its cap), and a swap file that cannot be opened (each eviction fails with StoreError,
 * its victim stays dirty and resident, no slot is taken, and evictions work once it can be).
 */
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AddressSpace, AnonymousStore, OutOfMemoryError, StoreError } from "../../src/index.js";
import { pattern, tempDir } from "./helpers.js";

const PS = 512;
const tmp = tempDir();
afterAll(() => tmp.remove());

describe("swap under concurrent evictions", () => {
  it("faults at once past the cap: the ones that got a slot succeed, the others fail with quota and change nothing", async () => {
    const store = new AnonymousStore({ swap: join(tmp.path, "cap.swap"), swapCap: 2 * PS });
    const space = new AddressSpace({ frames: 4, pageSize: PS, policy: "lru" });
    const v = space.map({ length: 16 * PS, store, hint: "random" });
    for (let p = 0; p < 4; p++) await space.write(v + p * PS, pattern(PS, p + 1)); // 4 dirty frames
    const writes = [4, 5, 6, 7].map((p) => space.write(v + p * PS + 3, pattern(10, p + 1)));
    const results = await Promise.allSettled(writes);
    const done = results.filter((r) => r.status === "fulfilled").length;
    expect(done).toBe(2); // two slots, two victims written out
    for (const r of results) {
      if (r.status === "rejected") {
        expect(r.reason).toBeInstanceOf(OutOfMemoryError);
        expect((r.reason as OutOfMemoryError).reason).toBe("quota");
      }
    }
    expect(store.stats()).toMatchObject({ swapSlots: 2, swapBytes: 2 * PS, swapFileBytes: 2 * PS });
    expect(space.stats()).toMatchObject({ resident: 4, dirty: 4, inFlight: 0, evictions: 2, writebacks: 2 });
    space.check();
    // Every acknowledged byte is there; the failed writes left their pages as they were (zero).
    for (let p = 0; p < 4; p++) expect(await space.peek(v + p * PS, PS)).toEqual(pattern(PS, p + 1));
    for (const [i, p] of [4, 5, 6, 7].entries()) {
      const want = results[i].status === "fulfilled" ? pattern(10, p + 1) : new Uint8Array(10);
      expect(await space.peek(v + p * PS + 3, 10)).toEqual(want);
    }
    // Unmapping gives every slot back; the file does not grow for the next mapping.
    await space.unmap(v);
    expect(store.stats()).toMatchObject({ swapSlots: 0, swapFileBytes: 2 * PS });
    const w = space.map({ length: 16 * PS, store, hint: "random" });
    for (let p = 0; p < 6; p++) await space.write(w + p * PS, pattern(PS, p + 20));
    expect(store.stats()).toMatchObject({ swapSlots: 2, swapFileBytes: 2 * PS });
    space.check();
    await space.close();
    await store.close();
  });

  it("a swap file that cannot be opened: evictions fail with StoreError, victims stay, no slot is taken", async () => {
    const path = join(tmp.path, "blocked.swap");
    mkdirSync(path); // a directory where the swap file should be: open fails with EISDIR
    const store = new AnonymousStore({ swap: path, swapCap: 8 * PS });
    const space = new AddressSpace({ frames: 2, pageSize: PS, policy: "lru" });
    const v = space.map({ length: 8 * PS, store, hint: "random" });
    await space.write(v, pattern(PS, 1));
    await space.write(v + PS, pattern(PS, 2));
    const results = await Promise.allSettled([space.read(v + 2 * PS, 1), space.read(v + 3 * PS, 1)]);
    for (const r of results) {
      expect(r.status).toBe("rejected");
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(StoreError);
    }
    expect(store.stats()).toMatchObject({ swapSlots: 0 });
    expect(space.stats()).toMatchObject({ resident: 2, dirty: 2, inFlight: 0, evictions: 0 });
    space.check();
    rmSync(path, { recursive: true });
    expect(await space.read(v + 2 * PS, 1)).toEqual(new Uint8Array(1));
    expect(await space.read(v + 3 * PS, 1)).toEqual(new Uint8Array(1));
    expect(await space.read(v, PS)).toEqual(pattern(PS, 1));
    expect(await space.read(v + PS, PS)).toEqual(pattern(PS, 2));
    expect(store.stats().swapSlots).toBe(2);
    space.check();
    await space.close();
    await store.close();
  });
});
