/**
 * The large-run cache: freed large allocations of 2 to RUN_CACHE_PAGES pages stay with the heap,
 * one LIFO list per page count, and the next large request of the same page count takes one back
 * without the page layer (single pages have the page layer's hot stack). Linux's per-cpu page lists keep blocks up to PAGE_ALLOC_COSTLY_ORDER
 * for the same reason, as jemalloc and mimalloc keep freed large extents: a large free handed to
 * the buddy allocator splits into aligned blocks that coalesce with their buddies, and the next
 * large request splits a block again, often one from memory nobody touched for long. On the
 * object benchmark's mixed sizes (a quarter of the requests are 3 to 16 pages) that churn was a
 * third of the replay's time (BENCHMARKS.md, object layer, session 8).
 *
 * Layout: the lists are linked through the owner map (layout.ts cachedOwner: a cached run's first
 * page holds the next run's first page, encoded below every other owner value), their heads are
 * the root's RUN_HEAD[n] words, and RUN_PAGES counts the pages on them. Invariants, kept here and
 * verified by inspect.ts: every page whose owner entry is a cachedOwner value is on exactly one
 * list, the list of its page-layer allocation's length; RUN_PAGES is the sum of those lengths;
 * cached runs are part of the heap's footprint (the heap holds them) but not of its large
 * allocations (LARGE_COUNT, LARGE_PAGES).
 *
 * Cached runs are idle memory, as empty slabs are, and go back the same ways: a trim before a new
 * high-water mark, shrink(), and the heap's "slab-empty" shrinker, which a request that finds the
 * page layer short runs first. Heap.stats() gives them back before it counts, as the page layer's
 * stats() merges its hot pages, so that free, contiguous and the footprint read as if freed runs
 * had gone straight back. A `{ wait: false }` request, which asks no shrinker and changes
 * nothing when it fails, does not get them, nor does vmalloc (neither gets empty slabs either).
 *
 * Callers hold the heap's lock (Slabs.withLock), as for every other large-allocation change.
 */
import type { PageAllocator } from "../page/buddy.js";
import * as L from "./layout.js";

/**
 * The cache holds at most max(RUN_CACHE_MIN_PAGES, footprint / 2^RUN_CACHE_SHIFT) pages: 1/32 of
 * what the heap holds, so that idle runs cost a bounded share of its footprint. A trim before a
 * new high-water mark and every shrink return them all (Slabs.trim, Heap.shrink).
 */
const RUN_CACHE_SHIFT = 5;
const RUN_CACHE_MIN_PAGES = 16;
/** Page indices the owner-map encoding can carry (cachedOwner must stay an int32). */
const MAX_CACHED_PAGE = 2 ** 31 + L.OWNER_CACHED_END;

export class LargeRunCache {
  private readonly pages: PageAllocator;
  private readonly w: Int32Array;
  private readonly rw: number;
  private readonly owner: Int32Array;
  /** Pages given back to the page layer are accounted through this (Slabs.account). */
  private readonly account: (pages: number) => void;

  constructor(pages: PageAllocator, rootWord: number, owner: Int32Array, account: (pages: number) => void) {
    this.pages = pages;
    this.w = pages.w;
    this.rw = rootWord;
    this.owner = owner;
    this.account = account;
  }

  /** Pages the cache holds. */
  get heldPages(): number {
    return this.w[this.rw + L.R_RUN_PAGES];
  }

  /** Runs the cache holds. */
  count(): number {
    const w = this.w;
    let runs = 0;
    for (let n = 2; n <= L.RUN_CACHE_PAGES; n++) {
      for (let p = w[this.rw + L.R_RUN_HEAD + n]; p !== 0; p = L.cachedNext(this.owner[p])) runs++;
    }
    return runs;
  }

  /** The first page of a cached run of exactly `n` pages, taken off its list; 0 if none. */
  take(n: number): number {
    if (n > L.RUN_CACHE_PAGES) return 0;
    const w = this.w;
    const head = this.rw + L.R_RUN_HEAD + n;
    const page = w[head];
    if (page === 0) return 0;
    w[head] = L.cachedNext(this.owner[page]);
    w[this.rw + L.R_RUN_PAGES] -= n;
    return page;
  }

  /**
   * Keeps the large run of `n` pages at `page` (its owner entry is the caller's to overwrite)
   * if it is small enough and the budget has room; false leaves everything unchanged.
   */
  put(page: number, n: number): boolean {
    const w = this.w;
    const r = this.rw;
    const held = w[r + L.R_RUN_PAGES] + n;
    if (n < 2 || n > L.RUN_CACHE_PAGES || page > MAX_CACHED_PAGE) return false;
    if (held > Math.max(RUN_CACHE_MIN_PAGES, w[r + L.R_FOOTPRINT] >> RUN_CACHE_SHIFT)) return false;
    const head = r + L.R_RUN_HEAD + n;
    this.owner[page] = L.cachedOwner(w[head]);
    w[head] = page;
    w[r + L.R_RUN_PAGES] = held;
    return true;
  }

  /** Gives every cached run back to the page layer; returns the bytes freed. */
  release(): number {
    const w = this.w;
    const r = this.rw;
    const ps = this.pages.pageSize;
    let freed = 0;
    for (let n = 2; n <= L.RUN_CACHE_PAGES; n++) {
      let page = w[r + L.R_RUN_HEAD + n];
      while (page !== 0) {
        const next = L.cachedNext(this.owner[page]);
        // In this order, a thread killed anywhere leaves what rebuild() repairs: an owner entry
        // whose run is still allocated goes back on its list, one whose run is free is dropped.
        w[r + L.R_RUN_HEAD + n] = next;
        w[r + L.R_RUN_PAGES] -= n;
        this.pages.free(page * ps);
        this.owner[page] = 0;
        this.account(-n);
        freed += n * ps;
        page = next;
      }
    }
    return freed;
  }

  /**
   * Rebuilds the lists and RUN_PAGES from the owner map (repair.ts, after a thread died while
   * changing them); an entry whose run the page layer no longer has is dropped. Returns the pages
   * the cache holds.
   */
  rebuild(): number {
    const w = this.w;
    const r = this.rw;
    for (let n = 0; n <= L.RUN_CACHE_PAGES; n++) w[r + L.R_RUN_HEAD + n] = 0;
    let held = 0;
    const owner = this.owner;
    for (let p = 1; p < owner.length; p++) {
      if (owner[p] > L.OWNER_CACHED_END) continue;
      const n = this.pages.allocationPages(p);
      if (n < 2 || n > L.RUN_CACHE_PAGES) {
        owner[p] = 0;
        continue;
      }
      owner[p] = L.cachedOwner(w[r + L.R_RUN_HEAD + n]);
      w[r + L.R_RUN_HEAD + n] = p;
      held += n;
    }
    w[r + L.R_RUN_PAGES] = held;
    return held;
  }
}
