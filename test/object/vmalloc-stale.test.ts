/**
 * A vmalloc address after vfree: refused by vread, vwrite and vfree, even after further vmallocs,
 * for as long as the directory has other free slots (slots are taken round robin).
 */
import { describe, expect, it } from "vitest";
import { DoubleFreeError, Heap } from "../../src/index.js";
import { expectCleanFailure } from "./helpers.js";

describe("a stale vmalloc address", () => {
  it("is refused after the area is freed and others are created", () => {
    // Regression (fixed): vfree put the directory's search hint back on the freed slot, so the
    // next vmalloc got the same virtual address: a second vfree of the stale address freed the
    // new area, and a stale vwrite wrote into it.
    const heap = new Heap({ bytes: 1 << 20, vmallocAreas: 8 });
    const stale = heap.vmalloc(5000);
    heap.vfree(stale);
    const live: number[] = [];
    for (let i = 0; i < 7; i++) {
      const v = heap.vmalloc(5000);
      heap.vwrite(v, new Uint8Array(5000).fill(i + 1));
      live.push(v);
    }
    expect(live).not.toContain(stale);
    expectCleanFailure(heap, DoubleFreeError, () => heap.vfree(stale));
    expectCleanFailure(heap, DoubleFreeError, () => heap.vwrite(stale, new Uint8Array(10)));
    expectCleanFailure(heap, DoubleFreeError, () => heap.vread(stale, 10));
    live.forEach((v, i) => {
      expect(heap.vread(v, 5000).every((b) => b === i + 1)).toBe(true);
    });
    // Once every other slot is taken, the freed one is used again.
    const last = heap.vmalloc(10);
    expect(last).toBe(stale);
    heap.check();
  });
});
