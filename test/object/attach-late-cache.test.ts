/**
 * Two Heap objects on one arena taking turns (Heap.attach, as a worker would): a cache created
 * through one after the other attached is unknown to the other's per-cache constants until it
 * loads them. Walking every cache (shrink, the heap's shrinker) must load them first.
 */
import { describe, expect, it } from "vitest";
import { Heap } from "../../src/index.js";

describe("a cache created after another Heap object attached", () => {
  it("is shrunk and counted correctly through that other object", () => {
    // Regression (fixed): shrink() walked every cache of the arena with constants loaded for the
    // caches it knew, so a newer cache's array cache was read at word 0 (the arena's magic
    // number): DoubleFreeError 'invalid address 6.36e-312' out of shrink(), or worse.
    const heap = new Heap({ bytes: 1 << 20, shared: true });
    const other = Heap.attach(heap.memory.buffer as SharedArrayBuffer);
    const counter = Heap.attach(heap.memory.buffer as SharedArrayBuffer);
    const cache = heap.createCache("late", 64);
    const objects = Array.from({ length: 3 * cache.objectsPerSlab }, () => cache.alloc());
    // Freed objects sit on the cache's array cache, pinning their slabs.
    for (const a of objects.slice(0, 10)) cache.free(a);
    other.shrink();
    other.check();
    expect(cache.stats()).toMatchObject({ inUse: 3 * cache.objectsPerSlab - 10, cached: 0 });
    for (const a of objects.slice(10)) cache.free(a);
    // What the heap's shrinker could free, its array cache included, reads the same through both.
    expect(counter.shrinkers.count()).toBe(heap.shrinkers.count());
    other.shrink();
    expect(cache.stats().slabs).toBe(0);
    heap.check();
  });
});
