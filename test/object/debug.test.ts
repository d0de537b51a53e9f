/**
 * Debug mode (SLUB debug): red zones after every object report overflows on free, poisoned freed
 * objects report use-after-free writes on the alloc that reuses them; each report names the
 * cache and the address. Off by default, where the same writes go unnoticed.
 */
import { describe, expect, it } from "vitest";
import { CorruptionError, Heap, HeapCorruptionError, MnemeError } from "../../src/index.js";
import { expectCleanFailure, slot, thrown } from "./helpers.js";

const PS = 4096;

describe("debug mode", () => {
  it("is off by default and on with { debug: true }", () => {
    expect(new Heap({ bytes: 1 << 20 }).debug).toBe(false);
    expect(new Heap({ bytes: 1 << 20, debug: true }).debug).toBe(true);
    // The error is part of the public hierarchy: a CorruptionError, hence a MnemeError.
    const e = new HeapCorruptionError("overflow", "c", 4096, 8);
    expect(e).toBeInstanceOf(CorruptionError);
    expect(e).toBeInstanceOf(MnemeError);
  });

  it("reports one byte written past a kmalloc object on its free, with the cache and the address", () => {
    const heap = new Heap({ bytes: 1 << 20, pageSize: PS, debug: true });
    const a = heap.malloc(100);
    const usable = heap.usableSize(a);
    expect(usable).toBe(slot(100));
    const name = `kmalloc-${slot(100)}`;
    // Every byte the caller owns may be written without complaint...
    heap.memory.fill(0x11, a, a + usable);
    const b = heap.malloc(100);
    heap.memory.fill(0x22, b, b + usable);
    heap.free(b);
    // ...but not one more.
    heap.memory[a + usable] ^= 0xff;
    const e = expectCleanFailure(heap, HeapCorruptionError, () => heap.free(a));
    expect(e.kind).toBe("overflow");
    expect(e.cache).toBe(name);
    expect(e.address).toBe(a);
    expect(e.message).toContain(name);
    expect(e.message).toContain(String(a));
    // The object is still allocated: the failed free changed nothing.
    expect(heap.usableSize(a)).toBe(usable);
  });

  it("reports an overflow of a named cache's object by the cache's name", () => {
    const heap = new Heap({ bytes: 1 << 20, pageSize: PS, debug: true });
    const cache = heap.createCache("sessions", 117);
    const objects = [cache.alloc(), cache.alloc(), cache.alloc()];
    const victim = objects[1];
    heap.memory[victim + 117] = 0;
    const e = expectCleanFailure(heap, HeapCorruptionError, () => cache.free(victim));
    expect(e).toMatchObject({ kind: "overflow", cache: "sessions", address: victim });
    // Through heap.free as well.
    expect(thrown(HeapCorruptionError, () => heap.free(victim)).cache).toBe("sessions");
    // Its neighbours are fine.
    cache.free(objects[0]);
    cache.free(objects[2]);
    heap.check();
  });

  it("reports a write to a freed object on the next alloc that would reuse it", () => {
    const heap = new Heap({ bytes: 1 << 20, pageSize: PS, debug: true });
    const cache = heap.createCache("nodes", 48);
    const objects = Array.from({ length: 5 }, () => cache.alloc());
    const victim = objects[0];
    cache.free(victim);
    // A dangling pointer writes into the freed object.
    heap.memory[victim + 13] = 0x42;
    const e = thrown(HeapCorruptionError, () => cache.alloc());
    expect(e.kind).toBe("use-after-free");
    expect(e.cache).toBe("nodes");
    expect(e.address).toBe(victim);
    expect(e.offset).toBe(13);
    heap.check();
    // The report did not hand the object out; the heap stays usable afterwards.
    expect(cache.stats().inUse).toBe(4);
    const next = cache.alloc();
    expect(cache.stats().inUse).toBe(5);
    cache.free(next);
    heap.check();
  });

  it("reports a use-after-free write in a kmalloc class by the class's name", () => {
    const heap = new Heap({ bytes: 1 << 20, pageSize: PS, debug: true });
    const keep = heap.malloc(64);
    const victim = heap.malloc(64);
    heap.free(victim);
    heap.memory[victim] = 0;
    const e = thrown(HeapCorruptionError, () => heap.malloc(64));
    expect(e).toMatchObject({ kind: "use-after-free", cache: "kmalloc-64", address: victim });
    heap.free(keep);
    heap.check();
  });

  it("reports an overflow on a realloc that moves the object, leaving the heap as it was", () => {
    // Regression (fixed): realloc took the new block, copied, then free() of the old one threw the
    // report: the failed call left the new block allocated (objects and footprint up by one).
    const heap = new Heap({ bytes: 1 << 20, pageSize: PS, debug: true });
    const cache = heap.createCache("moving", 48);
    const a = heap.malloc(100);
    const b = cache.alloc();
    heap.memory[a + heap.usableSize(a)] ^= 0xff;
    heap.memory[b + 48] ^= 0xff;
    for (const [victim, name] of [
      [a, `kmalloc-${slot(100)}`],
      [b, "moving"],
    ] as const) {
      for (const size of [1000, 20_000]) {
        const e = expectCleanFailure(heap, HeapCorruptionError, () => heap.realloc(victim, size));
        expect(e).toMatchObject({ kind: "overflow", cache: name, address: victim });
      }
    }
  });

  it("lets calloc, realloc and large allocations work as usual", () => {
    const heap = new Heap({ bytes: 1 << 20, pageSize: PS, debug: true });
    const a = heap.calloc(10, 10);
    expect(heap.memory.subarray(a, a + 100).every((b) => b === 0)).toBe(true);
    heap.memory.fill(7, a, a + 100);
    const b = heap.realloc(a, 300);
    expect(heap.memory.subarray(b, b + 100).every((x) => x === 7)).toBe(true);
    const big = heap.malloc(5 * PS);
    heap.free(b);
    heap.free(big);
    heap.check();
  });

  it("off by default: the same overflow and use-after-free writes go unnoticed (but for a free object's tag)", () => {
    const heap = new Heap({ bytes: 1 << 20, pageSize: PS });
    const cache = heap.createCache("nodes", 48);
    const objects = Array.from({ length: 5 }, () => cache.alloc());
    // One byte past objects[1] is the first byte of a neighbour or padding: no red zone to notice.
    heap.memory[objects[1] + 48] ^= 0xff;
    cache.free(objects[1]);
    const victim = objects[0];
    cache.free(victim);
    heap.memory[victim + 13] = 0x42;
    const again = [cache.alloc(), cache.alloc()];
    expect(again).toContain(victim);
    heap.check();
    const k = heap.malloc(100);
    // The byte past it is the first byte of a free neighbour: its free tag, which free() trusts
    // to tell live objects from free ones. check() reports it; nothing else does.
    heap.memory[k + heap.usableSize(k)] ^= 0xff;
    expect(() => heap.check()).toThrow(/lost its free tag/);
    heap.memory[k + heap.usableSize(k)] ^= 0xff;
    heap.free(k);
    heap.memory[k + 5] = 1;
    heap.free(heap.malloc(100));
    heap.check();
  });
});
