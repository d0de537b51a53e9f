/**
 * SlabCache.stats() in a pool. Regression (fixed): it walked the slabs without the heap's lock,
 * while other workers created and released slabs; a page released and reused between the walk's
 * read of its owner entry and of its slab header threw CorruptionError ('slab 1584 names cache
 * 1296, which does not exist', about once in 80,000 calls under two churning workers) and the
 * figures could mix states. It now takes the lock, as Heap.stats() does.
 */
import { describe, expect, it } from "vitest";
import { type Heap, Mempool } from "../../src/index.js";
import { whileWorkersChurn } from "../pool/helpers.js";

describe("SlabCache.stats() in a pool", () => {
  it("reads the slabs holding the heap's lock", () => {
    const pool = Mempool.create(4 << 20, { maxWorkers: 2 });
    const heap = pool.heap as Heap;
    const cache = heap.createCache("mine", 100);
    const objects = Array.from({ length: 50 }, () => cache.alloc());
    const mutex = heap.slabs.mutex;
    expect(mutex).not.toBeNull();
    // The census starts by loading the caches other threads created: see who holds the lock then.
    const holders: number[] = [];
    const load = heap.slabs.load.bind(heap.slabs);
    heap.slabs.load = () => {
      holders.push((mutex as unknown as { owner(): number }).owner());
      load();
    };
    const s = cache.stats();
    heap.slabs.load = load;
    expect(s.inUse).toBe(50);
    expect(holders.length).toBeGreaterThan(0);
    expect(holders.every((h) => h !== 0)).toBe(true);
    for (const a of objects) cache.free(a);
    pool.check();
  });

  it("gives whole figures while two workers churn the same heap", async () => {
    const pool = Mempool.create(8 << 20, { maxWorkers: 4 });
    const heap = pool.heap as Heap;
    const cache = heap.createCache("mine", 100);
    const mine = Array.from({ length: 500 }, () => cache.alloc());
    await whileWorkersChurn(pool, () => {
      for (let round = 0; round < 20_000; round++) {
        const s = cache.stats();
        expect(s.inUse).toBe(500);
        expect(s.partialSlabs + s.fullSlabs + s.emptySlabs).toBe(s.slabs);
      }
    });
    for (const a of mine) cache.free(a);
    pool.check();
  }, 120_000);
});
