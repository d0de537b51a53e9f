/**
 * One arena of a pool: a shared PageAllocator and Heap, the pool root (layout.ts) with the worker
 * registry, the segment's lock, and this thread's binding to its slot.
 *
 * Concurrency contract (see arena/mutex.ts for the lock itself):
 * - Under the segment lock: the buddy lists and counters, slab lists and bitmaps, large and
 *   vmalloc bookkeeping, the reserve, the allocation-owner map, slot recovery.
 * - Without it: a slot's region (its hot-page stack and array caches) is written only by the
 *   thread bound to that slot — until the slot is marked DEAD, after which only recovery (under
 *   the lock) touches it. Slot STATE changes by Atomics.compareExchange (FREE -> CLAIMING to claim,
 *   then a store of ALIVE once THREAD is written; ALIVE -> DEAD by whoever learns of the death)
 *   and Atomics.store (DEAD -> FREE by recovery).
 * - The page state map and slab bitmaps are read without the lock by the fast paths, for the
 *   caller's own blocks only; their bytes and bits are written by single stores.
 */
import { ROOT_POOL } from "../arena/layout.js";
import { type Lock, Mutex } from "../arena/mutex.js";
import { CorruptionError, InvalidArgumentError, PoolClosedError } from "../errors.js";
import { Heap } from "../object/heap.js";
import { repairSlabs } from "../object/repair.js";
import type { HotStack, PageAllocator } from "../page/buddy.js";
import * as B from "../page/buddy.js";
import { S_FREE_BASE, S_HOT, S_SINGLE, S_USED } from "../page/layout.js";
import { BlockCache } from "./block-cache.js";
import { formatSegment, type SegmentOptions } from "./format.js";
import * as P from "./layout.js";

export type { SegmentOptions } from "./format.js";

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
  /**
   * Whether the thread of a slot that holds the lock is known here to have stopped although the
   * slot is not marked dead yet (Mempool.watch: the watching thread cannot hear the exit event
   * while it waits in the lock); asked only after a wait for the lock timed out.
   */
  stopped: ((slot: number) => boolean) | null = null;

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

  /** Formats a shared arena with a heap and a pool root (format.ts). */
  static create(
    bytes: number,
    options: SegmentOptions,
    index: number,
    count: number,
    poolId: number,
  ): Segment {
    return new Segment(formatSegment(bytes, options, index, count, poolId));
  }

  static attach(buffer: SharedArrayBuffer): Segment {
    return new Segment(Heap.attach(buffer));
  }

  /** Segments of the pool, and the pool's id (layout.ts): what attach checks a handle against. */
  get count(): number {
    return this.w[this.rw + P.P_SEGMENTS];
  }

  get poolId(): number {
    return this.w[this.rw + P.P_POOL_ID];
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
        // ALIVE only once THREAD names this thread: a late reapThread of the slot's previous
        // thread must not take it for that thread's (Mempool.reapThread reads STATE first).
        if (Atomics.compareExchange(this.w, sw + P.SL_STATE, P.SLOT_FREE, P.SLOT_CLAIMING) === P.SLOT_FREE) {
          Atomics.store(this.w, sw + P.SL_THREAD, threadId);
          Atomics.store(this.w, sw + P.SL_FREE_OWNED, 0);
          Atomics.add(this.w, this.rw + P.P_ALIVE, 1);
          Atomics.store(this.w, sw + P.SL_STATE, P.SLOT_ALIVE);
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
      (s) => this.state(s) === P.SLOT_DEAD || this.stopped?.(s) === true,
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

  /**
   * Whoever recovers the slots of `threadId` (alive now) frees their pool.alloc blocks too: said in
   * the slot, since the recovery may come from any thread that takes over a lock the dead worker
   * held (Mutex onSteal), not only from the one that asked.
   */
  freeOwnedOnRecovery(threadId: number): void {
    for (let slot = 1; slot <= this.maxSlots; slot++) {
      const sw = this.slotWord(slot);
      // STATE before THREAD: a slot seen ALIVE names its own thread (claim).
      if (Atomics.load(this.w, sw + P.SL_STATE) === P.SLOT_ALIVE && this.threadOf(slot) === threadId)
        Atomics.store(this.w, sw + P.SL_FREE_OWNED, 1);
    }
  }

  /**
   * Recovers a dead slot; returns true once done. With `wait` false it gives up (false) rather
   * than wait for a live holder of the lock.
   */
  recover(slot: number, freeOwned = false, wait = true): boolean {
    if (this.state(slot) !== P.SLOT_DEAD || !this.mutex) return false;
    if (!wait) {
      if (!this.mutex.tryLock()) return false;
    } else this.mutex.lock();
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
    freeOwned ||= Atomics.load(this.w, this.slotWord(slot) + P.SL_FREE_OWNED) === 1;
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
   * charged pages never exceed the pages in use. Under the segment's lock (stats()) the buddy
   * lists hold still as well.
   *
   * `largestPages` is the longest run of consecutive free pages, free as `freePages` counts it
   * (buddy blocks, hot pages, parked blocks): pool.alloc takes a run across adjacent free buddy
   * blocks (page/runs.ts takeRun), so the largest buddy block alone under-reports what it can
   * get. It is what alloc can get when the pages cached for other workers are not in the way (a
   * thread's own hot pages and parked blocks, and every remote-free list, go back before alloc
   * gives up); the same figure for every thread.
   */
  census(): { freePages: number; largestPages: number; blocks: Int32Array; pages: Int32Array } {
    const blocks = new Int32Array(this.maxSlots + 1);
    const pages = new Int32Array(this.maxSlots + 1);
    const { state, run, pageCount } = this.pages;
    const owners = this.owners;
    let freePages = 0;
    let largestPages = 0;
    let span = 0;
    const extend = (n: number) => {
      span += n;
      if (span > largestPages) largestPages = span;
    };
    for (let p = this.pages.firstPage; p < pageCount; ) {
      const st = state[p];
      if (st >= S_FREE_BASE && st < S_USED) {
        const n = 2 ** (st - S_FREE_BASE);
        freePages += n;
        extend(n);
        p += n;
        continue;
      }
      if (st === S_HOT) {
        freePages++;
        extend(1);
      }
      if (st !== S_SINGLE && st !== S_USED) {
        if (st !== S_HOT) span = 0;
        p++;
        continue;
      }
      const n = st === S_SINGLE ? 1 : Math.max(1, run[p]);
      const o = owners[p];
      if (this.blocks.holds(o, p)) {
        freePages += n;
        extend(n);
      } else {
        span = 0;
        if (o !== 0 && o <= this.maxSlots) {
          blocks[o]++;
          pages[o] += n;
        }
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
