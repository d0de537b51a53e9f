/**
 * Debug mode: a use-after-free write into the last object of a slab, found when the slab comes
 * back from the empty list. The report left the slab on the partial list with no object in use
 * (check(): "partial slab ... holds 0"), where it was on the empty list before the call.
 */
import { describe, expect, it } from "vitest";
import { Heap, HeapCorruptionError } from "../../src/index.js";
import { thrown } from "./helpers.js";

describe("debug mode: a poisoned object in an empty slab", () => {
  for (const pageSize of [512, 4096, 65536]) {
    it(`is reported and the slab stays empty and whole (${pageSize}-byte pages)`, () => {
      const heap = new Heap({ bytes: 4 << 20, pageSize, debug: true });
      for (const cache of [heap.createCache("nodes", 48), null]) {
        const alloc = () => (cache ? cache.alloc() : heap.malloc(8));
        const name = cache ? "nodes" : "kmalloc-8";
        const victim = alloc();
        heap.free(victim);
        const empty = heap.stats().caches.find((c) => c.name === name)!;
        expect(empty.emptySlabs, "the freed object's slab is kept empty").toBe(1);
        // A dangling pointer writes into the freed object.
        heap.memory[victim + 3] ^= 0x5a;
        const e = thrown(HeapCorruptionError, alloc);
        expect(e).toMatchObject({ kind: "use-after-free", cache: name, address: victim, offset: 3 });
        heap.check();
        const after = heap.stats().caches.find((c) => c.name === name)!;
        expect(after).toMatchObject({ emptySlabs: 1, partialSlabs: 0, inUse: 0 });
        // The poison was repaired: the next allocation gets the object.
        expect(alloc()).toBe(victim);
        heap.free(victim);
        heap.check();
      }
    });
  }
});
