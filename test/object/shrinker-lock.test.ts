/**
 * The heap's own shrinker in a pool. Regression (fixed): its count() and scan() (and the settle
 * step after user shrinkers) walked the empty slabs and gave the cached large runs back without
 * the heap's lock. Run from a Reclaimer over heap.shrinkers or from heap.reclaim() in a pool
 * thread, they changed the large-run cache's lists while other workers took and put runs under
 * the lock. They now take the lock (a recursive one: allocations that reclaim hold it already).
 */
import { describe, expect, it } from "vitest";
import { type Heap, Mempool } from "../../src/index.js";
import { whileWorkersChurn } from "../pool/helpers.js";

describe("the heap's shrinker in a pool", () => {
  it("counts and scans holding the heap's lock", () => {
    const pool = Mempool.create(4 << 20, { maxWorkers: 2 });
    const heap = pool.heap as Heap;
    const mutex = heap.slabs.mutex as unknown as { owner(): number };
    // A freed 3-page block stays in the large-run cache: the scan gives it back.
    heap.free(heap.malloc(3 * heap.pages.pageSize));
    const holders: number[] = [];
    const runs = heap.slabs.runs;
    const release = runs.release.bind(runs);
    runs.release = () => {
      holders.push(mutex.owner());
      return release();
    };
    const load = heap.slabs.load.bind(heap.slabs);
    heap.slabs.load = () => {
      holders.push(mutex.owner());
      load();
    };
    try {
      expect(heap.shrinkers.count()).toBeGreaterThan(0);
      expect(heap.reclaim(1)).toBe(true);
    } finally {
      runs.release = release;
      heap.slabs.load = load;
    }
    expect(holders.length).toBeGreaterThanOrEqual(2);
    expect(holders.every((h) => h !== 0)).toBe(true);
    pool.check();
  });

  it("leaves a sound heap when reclaim runs beside workers that churn it", async () => {
    const pool = Mempool.create(8 << 20, { maxWorkers: 4 });
    const heap = pool.heap as Heap;
    await whileWorkersChurn(pool, () => {
      for (let round = 0; round < 20_000; round++) {
        heap.shrinkers.count();
        heap.reclaim(1 << 20);
      }
    });
    pool.check();
  }, 120_000);
});
