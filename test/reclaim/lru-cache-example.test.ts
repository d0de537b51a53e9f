import { describe, expect, it } from "vitest";
import { shrinkableCache } from "../../examples/lru-cache/shrinkable-cache.js";
import { Heap, OutOfMemoryError } from "../../src/index.js";

describe("examples/lru-cache: a user cache as a shrinker", () => {
  it("gives memory back so that a large allocation succeeds, oldest entries first", () => {
    const heap = new Heap({ bytes: 4 * 1024 * 1024 });
    const c = shrinkableCache(heap as never, 100_000);
    for (let i = 0; i < 1800; i++) c.put(`k${i}`, new Uint8Array(2048).fill(i & 0xff));
    const before = c.cache.size;
    expect(() => heap.malloc(1024 * 1024, { wait: false })).toThrow(OutOfMemoryError);
    const big = heap.malloc(1024 * 1024);
    expect(big).toBeGreaterThan(0);
    expect(c.cache.size).toBeLessThan(before);
    expect(c.get("k0")).toBeUndefined();
    expect(c.get(`k${1799}`)?.[0]).toBe(1799 & 0xff);
    heap.check();
    c.close();
  });

  it("get() gives back the bytes put, no more: not the block's usable size with what it held before", () => {
    const heap = new Heap({ bytes: 1 << 20 });
    const c = shrinkableCache(heap as never, 100);
    // A freed block of the same size class, full of other data, is the one the value gets.
    const old = heap.malloc(8);
    heap.memory.fill(0xee, old, old + 8);
    heap.free(old);
    c.put("a", new Uint8Array([1, 2, 3]));
    expect(c.get("a")).toEqual(new Uint8Array([1, 2, 3]));
    c.put("a", new Uint8Array(100).fill(7));
    expect(c.get("a")).toEqual(new Uint8Array(100).fill(7));
    c.close();
    heap.check();
  });
});
