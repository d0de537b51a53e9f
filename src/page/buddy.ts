/**
 * The buddy page allocator.
 *
 * The usable pages of the arena are carved into blocks of 2^order pages, each starting at a page
 * index that is a multiple of its size. A block of order o has exactly one buddy, the block at
 * index ^ 2^o; two free buddies merge into one block of order o+1, and a request for order o
 * splits a larger block in halves until one half has the right size:
 *
 *     order 3  [               0..7                ]
 *     order 2  [      0..3       ][      4..7      ]      alloc order 1: split 0..7, keep 0..3,
 *     order 1  [  0..1  ][  2..3 ]                        split 0..3, keep 0..1 -> caller;
 *                  ^used   free    free (order 2)          2..3 and 4..7 go on the free lists.
 *
 * Why buddies: free() finds the block's order and its buddy in O(1) from the state map, so
 * coalescing is a handful of array reads and never scans, and the largest free block is always
 * the head of the highest non-empty list.
 *
 * Beyond the textbook buddy, requests of any size and alignment are served (Barrelfish's memory
 * service): n pages come from the smallest block of order ceil(log2 n) (or log2 of the alignment
 * if that is larger), and the unused tail goes straight back to the free lists as maximal aligned
 * blocks, so a 3-page request costs 3 pages. Requests larger than a max-order block, or aligned
 * beyond one, take a run of adjacent free blocks found by walking the blocks in address order;
 * the unused head and tail of that run go back too. An arena whose usable size is not a power of
 * two is carved into maximal aligned blocks the same way, so every page is usable.
 *
 * Hot pages (Linux's per-cpu lists): single pages freed recently sit on a stack and are handed
 * out again without touching the buddy lists, so the common alloc/free of one page costs about
 * what a plain free-page stack costs. When the stack reaches its limit, its oldest batch is
 * merged back; a larger request that fails, and every stats()/debugInfo(), drains it first, so
 * figures and large allocations always see fully coalesced blocks.
 *
 * Lazy coalescing (Linux 6.7's automatic pcp->high, in spirit the lazy buddy of Barkley and Lee):
 * the limit adapts. A stack that overflows after allocations found it empty was too small for the
 * program's bursts (the pages merged back are split off again soon after), so the limit doubles,
 * up to the stack's capacity; a stack that overflows while it still serves every allocation keeps
 * its limit and merges its oldest pages back. A larger request that has to drain the stack resets
 * the limit, since coalescing is then what the program needs. Bursts of thousands of single-page
 * frees and allocations then cost what alternating ones cost (BENCHMARKS.md, order0-burst).
 *
 * Invariants (checked by check() in page/inspect.ts):
 *   free pages on lists + hot pages + used pages + header pages = page count
 *   no two free buddies of the same order (below maxOrder) — coalescing is complete
 *   every page is covered by exactly one block, hot page or allocation
 */
import { Arena, type ArenaBuffer, type ArenaOptions } from "../arena/arena.js";
import type { Lock } from "../arena/mutex.js";
import { DoubleFreeError, InvalidAddressError, InvalidArgumentError, OutOfMemoryError } from "../errors.js";
import { ceilLog2, ctz32, floorLog2, isPowerOfTwo, log2Exact } from "../util/validate.js";
import { takeBulk } from "./bulk.js";
import { formatArena } from "./format.js";
import { fragmentationIndex, type PageStats, pageCheck, pageDebugInfo, pageStats } from "./inspect.js";
import * as L from "./layout.js";
import { badAddress, badPage, pageIsFree } from "./misuse.js";
import { repairPages } from "./repair.js";
import { resizeInPlace, takeRun } from "./runs.js";

// Re-bound locally: V8 folds a module's own constants into compiled code, not imported bindings.
const L_NEXT = L.L_NEXT;
const L_PREV = L.L_PREV;
const M_FREE_COUNT = L.M_FREE_COUNT;
const M_FREE_HEAD = L.M_FREE_HEAD;
const M_FREE_PAGES = L.M_FREE_PAGES;
const M_HOT_BATCH = L.M_HOT_BATCH;
const M_HOT_COUNT = L.M_HOT_COUNT;
const M_HOT_HIGH = L.M_HOT_HIGH;
const M_HOT_LIMIT = L.M_HOT_LIMIT;
const M_HOT_MISSES = L.M_HOT_MISSES;
const M_HOT_OFFSET = L.M_HOT_OFFSET;
const M_MAX_ORDER = L.M_MAX_ORDER;
const M_RUN_OFFSET = L.M_RUN_OFFSET;
const M_STATE_OFFSET = L.M_STATE_OFFSET;
const S_FREE_BASE = L.S_FREE_BASE;
const S_HOT = L.S_HOT;
const S_NONE = L.S_NONE;
const S_SINGLE = L.S_SINGLE;
/**
 * Order of the runs a shared allocator's hot stacks are refilled with when empty: 128 pages, whose
 * state bytes fill one pair of cache lines (layout.ts PAIR_BYTES), so no two threads' runs share
 * one (smaller for a stack of fewer slots).
 */
const HOT_RUN_ORDER = 7;
const S_USED = L.S_USED;

/** A thread's stack of hot pages: `count` entries of `pages` are in use. */
export interface HotStack {
  pages: Int32Array;
  count: number;
  countWord: number;
}

export interface PageAllocatorOptions extends ArenaOptions {
  /** Largest block order kept on the free lists. Default 10 (4 MiB blocks with 4 KiB pages). */
  maxOrder?: number;
  /**
   * Capacity of the hot single-page stack (4 bytes a page); 0 disables it. Its limit starts at
   * pages/16 (at most 1024, and at most the capacity) and adapts up to the capacity (see above).
   * Default: every page (layout.ts defaultHotCapacity).
   */
  hotPages?: number;
}

export class PageAllocator {
  readonly arena: Arena;
  readonly pageSize: number;
  /** log2(pageSize): the free fast path finds the page with integer operations, not a divide */
  private readonly pageShift: number;
  readonly maxOrder: number;
  /** @internal first usable page (after the header pages) */
  readonly firstPage: number;
  /** @internal one past the last page */
  readonly pageCount: number;
  /** @internal the whole arena as Int32 words: links live here */
  readonly w: Int32Array;
  /** @internal word index of the page-meta struct */
  readonly mb: number;
  /** @internal state map, a byte per page */
  readonly state: Uint8Array;
  /** @internal run-length map, an int32 per page */
  readonly run: Int32Array;
  /** @internal this thread's hot-page stack (a pool gives each worker its own, see bindHotStack) */
  hot: Int32Array;
  /** The stack's limit, cached from HOT_LIMIT for the fast paths (a pool's bound stack: its length). */
  private hotHigh: number;
  private hotCountWord: number;
  private hotBatch: number;
  /** Whether the limit adapts: the arena's own stack does, a pool worker's bound stack does not. */
  private hotAdapts: boolean;
  /**
   * @internal Set by a pool: the lock that guards the free lists when several threads share the
   * arena. Everything but the hot-stack fast paths runs under it.
   */
  mutex: Lock | null = null;
  /** @internal Set by a pool: the other threads' hot stacks (they count as free). */
  otherHotStacks: () => HotStack[] = () => [];
  /** words per page: a free block's links are at w[page * wpp] */
  private readonly wpp: number;

  constructor(options: PageAllocatorOptions | { arena: Arena }) {
    if (options !== null && typeof options === "object" && "arena" in options) {
      if (!(options.arena instanceof Arena))
        throw new InvalidArgumentError("arena", options.arena, "must be an Arena (Arena.attach(buffer))");
      this.arena = options.arena;
    } else {
      this.arena = PageAllocator.format(options as PageAllocatorOptions);
    }
    const arena = this.arena;
    this.pageSize = arena.pageSize;
    this.pageShift = 31 - Math.clz32(arena.pageSize);
    this.pageCount = arena.pageCount;
    this.firstPage = arena.headerPages;
    this.w = arena.words;
    this.mb = arena.metaOffset >> 2;
    this.maxOrder = this.w[this.mb + M_MAX_ORDER];
    this.wpp = this.pageSize >> 2;
    const buf = arena.buffer;
    this.state = new Uint8Array(buf, this.w[this.mb + M_STATE_OFFSET], this.pageCount);
    this.run = new Int32Array(buf, this.w[this.mb + M_RUN_OFFSET], this.pageCount);
    this.hotHigh = this.w[this.mb + M_HOT_LIMIT];
    this.hotCountWord = this.mb + M_HOT_COUNT;
    this.hotBatch = this.w[this.mb + M_HOT_BATCH];
    this.hotAdapts = true;
    this.hot = new Int32Array(buf, this.w[this.mb + M_HOT_OFFSET], this.w[this.mb + M_HOT_HIGH]);
  }

  /**
   * @internal Uses another hot stack for this thread (a pool's per-worker stack): `hot` holds the
   * pages, `countWord` is the index in the arena words of its count. Pages on the current stack
   * are merged back first.
   */
  bindHotStack(hot: Int32Array, countWord: number, batch: number): void {
    this.drainHot();
    this.hot = hot;
    this.hotHigh = hot.length;
    this.hotCountWord = countWord;
    this.hotBatch = Math.max(1, batch);
    this.hotAdapts = false;
  }

  /** @internal Pages this thread's hot stack holds before it merges its oldest back. */
  get hotLimit(): number {
    return this.hotHigh;
  }

  /** @internal This thread's hot stack, for the checker and for recovery. */
  ownHotStack(): HotStack {
    return { pages: this.hot, count: this.w[this.hotCountWord], countWord: this.hotCountWord };
  }

  /**
   * Attaches an arena created elsewhere (for example in the main thread, from a worker). Without
   * a pool there is no lock: one thread at a time may use the allocator.
   */
  static attach(buffer: ArenaBuffer): PageAllocator {
    return new PageAllocator({ arena: Arena.attach(buffer) });
  }

  /** Creates the buffer, writes the header and puts every usable page on the free lists. */
  private static format(options: PageAllocatorOptions): Arena {
    const arena = formatArena(options);
    new PageAllocator({ arena }).releaseRange(arena.headerPages, arena.pageCount - arena.headerPages);
    return arena;
  }

  /** The arena as bytes. */
  get memory(): Uint8Array {
    return this.arena.bytes;
  }

  /** Bytes that allocations can ever get (header pages excluded). */
  get capacity(): number {
    return (this.pageCount - this.firstPage) * this.pageSize;
  }

  // ---------------------------------------------------------------- allocation

  /** 2^order contiguous pages, aligned to their size. */
  allocPages(order: number): number {
    if (order === 0) {
      const page = this.popHot();
      if (page !== 0) return page * this.pageSize;
    }
    return this.allocPagesSlow(order);
  }

  private allocPagesSlow(order: number): number {
    const mx = this.mutex;
    if (mx !== null) mx.lock();
    try {
      if (!(typeof order === "number" && order >= 0 && order <= this.maxOrder && (order | 0) === order)) {
        throw new InvalidArgumentError("order", order, `must be an integer from 0 to ${this.maxOrder}`);
      }
      // A thread sharing the arena whose hot stack is empty takes a whole aligned run when it
      // can: its pages then share no cache line of the page map with other threads' pages.
      let page = order === 0 && mx !== null ? this.takeHotRun() : 0;
      const ran = page !== 0;
      if (!ran) page = this.takeBlock(order);
      if (page === 0) {
        this.drainHot();
        page = this.takeBlock(order);
        if (page === 0) throw this.outOfMemory(this.pageSize * 2 ** order);
        this.hotReset();
      }
      if (order === 0) this.hotMiss();
      // A thread sharing the arena refills its hot stack with a batch while it holds the lock
      // (Linux's rmqueue_bulk), so its next single-page allocations need no lock at all.
      if (order === 0 && mx !== null && !ran) this.refillHot();
      this.markUsed(page, 1 << order);
      return page * this.pageSize;
    } finally {
      if (mx !== null) mx.unlock();
    }
  }

  /**
   * For a thread whose hot stack is empty: a free aligned run of up to 2^HOT_RUN_ORDER pages (128:
   * one pair of cache lines of the page map; smaller if the stack is), its first page for the caller and
   * the rest on the stack; 0 if the stack is too small or no such block is free (then the free
   * lists' single pages serve, as usual).
   */
  private takeHotRun(): number {
    if (this.w[this.hotCountWord] !== 0) return 0;
    const order = Math.min(HOT_RUN_ORDER, this.maxOrder, floorLog2(this.hotHigh + 1));
    if (order < 4) return 0;
    const page = this.takeBlock(order);
    if (page === 0) return 0;
    const w = this.w;
    let count = 0;
    // Highest page first, so that the stack hands the run out in address order.
    for (let p = page + (1 << order) - 1; p > page; p--) {
      // On the stack before it is hot (see repair), as in refillHot.
      this.hot[count] = p;
      w[this.hotCountWord] = ++count;
      this.state[p] = S_HOT;
    }
    return page;
  }

  /** Moves up to a batch of single pages from the buddy lists onto this thread's hot stack. */
  private refillHot(): void {
    const w = this.w;
    let count = w[this.hotCountWord];
    const target = Math.min(this.hotHigh, count + this.hotBatch);
    while (count < target) {
      const page = this.takeBlock(0);
      if (page === 0) break;
      // On the stack before it is hot (see repair): never a hot page outside every stack.
      this.hot[count] = page;
      w[this.hotCountWord] = ++count;
      this.state[page] = S_HOT;
    }
  }

  /**
   * At least `bytes` bytes, contiguous, at an address that is a multiple of `align` (a power of
   * two; alignments up to the page size are implied). Served by the smallest suitable block; the
   * unused tail (and, for over-aligned runs, head) goes back to the free lists.
   */
  alloc(bytes: number, align = 1): number {
    if (
      typeof bytes === "number" &&
      typeof align === "number" &&
      bytes <= this.pageSize &&
      align <= this.pageSize
    ) {
      // One page, which satisfies any alignment up to the page size: the allocPages(0) path.
      if (
        this.w[this.hotCountWord] !== 0 &&
        bytes > 0 &&
        (bytes | 0) === bytes &&
        align > 0 &&
        (align | 0) === align &&
        (align & (align - 1)) === 0
      ) {
        return this.popHot() * this.pageSize;
      }
    }
    const n = this.pagesFor(bytes);
    const a = this.alignPages(align);
    const mx = this.mutex;
    if (mx !== null) mx.lock();
    try {
      if (n === 1 && a === 1) {
        let page = this.popHot();
        if (page === 0) {
          page = this.takeBlock(0);
          if (page === 0) throw this.outOfMemory(bytes);
          this.hotMiss();
        }
        this.markUsed(page, 1);
        return page * this.pageSize;
      }
      const order = Math.max(ceilLog2(n), log2Exact(a));
      let page = 0;
      if (order <= this.maxOrder) {
        page = this.takeBlock(order);
        if (page === 0) {
          this.drainHot();
          page = this.takeBlock(order);
          if (page !== 0) this.hotReset();
        }
        if (page !== 0) {
          this.markUsed(page, n);
          if (n < 1 << order) this.releaseRange(page + n, (1 << order) - n);
          return page * this.pageSize;
        }
      } else {
        this.drainHot();
      }
      page = takeRun(this, n, a);
      if (page === 0) throw this.outOfMemory(bytes);
      this.hotReset();
      return page * this.pageSize;
    } finally {
      if (mx !== null) mx.unlock();
    }
  }

  /**
   * `count` single pages that need not be contiguous. They come from the hot stack, then from the
   * smallest free blocks first, so large blocks stay whole. All or nothing.
   */
  allocBulk(count: number): number[] {
    const mx = this.mutex;
    if (mx !== null) mx.lock();
    try {
      return takeBulk(this, count);
    } finally {
      if (mx !== null) mx.unlock();
    }
  }

  /** Returns an allocation; `address` must be exactly what an alloc call returned. */
  free(address: number): void {
    // The fast path validates only what it relies on: a number whose page is a one-page
    // allocation (every other case, header and out-of-range pages included, is judged by freeSlow).
    // `>>>` truncates: an address that is not page * pageSize (a fraction, a negative number, or
    // one at or past 4 GiB) fails the comparison and takes the slow path.
    if (typeof address === "number") {
      const page = address >>> this.pageShift;
      if (page * this.pageSize === address && this.freeHot(page)) return;
    }
    this.freeSlow(address, this.pageOf(address));
  }

  private freeSlow(address: number, page: number): void {
    const mx = this.mutex;
    if (mx !== null) mx.lock();
    try {
      const state = this.state;
      const s = state[page];
      if (s === S_SINGLE) {
        this.pushHot(page);
        return;
      }
      if (s !== S_USED) throw badAddress(this, address, page);
      const n = this.run[page];
      state[page] = S_NONE;
      if ((n & (n - 1)) === 0 && (page & (n - 1)) === 0 && n <= 1 << this.maxOrder)
        this.freeBlock(page, ctz32(n));
      else this.releaseRange(page, n);
    } finally {
      if (mx !== null) mx.unlock();
    }
  }

  /** @internal Pages of the allocation that starts at `page`; 0 if none starts there. */
  allocationPages(page: number): number {
    const s = this.state[page];
    return s === S_SINGLE ? 1 : s === S_USED ? this.run[page] : 0;
  }

  /** @internal Pages of the allocation that starts at `page`, for a caller that knows it is one. */
  blockPages(page: number): number {
    return this.state[page] === S_SINGLE ? 1 : this.run[page];
  }

  /** Bytes of the allocation that starts at `address` (whole pages). */
  sizeOf(address: number): number {
    const page = this.pageOf(address);
    const s = this.state[page];
    if (s === S_SINGLE) return this.pageSize;
    if (s !== S_USED) {
      const e = badAddress(this, address, page);
      // A lookup of free memory is a bad address, not a second free.
      throw e instanceof DoubleFreeError
        ? new InvalidAddressError(address, "free memory, not an allocation")
        : e;
    }
    return this.run[page] * this.pageSize;
  }

  /**
   * Grows or shrinks the allocation at `address` in place to hold `bytes`. Shrinking always works
   * (the tail goes back to the free lists); growing works when the pages right after it are free,
   * and otherwise returns false having changed nothing (the caller moves the data, as realloc does).
   */
  resize(address: number, bytes: number): boolean {
    const mx = this.mutex;
    if (mx !== null) mx.lock();
    try {
      return resizeInPlace(this, address, bytes);
    } finally {
      if (mx !== null) mx.unlock();
    }
  }

  /** Free bytes, hot pages included. */
  get freeBytes(): number {
    return this.freePages * this.pageSize;
  }

  /** @internal */
  get freePages(): number {
    let n = this.w[this.mb + M_FREE_PAGES] + this.w[this.hotCountWord];
    for (const h of this.otherHotStacks()) n += h.count;
    return n;
  }

  /** Largest free block in bytes, from the list heads alone (O(maxOrder)). */
  get largestFree(): number {
    const heads = this.mb + M_FREE_HEAD;
    for (let o = this.maxOrder; o >= 0; o--) {
      if (this.w[heads + o] !== 0) return this.pageSize * 2 ** o;
    }
    return this.freePages > 0 ? this.pageSize : 0;
  }

  /** Figures for this allocator; hot pages are merged back first so the figures are exact. */
  stats(): PageStats {
    const mx = this.mutex;
    if (mx !== null) mx.lock();
    try {
      return pageStats(this);
    } finally {
      if (mx !== null) mx.unlock();
    }
  }

  /** A readable dump: geometry, free blocks per order and a compact map of the arena. */
  debugInfo(): string {
    const mx = this.mutex;
    if (mx !== null) mx.lock();
    try {
      return pageDebugInfo(this);
    } finally {
      if (mx !== null) mx.unlock();
    }
  }

  /** Verifies every invariant of the page layer; throws CorruptionError on the first broken one. */
  check(): void {
    const mx = this.mutex;
    if (mx !== null) mx.lock();
    try {
      pageCheck(this);
    } finally {
      if (mx !== null) mx.unlock();
    }
  }

  /** Unusable free space index at `order` (see PageStats.fragmentation). */
  fragmentation(order = this.maxOrder): number {
    if (!(typeof order === "number" && Number.isInteger(order) && order >= 0 && order <= this.maxOrder)) {
      throw new InvalidArgumentError("order", order, `must be an integer from 0 to ${this.maxOrder}`);
    }
    this.drainHot();
    return fragmentationIndex(this, order);
  }

  /**
   * @internal Rebuilds the free lists and counters from the state and run maps after a thread
   * died (page/repair.ts); the pages of `deadStacks` (the dead threads' hot stacks) become free.
   */
  repair(deadStacks: HotStack[]): void {
    repairPages(this, deadStacks);
  }

  /** Merges every page of this thread's hot stack back into the buddy lists. */
  drainHot(): void {
    const count = this.w[this.hotCountWord];
    if (count === 0) return;
    const m = this.mutex;
    if (m !== null) m.lock();
    try {
      // From the top, the count following each page (see repair).
      for (let i = count - 1; i >= 0; i--) {
        const page = this.hot[i];
        this.state[page] = S_NONE;
        this.freeBlock(page, 0);
        this.w[this.hotCountWord] = i;
      }
    } finally {
      if (m !== null) m.unlock();
    }
  }

  /**
   * After a request that had to drain the hot stack to be served: the limit goes back to where it
   * started, since the program now needs coalesced blocks more than cached pages. (Not on a failed
   * request, which must change nothing but the hot pages it merged.)
   */
  /** @internal */
  hotReset(): void {
    if (!this.hotAdapts) return;
    const base = L.hotBaseLimit(this.pageCount, this.hot.length);
    if (this.hotHigh !== base) this.setHotLimit(base);
  }

  /** @internal Notes a single-page allocation that found this thread's hot stack empty. */
  hotMiss(): void {
    if (this.hotAdapts) this.w[this.mb + M_HOT_MISSES]++;
  }

  private setHotLimit(limit: number): void {
    this.hotHigh = limit;
    this.w[this.mb + M_HOT_LIMIT] = limit;
    this.w[this.mb + M_HOT_MISSES] = 0;
  }

  // ---------------------------------------------------------------- internals

  /** @internal Validates a page count for `bytes`. */
  pagesFor(bytes: number): number {
    if (typeof bytes !== "number" || !Number.isSafeInteger(bytes) || bytes <= 0) {
      throw new InvalidArgumentError("size", bytes, "must be a positive integer number of bytes");
    }
    if (bytes > this.capacity) {
      throw new InvalidArgumentError("size", bytes, `exceeds the arena's ${this.capacity} usable bytes`);
    }
    return Math.ceil(bytes / this.pageSize);
  }

  private alignPages(align: number): number {
    if (typeof align !== "number" || !isPowerOfTwo(align)) {
      throw new InvalidArgumentError("alignment", align, "must be a positive power of two");
    }
    if (align > this.pageCount * this.pageSize) {
      throw new InvalidArgumentError("alignment", align, "exceeds the arena size");
    }
    return align <= this.pageSize ? 1 : align / this.pageSize;
  }

  /** @internal Page index of an address that could start an allocation, or InvalidAddressError. */
  pageOf(address: number): number {
    if (typeof address !== "number") return badPage(this, address);
    const exact = address / this.pageSize;
    const page = exact | 0;
    if (page !== exact || page < this.firstPage || page >= this.pageCount) return badPage(this, address);
    return page;
  }

  /** True if the page holding `address` is free (on a free list or the hot stack). */
  isFree(address: number): boolean {
    if (typeof address !== "number" || !Number.isFinite(address)) return false;
    const mx = this.mutex;
    if (mx !== null) mx.lock();
    try {
      const page = Math.floor(address / this.pageSize);
      return page >= this.firstPage && page < this.pageCount && pageIsFree(this, page);
    } finally {
      if (mx !== null) mx.unlock();
    }
  }

  /** @internal */
  outOfMemory(requested: number, detail = ""): OutOfMemoryError {
    this.drainHot();
    return new OutOfMemoryError(requested, this.largestFree, this.freeBytes, undefined, detail);
  }

  /** @internal */
  markUsed(page: number, pages: number): void {
    // The run length first: a thread killed between the two writes then leaves a state that
    // recovery (repair.ts) can trust.
    if (pages === 1) {
      this.state[page] = S_SINGLE;
    } else {
      this.run[page] = pages;
      this.state[page] = S_USED;
    }
  }

  /** Takes a block of exactly `order`, splitting a larger one; 0 if none is free. */
  private takeBlock(order: number): number {
    const w = this.w;
    const heads = this.mb + M_FREE_HEAD;
    let o = order;
    while (w[heads + o] === 0) {
      if (++o > this.maxOrder) return 0;
    }
    const page = w[heads + o];
    this.unlink(page, o);
    while (o > order) {
      o--;
      this.pushFree(page + (1 << o), o);
    }
    return page;
  }

  /** @internal Frees [page, page+n) as maximal aligned blocks, each coalescing with its buddy. */
  releaseRange(page: number, n: number): void {
    while (n > 0) {
      const o = Math.min(ctz32(page), floorLog2(n), this.maxOrder);
      this.freeBlock(page, o);
      page += 1 << o;
      n -= 1 << o;
    }
  }

  /** Puts a block on the free lists, merging it with its buddy as long as the buddy is free. */
  private freeBlock(page: number, o: number): void {
    const state = this.state;
    const max = this.maxOrder;
    const end = this.pageCount;
    while (o < max) {
      const buddy = page ^ (1 << o);
      if (buddy >= end || state[buddy] !== S_FREE_BASE + o) break;
      this.unlink(buddy, o);
      page &= ~(1 << o);
      o++;
    }
    this.pushFree(page, o);
  }

  private pushFree(page: number, o: number): void {
    const w = this.w;
    const m = this.mb;
    const next = w[m + M_FREE_HEAD + o];
    const base = page * this.wpp;
    w[base + L_NEXT] = next;
    w[base + L_PREV] = 0;
    if (next !== 0) w[next * this.wpp + L_PREV] = page;
    w[m + M_FREE_HEAD + o] = page;
    w[m + M_FREE_COUNT + o]++;
    w[m + M_FREE_PAGES] += 1 << o;
    this.state[page] = S_FREE_BASE + o;
  }

  /** @internal Takes a free block off its list. */
  unlink(page: number, o: number): void {
    const w = this.w;
    const m = this.mb;
    const base = page * this.wpp;
    const next = w[base + L_NEXT];
    const prev = w[base + L_PREV];
    if (prev !== 0) w[prev * this.wpp + L_NEXT] = next;
    else w[m + M_FREE_HEAD + o] = next;
    if (next !== 0) w[next * this.wpp + L_PREV] = prev;
    w[m + M_FREE_COUNT + o]--;
    w[m + M_FREE_PAGES] -= 1 << o;
    this.state[page] = S_NONE;
  }

  /** Merges hot slots [from, to) back into the buddy lists. */
  private releaseHot(from: number, to: number): void {
    for (let i = from; i < to; i++) {
      const page = this.hot[i];
      this.state[page] = S_NONE;
      this.freeBlock(page, 0);
    }
  }

  /**
   * @internal Pops a page off this thread's hot stack, marked S_SINGLE (a one-page allocation); 0 if
   * the stack is empty. Kept small so that it inlines into every single-page fast path.
   */
  popHot(): number {
    const i = this.hotCountWord;
    const count = this.w[i];
    if (count === 0) return 0;
    // The page's state first, then the count (see repair): a thread killed in between leaves an
    // S_SINGLE page inside its stack, which recovery frees.
    const page = this.hot[count - 1];
    this.state[page] = S_SINGLE;
    this.w[i] = count - 1;
    return page;
  }

  /**
   * @internal The fast path of free(): page `page`, if it is a one-page allocation, onto this
   * thread's hot stack when it has room; false (nothing changed) otherwise. Header and
   * out-of-range pages are never S_SINGLE, so they fall through to the caller's slow path.
   */
  freeHot(page: number): boolean {
    if (this.state[page] !== S_SINGLE) return false;
    const i = this.hotCountWord;
    const count = this.w[i];
    if (count >= this.hotHigh) return false;
    this.hot[count] = page;
    this.w[i] = count + 1;
    this.state[page] = S_HOT;
    return true;
  }

  /** Frees a single page onto the hot stack (its state is S_SINGLE on entry). */
  private pushHot(page: number): void {
    const high = this.hotHigh;
    if (high === 0) {
      this.state[page] = S_NONE;
      this.freeBlock(page, 0);
      return;
    }
    let count = this.w[this.hotCountWord];
    if (count >= high) {
      const cap = this.hot.length;
      if (this.hotAdapts && high < cap && this.w[this.mb + M_HOT_MISSES] !== 0) {
        // Allocations went to the buddy lists since the last overflow: the stack is too small
        // for this program's bursts, so it grows instead of merging pages that would be split
        // off again.
        this.setHotLimit(Math.min(cap, high * 2));
      } else {
        // Merge the oldest batch back so the stack keeps the most recently freed pages (`count`
        // is above the limit only for a thread that attached before another one lowered it).
        const drop = Math.min(count, count - high + this.hotBatch);
        this.releaseHot(0, drop);
        this.hot.copyWithin(0, drop, count);
        count -= drop;
        if (this.hotAdapts) this.w[this.mb + M_HOT_MISSES] = 0;
      }
    }
    this.hot[count] = page;
    this.w[this.hotCountWord] = count + 1;
    this.state[page] = S_HOT;
  }
}

/**
 * @internal popHot for a pool's fast path, which keeps the arrays at hand: the same writes in the
 * same order (see repair). A function of its arrays rather than a call through the allocator,
 * which costs the pool's one-page alloc/free a tenth of its time (measured); the allocator's own
 * method keeps its body, which V8 compiles tighter into the allocator's fast paths (also measured).
 */
export function popHotPage(w: Int32Array, countWord: number, hot: Int32Array, state: Uint8Array): number {
  const count = w[countWord];
  if (count === 0) return 0;
  const page = hot[count - 1];
  state[page] = S_SINGLE;
  w[countWord] = count - 1;
  return page;
}

/** @internal freeHot for a pool's fast path (see popHotPage), onto a stack holding fewer than `limit`. */
export function pushHotPage(
  w: Int32Array,
  countWord: number,
  hot: Int32Array,
  limit: number,
  state: Uint8Array,
  page: number,
): boolean {
  if (state[page] !== S_SINGLE) return false;
  const count = w[countWord];
  if (count >= limit) return false;
  hot[count] = page;
  w[countWord] = count + 1;
  state[page] = S_HOT;
  return true;
}
