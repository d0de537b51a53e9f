import { describe, expect, it } from "vitest";
import {
  CorruptionError,
  DoubleFreeError,
  Heap,
  InvalidAddressError,
  OutOfMemoryError,
} from "../../src/index.js";
import { cachedOwner, R_LARGE_COUNT, R_LARGE_PAGES, R_RUN_PAGES } from "../../src/object/layout.js";
import { repairSlabs } from "../../src/object/repair.js";
import { firstDifference, thrown } from "./helpers.js";

const PS = 4096;

/**
 * A heap whose footprint already peaked 2 MiB higher: growing to a new peak trims the cache
 * (shown below), which these tests keep out of the way.
 */
function fresh(bytes = 8 << 20): Heap {
  const heap = new Heap({ bytes, pageSize: PS });
  heap.free(heap.malloc(2 << 20));
  return heap;
}

/** What the cache holds, read without stats() (which gives the runs back first). */
function cached(heap: Heap): { count: number; pages: number } {
  return { count: heap.slabs.runs.count(), pages: heap.slabs.runs.heldPages };
}

/**
 * `fn` throws `cls` and leaves every byte of the arena (the heap's root, owner map and lists, the
 * page layer's metadata) as it was. Unlike helpers.ts expectCleanFailure it does not call stats() first,
 * which would give the cached runs back.
 */
function refusedAsIs<E extends Error>(
  heap: Heap,
  cls: abstract new (...args: never[]) => E,
  fn: () => unknown,
): E {
  const bytes = heap.memory.slice();
  const e = thrown(cls, fn);
  expect(firstDifference(heap.memory, bytes)).toBe(-1);
  heap.check();
  return e;
}

/** A large allocation of exactly `n` pages (malloc serves up to 8 KiB from slabs). */
function run(heap: Heap, n: number): number {
  return heap.alignedAlloc(PS, n * PS);
}

describe("the large-run cache", () => {
  it("hands a freed run back to the next request of the same page count, without the page layer", () => {
    const heap = fresh();
    const a = heap.malloc(3 * PS);
    const keep = heap.malloc(5 * PS - 7);
    const free = heap.pages.freePages;
    heap.free(a);
    expect(cached(heap)).toEqual({ count: 1, pages: 3 });
    expect(heap.pages.freePages).toBe(free);
    expect(heap.debugInfo()).toContain("1 cached large runs (12 KiB)");
    heap.check();
    // Another page count leaves it where it is; the same page count (any size within it) takes it.
    const other = heap.malloc(4 * PS);
    expect(cached(heap).count).toBe(1);
    const before = heap.pages.freePages;
    const again = heap.malloc(2 * PS + 1);
    expect(again).toBe(a);
    expect(cached(heap)).toEqual({ count: 0, pages: 0 });
    expect(heap.pages.freePages).toBe(before);
    expect(heap.usableSize(again)).toBe(3 * PS);
    heap.check();
    for (const x of [again, keep, other]) heap.free(x);
    heap.check();
  });

  it("stats() gives the cached runs back first: free, contiguous and the footprint read as if they went straight back", () => {
    const heap = new Heap({ bytes: 8 << 20, pageSize: PS });
    heap.free(heap.malloc(64 * PS));
    const before = heap.stats();
    const a = heap.malloc(3 * PS);
    const b = heap.malloc(11 * PS);
    heap.free(a);
    heap.free(b);
    expect(cached(heap)).toEqual({ count: 2, pages: 14 });
    const after = heap.stats();
    expect(cached(heap)).toEqual({ count: 0, pages: 0 });
    expect(after.free).toBe(before.free);
    expect(after.contiguous).toBe(before.contiguous);
    expect(after.footprint).toBe(before.footprint);
    expect(after.pageLayer).toEqual(before.pageLayer);
    expect(after.large).toEqual({ count: 0, bytes: 0 });
    heap.check();
  });

  it("keeps lists per page count, last freed first, and single pages and runs above 16 pages not at all", () => {
    const heap = fresh();
    const twos = [run(heap, 2), run(heap, 2)];
    const one = heap.alignedAlloc(PS, PS);
    const big = heap.malloc(17 * PS);
    for (const x of [...twos, one, big]) heap.free(x);
    expect(cached(heap)).toEqual({ count: 2, pages: 4 });
    expect(run(heap, 2)).toBe(twos[1]);
    expect(run(heap, 2)).toBe(twos[0]);
    heap.check();
  });

  it("holds at most max(16 pages, 1/32 of the footprint); the rest goes back to the page layer", () => {
    const heap = fresh(64 << 20);
    const runs = Array.from({ length: 200 }, () => heap.malloc(8 * PS));
    const footprint = heap.stats().footprint / PS;
    const free = heap.pages.freePages;
    for (const a of runs) heap.free(a);
    const held = cached(heap).pages;
    const budget = Math.max(16, footprint >> 5);
    expect(held).toBeLessThanOrEqual(budget);
    expect(held).toBeGreaterThan(budget - 8);
    expect(heap.pages.freePages - free).toBe(200 * 8 - held);
    heap.check();
  });

  it("a cached run's address is freed memory: double free, interior, usableSize and realloc are refused, nothing changes", () => {
    const heap = fresh();
    const a = heap.malloc(4 * PS);
    heap.free(a);
    expect(cached(heap).count).toBe(1);
    expect(refusedAsIs(heap, DoubleFreeError, () => heap.free(a)).message).toContain("keeps for reuse");
    refusedAsIs(heap, InvalidAddressError, () => heap.free(a + 8));
    expect(refusedAsIs(heap, InvalidAddressError, () => heap.free(a + 2 * PS)).message).toContain(
      "freed large run",
    );
    refusedAsIs(heap, DoubleFreeError, () => heap.usableSize(a));
    refusedAsIs(heap, DoubleFreeError, () => heap.realloc(a, 100));
    expect(cached(heap).count).toBe(1);
  });

  it("shrink() and a trim before a new peak give every cached run back", () => {
    const heap = new Heap({ bytes: 8 << 20, pageSize: PS });
    const root = heap.stats().footprint;
    heap.free(heap.malloc(64 * PS));
    heap.free(heap.malloc(3 * PS));
    heap.free(heap.malloc(9 * PS));
    expect(cached(heap).count).toBe(2);
    expect(heap.shrink()).toBeGreaterThanOrEqual(12 * PS);
    expect(cached(heap).count).toBe(0);
    expect(heap.stats().footprint).toBe(root);
    heap.check();
    // The runs cached now hold the footprint at its peak; growing past it trims them first.
    const trims = heap.stats().trims;
    heap.free(heap.malloc(3 * PS));
    expect(cached(heap).count).toBe(1);
    const live = Array.from({ length: 4 }, () => heap.malloc(64 * 1024));
    expect(cached(heap).count).toBe(0);
    expect(heap.stats().trims).toBeGreaterThan(trims);
    for (const x of live) heap.free(x);
    heap.check();
  });

  it("a request that finds the page layer short gets the cached runs through the slab-empty shrinker; { wait: false } fails cleanly", () => {
    // Filled to the top, the footprint is at its peak: nothing below trims the cache.
    const heap = new Heap({ bytes: 1 << 20, pageSize: PS });
    const runs: number[] = [];
    for (;;) {
      try {
        runs.push(heap.malloc(3 * PS, { wait: false }));
      } catch (e) {
        if (!(e instanceof OutOfMemoryError)) throw e;
        break;
      }
    }
    // Free a few: they are cached, so the page layer stays short of a 5-page block.
    for (const a of runs.slice(0, 4)) heap.free(a);
    expect(cached(heap).count).toBeGreaterThan(0);
    refusedAsIs(heap, OutOfMemoryError, () => heap.malloc(5 * PS, { wait: false }));
    expect(cached(heap).count).toBeGreaterThan(0);
    const b = heap.malloc(5 * PS);
    expect(heap.usableSize(b)).toBe(5 * PS);
    expect(cached(heap).count).toBe(0);
    heap.check();
  });

  it("a run aligned beyond the page size never comes from the cache", () => {
    const heap = fresh();
    const a = heap.malloc(4 * PS);
    heap.free(a);
    const b = heap.alignedAlloc(64 * PS, 4 * PS);
    expect(b % (64 * PS)).toBe(0);
    if (a % (64 * PS) !== 0) expect(b).not.toBe(a);
    heap.check();
  });

  it("check() finds a broken list, a wrong count and an unlisted run", () => {
    const broken = (damage: (heap: Heap, page: number) => void) => {
      const heap = fresh();
      const keep = heap.malloc(3 * PS);
      const a = heap.malloc(3 * PS);
      heap.free(a);
      heap.check();
      damage(heap, a / PS);
      thrown(CorruptionError, () => heap.check());
      expect(keep).toBeGreaterThan(0);
    };
    broken((heap, page) => {
      heap.owner[page] = cachedOwner(page);
    });
    broken((heap) => {
      heap.pages.w[heap.rw + R_RUN_PAGES]++;
    });
    broken((heap) => {
      // A live run marked as cached: on no list.
      const live = heap.malloc(7 * PS) / PS;
      heap.owner[live] = cachedOwner(0);
    });
  });

  it("repair rebuilds the lists from the owner map after a thread died in the middle of a change", () => {
    const heap = fresh();
    const a = heap.malloc(3 * PS) / PS;
    const b = heap.malloc(6 * PS) / PS;
    const gone = heap.malloc(4 * PS) / PS;
    heap.free(a * PS);
    // Killed inside put() after marking b, before linking it: the owner map says cached.
    heap.owner[b] = cachedOwner(0);
    heap.pages.w[heap.rw + R_LARGE_COUNT]--;
    heap.pages.w[heap.rw + R_LARGE_PAGES] -= 6;
    // Killed inside release() after the page layer took a run back, before its owner entry went.
    heap.owner[gone] = cachedOwner(0);
    heap.pages.free(gone * PS);
    repairSlabs(heap);
    heap.check();
    expect(cached(heap)).toEqual({ count: 2, pages: 9 });
    expect(heap.malloc(6 * PS)).toBe(b * PS);
    expect(heap.malloc(3 * PS)).toBe(a * PS);
    heap.check();
  });
});
