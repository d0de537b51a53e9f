/**
 * Debug mode's left red zone: a write just before an object is reported as that object's
 * underflow, on its free (or the realloc that would free it), with the cache and the address.
 *
 * Regression (fixed): objects had a red zone after them only. Bytes written before an object
 * landed in its neighbour's zone, so the neighbour's free was blamed ("overflow" of the wrong
 * object), or nothing was reported at all when the neighbour was free; before a slab's first
 * object they landed in the slab header's bitmap, which the free then trusted.
 */
import { describe, expect, it } from "vitest";
import { Heap, HeapCorruptionError } from "../../src/index.js";
import { expectCleanFailure, slot } from "./helpers.js";

const PS = 4096;

describe("debug mode: underflows", () => {
  it("blames the object written before, not its neighbour", () => {
    const heap = new Heap({ bytes: 1 << 20, pageSize: PS, debug: true });
    const before = heap.malloc(100);
    const victim = heap.malloc(100);
    heap.memory[victim - 1] ^= 0xff;
    const e = expectCleanFailure(heap, HeapCorruptionError, () => heap.free(victim));
    expect(e).toMatchObject({
      kind: "underflow",
      cache: `kmalloc-${slot(100)}`,
      address: victim,
      offset: -1,
    });
    expect(e.message).toContain(String(victim));
    // The neighbour wrote nothing of its own and frees cleanly.
    heap.free(before);
    heap.check();
  });

  it("reports an underflow whose neighbour is free", () => {
    const heap = new Heap({ bytes: 1 << 20, pageSize: PS, debug: true });
    const cache = heap.createCache("nodes", 48);
    const [first, victim] = [cache.alloc(), cache.alloc()];
    cache.free(first);
    heap.memory.fill(0, victim - 4, victim);
    const e = expectCleanFailure(heap, HeapCorruptionError, () => cache.free(victim));
    expect(e).toMatchObject({ kind: "underflow", cache: "nodes", address: victim, offset: -1 });
  });

  it("keeps the slab header out of reach of a slab's first object", () => {
    const heap = new Heap({ bytes: 1 << 20, pageSize: PS, debug: true });
    const cache = heap.createCache("sessions", 117);
    const first = cache.alloc();
    // The first object of its slab: the header and its bitmap are the bytes before it.
    expect(first % cache.slabBytes).toBeLessThan(cache.stride);
    heap.memory.fill(0xff, first - 8, first);
    heap.check();
    const e = expectCleanFailure(heap, HeapCorruptionError, () => cache.free(first));
    expect(e).toMatchObject({ kind: "underflow", cache: "sessions", address: first, offset: -1 });
  });

  it("reports an underflow on a realloc that would move the object, before taking a new block", () => {
    const heap = new Heap({ bytes: 1 << 20, pageSize: PS, debug: true });
    const a = heap.malloc(100);
    heap.memory[a - 3] = 0;
    for (const size of [1000, 20_000]) {
      const e = expectCleanFailure(heap, HeapCorruptionError, () => heap.realloc(a, size));
      expect(e).toMatchObject({ kind: "underflow", address: a, offset: -3 });
    }
  });

  it("keeps every object aligned and every byte up to usableSize the caller's", () => {
    const heap = new Heap({ bytes: 4 << 20, pageSize: PS, debug: true });
    const live: number[] = [];
    for (const [align, size] of [
      [8, 100],
      [64, 64],
      [256, 200],
      [2048, 2048],
      [16, 5000],
    ]) {
      for (let i = 0; i < 5; i++) {
        const a = heap.alignedAlloc(align, size);
        expect(a % align).toBe(0);
        heap.memory.fill(0x5a, a, a + heap.usableSize(a));
        live.push(a);
      }
    }
    const cache = heap.createCache("aligned", 40, { align: 128 });
    for (let i = 0; i < 40; i++) {
      const a = cache.alloc();
      expect(a % 128).toBe(0);
      heap.memory.fill(0x5a, a, a + 40);
      live.push(a);
    }
    heap.check();
    for (const a of live) heap.free(a);
    heap.check();
  });
});
