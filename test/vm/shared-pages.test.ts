/**
 * Address spaces sharing one PageAllocator. When the page layer had no page left (the other space
 * held them) and every page of this space was pinned, a fault failed with reason "all-pinned" and
 * "all 8 frames are in use" although the space used 2 of its 8: the wrong cause, with figures
 * that did not add up. It now fails with the page layer's reason (exhausted) and this space's
 * share of the figures, changing nothing, and succeeds once the other space gives pages back.
 */
import { describe, expect, it } from "vitest";
import { AddressSpace, OutOfMemoryError, PageAllocator } from "../../src/index.js";
import { expectCleanRejection, MemoryStore } from "./helpers.js";

const PS = 4096;

describe("spaces sharing a page layer", () => {
  it("a fault that finds the page layer empty and its own pages pinned says so", async () => {
    const pages = new PageAllocator({ bytes: 8 * PS });
    const a = new AddressSpace({ frames: 8, pages });
    const b = new AddressSpace({ frames: 8, pages });
    const va = a.map({ length: 16 * PS, store: new MemoryStore("a"), hint: "random" });
    const vb = b.map({ length: 16 * PS, store: new MemoryStore("b"), hint: "random" });
    const pin = await a.pin(va, 2 * PS, { owner: "holder" });
    for (let p = 0; pages.stats().free > 0; p++) await b.write(vb + p * PS, new Uint8Array([p]));
    const error = await expectCleanRejection(a, OutOfMemoryError, () => a.read(va + 5 * PS, 1));
    expect(error.reason).toBe("exhausted");
    expect(error.message).toMatch(/uses 2 of its 8 frames \(2 pages pinned\)/);
    // Pinned pages alone, with frames to spare: still the page layer, not all-pinned.
    await expect(a.write(va + 6 * PS, new Uint8Array(PS))).rejects.toMatchObject({ reason: "exhausted" });
    await b.close();
    expect(await a.read(va + 5 * PS, 1)).toEqual(new Uint8Array(1));
    pin.release();
    a.check();
    await a.close();
  });

  it("with every frame of the space pinned, the reason stays all-pinned", async () => {
    const pages = new PageAllocator({ bytes: 8 * PS });
    const a = new AddressSpace({ frames: 2, pages });
    const va = a.map({ length: 4 * PS, store: new MemoryStore("a") });
    const pin = await a.pin(va, 2 * PS);
    const error = await expectCleanRejection(a, OutOfMemoryError, () => a.read(va + 3 * PS, 1));
    expect(error.reason).toBe("all-pinned");
    pin.release();
    await a.close();
  });
});
