/**
 * One arena of a pool: a shared PageAllocator and Heap, the pool root (layout.ts) with the worker
 * registry, the segment's lock, and this thread's binding to its slot.
 *
 * Concurrency contract (see arena/mutex.ts for the lock itself):
 * - Under the segment lock: the buddy lists and counters, slab lists and bitmaps, large and
 *   vmalloc bookkeeping, the reserve, the allocation-owner map, slot recovery.
 * - Without it: a slot's region (its hot-page stack and array caches) is written only by the
 *   thread bound to that slot — until the slot is marked DEAD, after which only recovery (under
 *   the lock) touches it. Slot STATE changes by Atomics.compareExchange (FREE -> ALIVE to claim)
 *   and Atomics.store (ALIVE -> DEAD by whoever learns of the death, DEAD -> FREE by recovery).
 * - The page state map and slab bitmaps are read without the lock by the fast paths, for the
 *   caller's own blocks only; their bytes and bits are written by single stores.
 */
import { ROOT_POOL } from "../arena/layout.js";
import { type Lock, Mutex } from "../arena/mutex.js";
import { CorruptionError, InvalidArgumentError, PoolClosedError } from "../errors.js";
import { Heap, type HeapOptions } from "../object/heap.js";
import { AC_MAX_LIMIT, acSlotWords, R_MAX_CACHES } from "../object/layout.js";
import { repairSlabs } from "../object/repair.js";
import type { HotStack, PageAllocator } from "../page/buddy.js";
import * as B from "../page/buddy.js";
import { alignTo, PAIR_BYTES, S_FREE_BASE, S_HOT, S_SINGLE, S_USED } from "../page/layout.js";
import { fillBytes } from "../util/shared-bytes.js";
import { BlockCache, blockCacheWords } from "./block-cache.js";
import * as P from "./layout.js";

// Re-bound locally: V8 folds a module's own constants into compiled code, not imported bindings
// (and under a loader that turns imports into getters, a call through one costs a getter call).
const popHotPage = B.popHotPage;
const pushHotPage = B.pushHotPage;
const MAX_CACHED_PAGES = P.MAX_CACHED_PAGES;

/** The lock of a thread that detached (release): every slow path of its heap and pages refuses. */
const CLOSED: Lock = {
  lock() {
    throw new PoolClosedError("a heap or page call");
  },
  unlock() {},
};

export interface SegmentOptions extends Omit<HeapOptions, "bytes" | "shared" | "hotPages"> {
  /** Workers (the creator included) that can be attached at once. Default 16. */
  maxWorkers?: number;
  /** Capacity of each worker's hot-page stack. Default 128, at most 1/(8 x maxWorkers) of the pages. */
  workerHotPages?: number;
  /**
   * Pages of freed 2-8 page blocks each worker may keep for itself (its block cache and the
   * blocks other workers freed for it). Default: 512, and at most the worker's share of an eighth
   * of the segment among the workers attached at the moment; a number given here is a fixed budget.
   * 0 turns the block caches and remote-free lists off.
   */
  workerCachePages?: number;
  /** Objects each worker's array cache of one size class may hold. Default 64, less in small segments. */
  workerCacheObjects?: number;
}

export class Segment {
  readonly heap: Heap;
  readonly pages: PageAllocator;
  readonly index: number;
  readonly w: Int32Array;
  /** word index of the pool root */
  readonly rw: number;
  readonly owners: Uint8Array;
  /** log2 of the page size: the free fast paths find the page with integer operations */
  private readonly pageShift: number;
  /** The page size, a field of the segment's own so that the fast paths read it in one load. */
  private readonly ps: number;
  /** Bytes that pool blocks can ever get from this segment. */
  readonly capacity: number;
  /** Word index of this thread's slot record (bind). */
  mine = 0;
  /** This thread's hot stack (bind), kept here so that the one-page fast paths inline it. */
  private hot: Int32Array;
  private hotCountWord: number;
  private readonly pageState: Uint8Array;
  private readonly zeroWord: number;
  /** Parked blocks: this thread's block cache and the remote-free lists (block-cache.ts). */
  readonly blocks: BlockCache;
  slot = 0;
  mutex: Mutex | null = null;

  private constructor(heap: Heap) {
    this.heap = heap;
    this.pages = heap.pages;
    this.pageState = heap.pages.state;
    this.hot = heap.pages.hot;
    this.hotCountWord = heap.pages.ownHotStack().countWord;
    // The arena's own hot stack has no slots in a pool (create): its count stays 0.
    this.zeroWord = this.hotCountWord;
    this.w = heap.pages.w;
    const root = heap.pages.arena.root(ROOT_POOL);
    if (root === 0) throw new InvalidArgumentError("buffer", "pool", "arena holds no pool");
    this.rw = root * (heap.pages.pageSize >> 2);
    if (this.w[this.rw + P.P_MAGIC] !== P.POOL_MAGIC)
      throw new CorruptionError("pool root has a bad magic number");
    this.index = this.w[this.rw + P.P_SEGMENT];
    this.owners = new Uint8Array(heap.pages.arena.buffer, this.w[this.rw + P.P_OWNERS], heap.pages.pageCount);
    this.pageShift = 31 - Math.clz32(heap.pages.pageSize);
    this.ps = heap.pages.pageSize;
    this.capacity = heap.pages.capacity;
    this.blocks = new BlockCache(this);
    heap.registerShrinker({
      name: "pool-parked-blocks",
      priority: 0,
      count: () => {
        let n = 0;
        for (let s = 1; s <= this.maxSlots; s++) n += this.blocks.parkedPages(s);
        return n * this.ps;
      },
      scan: () => this.blocks.reclaim() * this.ps,
    });
  }

  /** Formats a shared arena with a heap and a pool root. */
  static create(bytes: number, options: SegmentOptions, index: number, count: number): Segment {
    const maxWorkers = options.maxWorkers ?? P.DEFAULT_MAX_WORKERS;
    if (!Number.isInteger(maxWorkers) || maxWorkers < 1 || maxWorkers > 250) {
      throw new InvalidArgumentError("maxWorkers", maxWorkers, "must be an integer from 1 to 250");
    }
    // By default all hot stacks together hold at most an eighth of the segment: pages cached for
    // one worker are free memory that no other worker can take.
    const pageCount = Math.floor(bytes / (options.pageSize ?? 4096));
    const hotPages =
      options.workerHotPages ??
      Math.min(P.DEFAULT_WORKER_HOT_PAGES, Math.max(1, Math.floor(pageCount / (8 * maxWorkers))));
    if (!Number.isInteger(hotPages) || hotPages < 0 || hotPages > 4096) {
      throw new InvalidArgumentError("workerHotPages", hotPages, "must be an integer from 0 to 4096");
    }
    const cachePages = options.workerCachePages ?? P.DEFAULT_WORKER_CACHE_PAGES;
    if (!Number.isInteger(cachePages) || cachePages < 0 || cachePages > 1 << 20) {
      throw new InvalidArgumentError("workerCachePages", cachePages, "must be an integer from 0 to 2^20");
    }
    const acOption = options.workerCacheObjects;
    if (
      acOption !== undefined &&
      (!Number.isInteger(acOption) || acOption < AC_MAX_LIMIT || acOption > 1024)
    ) {
      throw new InvalidArgumentError(
        "workerCacheObjects",
        acOption,
        `must be an integer from ${AC_MAX_LIMIT} to 1024`,
      );
    }
    // Every thread of a pool binds its own worker stack (workerHotPages), so the arena's own stack
    // has no slots: its count word stays 0, which release() relies on (zeroWord).
    const heap = new Heap({ ...options, hotPages: 0, bytes, shared: true });
    const pages = heap.pages;
    const maxCaches = pages.w[heap.rw + R_MAX_CACHES];
    // By default the array caches of all workers take at most 1/64 of the segment's bytes.
    const acEntries =
      acOption ??
      Math.max(
        AC_MAX_LIMIT,
        Math.min(
          P.DEFAULT_WORKER_CACHE_OBJECTS,
          Math.floor((bytes / (64 * 4 * maxCaches * maxWorkers) - 4) / 2),
        ),
      );
    const cacheEntries = cachePages >= 2 ? P.BLOCK_CACHE_ENTRIES : 0;
    // Region: hot count + 3 spare words, the hot entries, the block cache, then the array caches
    // (8-byte aligned: their entries are Float64).
    const blocksAt = P.REGION_HOT + hotPages;
    const acAt = (blocksAt + blockCacheWords(cacheEntries) + 1) & ~1;
    const parkedAt = cacheEntries === 0 ? 0 : acAt + maxCaches * acSlotWords(acEntries);
    const parkedWords = cacheEntries === 0 ? 0 : Math.ceil(pages.pageCount / 32);
    // Whole pairs of cache lines (page/layout.ts PAIR_BYTES), so that no two workers' regions share one.
    const regionWords = alignTo(acAt + maxCaches * acSlotWords(acEntries) + parkedWords, PAIR_BYTES / 4);
    const slotsWords = P.P_SLOTS + maxWorkers * P.SLOT_WORDS;
    // The owner map on a pair too: a run of 128 pages (a worker's hot-stack refill) owns one.
    const ownersAt = alignTo((slotsWords + regionWords * maxWorkers) * 4, PAIR_BYTES);
    const rootBytes = ownersAt + pages.pageCount;
    const rootAddress = pages.alloc(rootBytes);
    const root = rootAddress / pages.pageSize;
    fillBytes(pages.memory, 0, rootAddress, rootAddress + pages.sizeOf(rootAddress));
    const w = pages.w;
    const rw = rootAddress >> 2;
    w[rw + P.P_MAX_SLOTS] = maxWorkers;
    w[rw + P.P_HOT_PAGES] = hotPages;
    w[rw + P.P_REGION_WORDS] = regionWords;
    w[rw + P.P_REGIONS] = rw + slotsWords;
    w[rw + P.P_SEGMENT] = index;
    w[rw + P.P_SEGMENTS] = count;
    w[rw + P.P_OWNERS] = rootAddress + ownersAt;
    w[rw + P.P_CACHE_ENTRIES] = cacheEntries;
    w[rw + P.P_CACHE_BUDGET] = cacheEntries === 0 ? 0 : cachePages;
    w[rw + P.P_CACHE_SHARE] = options.workerCachePages === undefined ? 1 : 0;
    w[rw + P.P_BLOCKS_AT] = blocksAt;
    w[rw + P.P_AC_AT] = acAt;
    w[rw + P.P_PARKED_AT] = parkedAt;
    w[rw + P.P_AC_ENTRIES] = acEntries;
    w[rw + P.P_AC_BYTES] = P.DEFAULT_WORKER_CACHE_BYTES;
    w[rw + P.P_MAGIC] = P.POOL_MAGIC;
    pages.arena.setRoot(ROOT_POOL, root);
    return new Segment(heap);
  }

  static attach(buffer: SharedArrayBuffer): Segment {
    return new Segment(Heap.attach(buffer));
  }

  get maxSlots(): number {
    return this.w[this.rw + P.P_MAX_SLOTS];
  }

  slotWord(slot: number): number {
    return this.rw + P.P_SLOTS + (slot - 1) * P.SLOT_WORDS;
  }

  state(slot: number): number {
    return Atomics.load(this.w, this.slotWord(slot) + P.SL_STATE);
  }

  /** @internal Word index of a slot's region. */
  regionWord(slot: number): number {
    return this.w[this.rw + P.P_REGIONS] + (slot - 1) * this.w[this.rw + P.P_REGION_WORDS];
  }

  private acWord(slot: number): number {
    return this.regionWord(slot) + this.w[this.rw + P.P_AC_AT];
  }

  private hotStackOf(slot: number): HotStack {
    const r = this.regionWord(slot);
    const n = this.w[this.rw + P.P_HOT_PAGES];
    const pages = new Int32Array(this.w.buffer, (r + P.REGION_HOT) * 4, n);
    return { pages, count: this.w[r], countWord: r };
  }

  /**
   * Claims a free slot for this thread (`threadId`); 0 if none is free. Slots that still have
   * blocks charged to them (a gone worker's, see Mempool.debugInfo) are taken last, so those blocks
   * keep being listed under the worker that allocated them (their owner entries name the slot,
   * whoever holds it next).
   */
  claim(threadId: number): number {
    const charged = this.census().blocks;
    for (let pass = 0; pass < 2; pass++) {
      for (let s = 1; s <= this.maxSlots; s++) {
        const sw = this.slotWord(s);
        if (pass === 0 && charged[s] !== 0) continue;
        if (Atomics.compareExchange(this.w, sw + P.SL_STATE, P.SLOT_FREE, P.SLOT_ALIVE) === P.SLOT_FREE) {
          Atomics.store(this.w, sw + P.SL_THREAD, threadId);
          Atomics.add(this.w, this.rw + P.P_ALIVE, 1);
          return s;
        }
      }
    }
    return 0;
  }

  /** Binds this thread to `slot`: its lock identity, hot stack and array caches. */
  bind(slot: number): void {
    this.slot = slot;
    this.mine = this.slotWord(slot);
    const mutex = new Mutex(
      this.w,
      this.rw + P.P_MUTEX,
      slot,
      (s) => this.state(s) === P.SLOT_DEAD,
      (dead) => this.recoverLocked(dead, false),
    );
    this.mutex = mutex;
    this.pages.mutex = mutex;
    this.heap.slabs.mutex = mutex;
    const hot = this.hotStackOf(slot);
    this.pages.bindHotStack(hot.pages, hot.countWord, Math.max(1, hot.pages.length >> 2));
    this.hot = hot.pages;
    this.hotCountWord = hot.countWord;
    this.blocks.bind(slot);
    this.heap.slabs.bindArrayCaches(
      this.acWord(slot),
      this.w[this.rw + P.P_AC_ENTRIES],
      this.w[this.rw + P.P_AC_BYTES],
      slot,
    );
    this.pages.otherHotStacks = () => this.others().map((s) => this.hotStackOf(s));
    this.heap.slabs.otherRegions = () => this.others().map((s) => this.acWord(s));
  }

  /** Live slots other than this thread's (their caches count as free memory and may hold objects). */
  private others(): number[] {
    const out: number[] = [];
    for (let s = 1; s <= this.maxSlots; s++)
      if (s !== this.slot && this.state(s) === P.SLOT_ALIVE) out.push(s);
    return out;
  }

  /** Marks `slot` dead (its thread is gone) and wakes lock waiters so they can act on it. */
  markDead(slot: number): void {
    const sw = this.slotWord(slot) + P.SL_STATE;
    if (Atomics.compareExchange(this.w, sw, P.SLOT_ALIVE, P.SLOT_DEAD) === P.SLOT_ALIVE)
      this.mutex?.wakeAll();
  }

  /** Recovers a dead slot if its lock is free or stealable; returns true once done. */
  recover(slot: number, freeOwned = false): boolean {
    if (this.state(slot) !== P.SLOT_DEAD || !this.mutex) return false;
    this.mutex.lock();
    try {
      if (this.state(slot) === P.SLOT_DEAD) this.recoverLocked(slot, freeOwned);
      return true;
    } finally {
      this.mutex.unlock();
    }
  }

  /**
   * Under the lock: returns a dead worker's cached pages and objects, and rebuilds what it may have
   * left half changed (it may have died holding the lock, or inside a fast path). With `freeOwned`
   * (the OOM killer's kill, for workers whose blocks are their own) its pool blocks go back too.
   */
  private recoverLocked(slot: number, freeOwned: boolean): void {
    if (this.state(slot) !== P.SLOT_DEAD) return;
    this.pages.repair([this.hotStackOf(slot)]);
    this.w[this.regionWord(slot)] = 0;
    this.blocks.recover(slot);
    repairSlabs(this.heap);
    this.heap.slabs.drainRegion(this.acWord(slot), slot);
    // The worker may have died between freeing a block and clearing its owner entry (pool.free):
    // such entries, on pages that start no allocation, go. With freeOwned, so do its blocks.
    for (let p = 0; p < this.owners.length; p++) {
      if (this.owners[p] !== slot) continue;
      if (this.pages.allocationPages(p) === 0) {
        this.owners[p] = 0;
      } else if (freeOwned) {
        this.owners[p] = 0;
        this.pages.free(p * this.ps);
      }
    }
    this.w[this.rw + P.P_RECOVERIES]++;
    Atomics.sub(this.w, this.rw + P.P_ALIVE, 1);
    Atomics.store(this.w, this.slotWord(slot) + P.SL_STATE, P.SLOT_FREE);
  }

  /** Hands this thread's slot back (clean detach): its caches go back first. */
  release(): void {
    if (this.slot === 0 || !this.mutex) return;
    const slot = this.slot;
    this.mutex.lock();
    try {
      // Parked blocks and objects first: what they free goes back through this thread's hot stack.
      this.blocks.recover(slot);
      this.heap.slabs.drainAll();
      this.pages.drainHot();
      // Off the slot's region before it is free (another thread may claim it at once): empty
      // stacks on a word nobody writes, and locks that refuse, so that any later call through
      // this thread's heap or page allocator throws PoolClosedError instead of using the region.
      this.hot = new Int32Array(0);
      this.hotCountWord = this.zeroWord;
      this.pages.bindHotStack(this.hot, this.zeroWord, 1);
      this.heap.slabs.detachArrayCaches(this.zeroWord);
    } finally {
      this.mutex.unlock();
    }
    this.mutex = null;
    this.pages.mutex = CLOSED;
    this.heap.slabs.mutex = CLOSED;
    Atomics.sub(this.w, this.rw + P.P_ALIVE, 1);
    Atomics.store(this.w, this.slotWord(slot) + P.SL_STATE, P.SLOT_FREE);
    this.slot = 0;
  }

  /**
   * pool.alloc's fast path: one page off this thread's hot stack, charged to its slot, as an
   * offset; -1 when the stack is empty (the slow path refills it and drains the remote-free list).
   * Kept small so that it inlines.
   */
  allocPage(): number {
    const page = popHotPage(this.w, this.hotCountWord, this.hot, this.pageState);
    if (page === 0) return -1;
    this.owners[page] = this.slot;
    return page * this.ps;
  }

  /**
   * pool.alloc's fast path for `bytes` (an integer) of 2..8 pages: a block off this thread's block
   * cache, charged to its slot, as an offset; -1 for other sizes and when that stack is empty (the
   * slow path drains the remote-free list or takes the lock).
   */
  allocBlock(bytes: number): number {
    const n = Math.ceil(bytes / this.ps);
    if (n > MAX_CACHED_PAGES) return -1;
    const page = this.blocks.pop(n);
    if (page === 0) return -1;
    return page * this.ps;
  }

  /**
   * pool.free's fast path: this thread's own one-page block at `offset` onto its hot stack; false,
   * with nothing changed, for anything else (a larger block, another worker's, a full stack, an
   * address that is not a block). The owner entry is cleared after the push: a thread killed in
   * between leaves an entry on a free page, which recovery's recount drops (recoverLocked).
   */
  freePage(offset: number): boolean {
    // As in PageAllocator.free: an offset that is not page * pageSize fails the comparison.
    const page = offset >>> this.pageShift;
    const slot = this.slot;
    if (page * this.ps !== offset || this.owners[page] !== slot || slot === 0) return false;
    if (!pushHotPage(this.w, this.hotCountWord, this.hot, this.hot.length, this.pageState, page))
      return false;
    this.owners[page] = 0;
    return true;
  }

  /** pool.free's fast path for this thread's own 2-8 page blocks: onto its block cache (see freePage). */
  freeBlock(offset: number): boolean {
    const page = offset >>> this.pageShift;
    const slot = this.slot;
    if (page * this.ps !== offset || this.owners[page] !== slot || slot === 0) return false;
    const n = this.pages.blockPages(page);
    return n !== 1 && !this.blocks.cachedHere(page) && this.blocks.park(page, n);
  }

  /**
   * The pool blocks charged to each slot and their pages, index = slot: the blocks whose owner
   * entry names the slot, less those parked on its block cache (a remote-free list's blocks are
   * OWNER_PARKED already); and the free pages, parked blocks included. One pass over the page
   * states, O(pages), each page looked at once: a worker's fast path that allocates or frees a
   * page or parks a block meanwhile moves it from one side to the other, never onto both, so the
   * charged pages never exceed the pages in use. The largest free block (the page layer's
   * largestFree: a buddy block, else one hot page) comes from the same walk. Under the segment's
   * lock (stats()) the buddy lists hold still as well.
   */
  census(): { freePages: number; largestPages: number; blocks: Int32Array; pages: Int32Array } {
    const blocks = new Int32Array(this.maxSlots + 1);
    const pages = new Int32Array(this.maxSlots + 1);
    const { state, run, pageCount } = this.pages;
    const owners = this.owners;
    let freePages = 0;
    let largestPages = 0;
    for (let p = this.pages.firstPage; p < pageCount; ) {
      const st = state[p];
      if (st >= S_FREE_BASE && st < S_USED) {
        const n = 2 ** (st - S_FREE_BASE);
        freePages += n;
        largestPages = Math.max(largestPages, n);
        p += n;
        continue;
      }
      if (st === S_HOT) {
        freePages++;
        largestPages = Math.max(largestPages, 1);
      }
      if (st !== S_SINGLE && st !== S_USED) {
        p++;
        continue;
      }
      const n = st === S_SINGLE ? 1 : Math.max(1, run[p]);
      const o = owners[p];
      if (this.blocks.holds(o, p)) freePages += n;
      else if (o !== 0 && o <= this.maxSlots) {
        blocks[o]++;
        pages[o] += n;
      }
      p += n;
    }
    return { freePages, largestPages, blocks, pages };
  }

  /**
   * Before a pool allocation fails: the blocks parked on every worker's caches and the heap's
   * cached large runs (object/large-runs.ts) go back to the page layer, since both are idle free
   * memory that pool.alloc cannot take as it is. Returns the pages given back.
   */
  reclaimIdle(): number {
    let pages = this.blocks.reclaim();
    const m = this.mutex;
    if (m === null) return pages;
    m.lock();
    try {
      pages += this.heap.slabs.runs.release() / this.ps;
    } finally {
      m.unlock();
    }
    return pages;
  }

  /** Free pages kept for a slot: its hot stack, its block cache and its pending remote frees. */
  cachedPages(slot: number): number {
    return this.w[this.regionWord(slot)] + this.blocks.parkedPages(slot);
  }

  threadOf(slot: number): number {
    return Atomics.load(this.w, this.slotWord(slot) + P.SL_THREAD);
  }

  get recoveries(): number {
    return this.w[this.rw + P.P_RECOVERIES];
  }
}
