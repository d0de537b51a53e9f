/**
 * A cache constructor is the caller's code, run on every object of a new slab: when it throws, the
 * alloc that needed the slab fails with the constructor's error and the heap is as before.
 */
import { describe, expect, it } from "vitest";
import { Heap } from "../../src/index.js";

const PS = 4096;

/**
 * The heap's figures but `trims`: before a new slab raises the peak footprint the heap returns its
 * idle memory (slab.ts trimBefore), which the constructor's failure cannot take back, nor need to.
 */
function figures(heap: Heap): string {
  return JSON.stringify({ ...heap.stats(), trims: 0 });
}

describe("a cache constructor that throws", () => {
  for (const debug of [false, true]) {
    it(`fails the alloc and leaves the heap as it was${debug ? " (debug mode)" : ""}`, () => {
      // Regression (fixed): the new slab was already counted (slabs, pages, footprint, owner map)
      // but on no list, so check() failed ('empty list misses slabs') and its pages leaked.
      const heap = new Heap({ bytes: 1 << 20, pageSize: PS, debug });
      let calls = 0;
      let failAt = 3;
      const cache = heap.createCache("fragile", 117, {
        ctor: () => {
          if (++calls === failAt) throw new Error("constructor failed");
        },
      });
      const before = figures(heap);
      const { footprint } = heap.stats();
      expect(() => cache.alloc()).toThrow("constructor failed");
      expect(figures(heap)).toBe(before);
      expect(cache.stats()).toMatchObject({ slabs: 0, inUse: 0 });
      heap.check();
      // A constructor that succeeds next time gets a whole new slab.
      failAt = -1;
      calls = 0;
      const a = cache.alloc();
      expect(calls).toBe(cache.objectsPerSlab);
      heap.check();
      cache.free(a);
      heap.shrink();
      expect(heap.stats().footprint).toBe(footprint);
      heap.check();
    });
  }

  it("restores the peak footprint a failed slab would have raised", () => {
    const heap = new Heap({ bytes: 1 << 20, pageSize: PS });
    const cache = heap.createCache("never", 2000, {
      ctor: () => {
        throw new Error("no");
      },
    });
    const { footprint, peakFootprint } = heap.stats();
    expect(() => cache.alloc()).toThrow("no");
    expect(heap.stats()).toMatchObject({ footprint, peakFootprint });
    heap.check();
  });
});
