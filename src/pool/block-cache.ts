/**
 * Per-worker caches of small pool blocks, and the lock-free remote-free lists (mimalloc's
 * thread-delayed free, tcmalloc's per-thread caches): what lets two workers allocate and free
 * pool.alloc blocks of a few pages without taking the segment's lock, and lets a block freed by
 * another worker go back to the worker that allocated it without a lock either.
 *
 * A freed block of 2..MAX_CACHED_PAGES pages is *parked*: the buddy allocator still counts it as
 * used, and a second free is a double free. It is parked on one of two things:
 *
 * - **The block cache** of the worker that freed its own block: one LIFO stack per block size, in
 *   the worker's region, written only by that worker (plain stores, no lock), taken first by its
 *   next pool.alloc of that size. The block's owner entry keeps the worker's slot: parking and
 *   taking a block write only the worker's own region, never the owner map, whose lines hold the
 *   entries of other workers' blocks too (64 pages a line). That the block is parked is said by
 *   the stack and by its bit in the worker's parked map (one bit per page of the segment, in its
 *   region: O(1) double-free checks).
 *
 *   | word (from BLOCKS_AT) | meaning                                                          |
 *   |-----------------------|------------------------------------------------------------------|
 *   | (n - 2) * (1 + K)     | blocks of n pages parked (n = 2..MAX_CACHED_PAGES, K = CACHE_ENTRIES) |
 *   | ... + 1 .. + K        | their first pages, oldest first                                  |
 *
 * - **The remote-free list** of the worker that allocated a block another worker frees (a block of
 *   any size, single pages included): a Treiber stack, head SL_REMOTE_HEAD (page index of the
 *   newest block, 0 empty), each block's first Int32 word the page index of the next. Any worker
 *   pushes with compareExchange (lock-free; push-only stacks have no ABA problem). Its owner entry
 *   says OWNER_PARKED. The list is taken whole with one exchange, under the segment lock: by its
 *   worker when its caches run dry (the blocks go to its block cache and hot stack), by any worker
 *   about to fail for lack of memory, by recovery and by the next worker to claim the slot. While a drain walks the taken
 *   chain, SL_INFLIGHT_CUR/NEXT say where it is, so that recovery can finish a drain whose thread
 *   died (it holds the lock, so recovery runs when the lock is stolen).
 *
 * Invariant (exact while nobody allocates or frees, Mempool.check): every block on a block cache
 * has its worker's slot as owner entry and its bit set in the worker's parked map (and no other
 * bit is set there), every page whose owner entry is OWNER_PARKED starts a block on exactly one
 * remote-free list, no block is parked twice, and SL_PARKED and SL_REMOTE_PENDING count their
 * pages.
 *
 * Bounds: a worker parks at most its budget (block cache plus pending remote frees; past it, a
 * free goes straight to the buddy allocator): CACHE_BUDGET pages, and by default (CACHE_SHARE) at
 * most 1/(8 x ALIVE) of the segment's pages, so that all workers together keep about an eighth
 * (a worker that attaches shrinks the others' budgets; what they parked before stays until used).
 * A worker that stops allocating pins at most its budget.
 */
import * as P from "./layout.js";
import type { Segment } from "./segment.js";

/** Words of a slot's block cache with `entries` entries per stack (0: none). */
export function blockCacheWords(entries: number): number {
  return entries === 0 ? 0 : (P.MAX_CACHED_PAGES - 1) * (1 + entries);
}

export class BlockCache {
  private readonly s: Segment;
  private readonly w: Int32Array;
  private readonly wpp: number;
  private readonly entries: number;
  /** Most pages a slot may park (0: block caches off); see budget(). */
  private readonly cap: number;
  private readonly share: boolean;
  private readonly pageCount: number;
  /** This thread's slot word, hot-stack count word and first block-cache stack (bind). */
  private mine = 0;
  private hotCount = 0;
  private stacks = 0;
  /** Word offset of the parked map in a region, and this thread's map (bind). */
  private readonly parkedAt: number;
  private map = 0;

  constructor(segment: Segment) {
    this.s = segment;
    this.w = segment.w;
    this.wpp = segment.pages.pageSize >> 2;
    this.entries = this.w[segment.rw + P.P_CACHE_ENTRIES];
    this.cap = this.w[segment.rw + P.P_CACHE_BUDGET];
    this.share = this.w[segment.rw + P.P_CACHE_SHARE] === 1;
    this.pageCount = segment.pages.pageCount;
    this.parkedAt = this.w[segment.rw + P.P_PARKED_AT];
  }

  /**
   * Pages a slot may park now: the cap, and by default at most its share of an eighth of the
   * segment among the workers attached (one line read, rarely written).
   */
  private budget(): number {
    if (!this.share) return this.cap;
    const alive = Math.max(1, Atomics.load(this.w, this.s.rw + P.P_ALIVE));
    return Math.min(this.cap, Math.floor(this.pageCount / (8 * alive)));
  }

  /** @internal Binds this thread's slot (Segment.bind). */
  bind(slot: number): void {
    this.mine = this.s.slotWord(slot);
    this.hotCount = this.s.regionWord(slot);
    this.stacks = this.stack(slot, 2);
    this.map = this.s.regionWord(slot) + this.parkedAt;
  }

  /** Word index of the count of `slot`'s stack of n-page blocks. */
  private stack(slot: number, n: number): number {
    return this.s.regionWord(slot) + this.w[this.s.rw + P.P_BLOCKS_AT] + (n - 2) * (1 + this.entries);
  }

  /**
   * A parked block of `n` pages for this thread's pool.alloc (its page), or 0: from its block
   * cache, or, once that and its hot stack are dry, from what other workers freed for it.
   */
  take(n: number): number {
    const w = this.w;
    if (n === 1) {
      if (w[this.hotCount] === 0 && w[this.mine + P.SL_REMOTE_HEAD] !== 0) this.drain(this.s.slot);
      return 0;
    }
    if (n > P.MAX_CACHED_PAGES) return 0;
    let page = this.pop(n);
    if (page === 0 && w[this.mine + P.SL_REMOTE_HEAD] !== 0) {
      this.drain(this.s.slot);
      page = this.pop(n);
    }
    return page;
  }

  /** @internal A block of n (2..8) pages off this thread's block cache, as its page; 0 if none. */
  pop(n: number): number {
    if (this.entries === 0) return 0;
    const w = this.w;
    const st = this.stacks + (n - 2) * (1 + this.entries);
    const count = w[st];
    if (count === 0) return 0;
    const page = w[st + count];
    // The count first: a thread killed before it leaves the block parked.
    w[st] = count - 1;
    w[this.map + (page >> 5)] &= ~(1 << (page & 31));
    w[this.mine + P.SL_PARKED] -= n;
    return page;
  }

  /** Whether the block at `page` (this thread's own) is on this thread's block cache. */
  cachedHere(page: number): boolean {
    return this.entries !== 0 && (this.w[this.map + (page >> 5)] & (1 << (page & 31))) !== 0;
  }

  /** Whether the block at `page`, whose owner entry is `owner`, is parked. */
  holds(owner: number, page: number): boolean {
    if (owner === P.OWNER_PARKED) return true;
    if (owner === 0 || owner > this.s.maxSlots || this.entries === 0) return false;
    const map = this.s.regionWord(owner) + this.parkedAt;
    return (this.w[map + (page >> 5)] & (1 << (page & 31))) !== 0;
  }

  /** Parks this thread's own freed block of n pages on its block cache; false if it has no room. */
  park(page: number, n: number): boolean {
    if (n < 2 || n > P.MAX_CACHED_PAGES || this.entries === 0) return false;
    const w = this.w;
    const parked = w[this.mine + P.SL_PARKED];
    if (parked + Atomics.load(w, this.mine + P.SL_REMOTE_PENDING) + n > this.budget()) return false;
    const st = this.stacks + (n - 2) * (1 + this.entries);
    const count = w[st];
    if (count === this.entries) return false;
    // Entry, then count: one store parks it. A block from the remote-free list (drainLocked) then
    // gets this worker's slot as owner entry; a thread killed before that leaves OWNER_PARKED on a
    // cached block, which recovery (flushLocked) takes as parked too.
    w[st + count + 1] = page;
    w[st] = count + 1;
    w[this.map + (page >> 5)] |= 1 << (page & 31);
    const slot = this.s.slot;
    if (this.s.owners[page] !== slot) this.s.owners[page] = slot;
    w[this.mine + P.SL_PARKED] = parked + n;
    return true;
  }

  /**
   * Hands a block of n pages that `owner` (alive, not this thread) allocated back to it through its
   * remote-free list, without a lock; false if its budget is spent (the caller frees it itself).
   */
  pushRemote(owner: number, page: number, n: number): boolean {
    if (this.cap === 0) return false;
    const w = this.w;
    const sw = this.s.slotWord(owner);
    if (w[sw + P.SL_PARKED] + Atomics.load(w, sw + P.SL_REMOTE_PENDING) + n > this.budget()) return false;
    this.s.owners[page] = P.OWNER_PARKED;
    Atomics.add(w, sw + P.SL_REMOTE_PENDING, n);
    const link = page * this.wpp;
    let head = Atomics.load(w, sw + P.SL_REMOTE_HEAD);
    for (;;) {
      Atomics.store(w, link, head);
      const seen = Atomics.compareExchange(w, sw + P.SL_REMOTE_HEAD, head, page);
      if (seen === head) return true;
      head = seen;
    }
  }

  /**
   * Takes `slot`'s remote-free list, under the lock. Into this thread's own caches if it is this
   * thread's list, else (a dead slot's, or any slot's when memory runs out) back to the buddy lists.
   */
  drain(slot: number): void {
    const m = this.s.mutex;
    if (m === null) return;
    m.lock();
    try {
      this.drainLocked(slot, slot === this.s.slot);
    } finally {
      m.unlock();
    }
  }

  private drainLocked(slot: number, own: boolean): void {
    const w = this.w;
    const sw = this.s.slotWord(slot);
    const me = this.s.slotWord(this.s.slot);
    let page = Atomics.exchange(w, sw + P.SL_REMOTE_HEAD, 0);
    while (page !== 0) {
      const next = Atomics.load(w, page * this.wpp);
      Atomics.store(w, me + P.SL_INFLIGHT_NEXT, next);
      Atomics.store(w, me + P.SL_INFLIGHT_CUR, page);
      const n = this.s.pages.sizeOf(page * this.s.pages.pageSize) / this.s.pages.pageSize;
      Atomics.sub(w, sw + P.SL_REMOTE_PENDING, n);
      if (!own || !this.park(page, n)) this.release(page);
      page = next;
    }
    Atomics.store(w, me + P.SL_INFLIGHT_CUR, 0);
    Atomics.store(w, me + P.SL_INFLIGHT_NEXT, 0);
  }

  /** A parked block back to the page layer (single pages to this thread's hot stack). */
  private release(page: number): void {
    this.s.owners[page] = 0;
    this.s.pages.free(page * this.s.pages.pageSize);
  }

  /**
   * Gives back what is parked and reachable from this thread: its block cache and every slot's
   * remote-free list (what a worker about to fail for lack of memory does). Pages given back.
   */
  reclaim(): number {
    const m = this.s.mutex;
    if (m === null || this.cap === 0) return 0;
    const before = this.s.pages.freeBytes;
    m.lock();
    try {
      this.flushLocked(this.s.slot);
      for (let slot = 1; slot <= this.s.maxSlots; slot++) this.drainLocked(slot, false);
    } finally {
      m.unlock();
    }
    return (this.s.pages.freeBytes - before) / this.s.pages.pageSize;
  }

  /** Under the lock: `slot`'s block cache back to the page layer (its own thread's, or a dead one's). */
  private flushLocked(slot: number): void {
    if (this.entries === 0) return;
    const w = this.w;
    for (let n = 2; n <= P.MAX_CACHED_PAGES; n++) {
      const st = this.stack(slot, n);
      const count = Math.min(w[st], this.entries);
      for (let i = 1; i <= count; i++) {
        const page = w[st + i];
        const owner = this.s.owners[page];
        if (owner === slot || owner === P.OWNER_PARKED) this.release(page);
      }
      w[st] = 0;
    }
    const map = this.s.regionWord(slot) + this.parkedAt;
    w.fill(0, map, map + Math.ceil(this.pageCount / 32));
    w[this.s.slotWord(slot) + P.SL_PARKED] = 0;
  }

  /** Under the lock, for a slot whose thread is gone or leaving: everything it had parked goes back. */
  recover(slot: number): void {
    if (this.cap === 0) return;
    const w = this.w;
    const sw = this.s.slotWord(slot);
    this.flushLocked(slot);
    // A drain the thread did not finish: the block in hand if still parked, then the rest of its
    // chain (parked blocks keep their links; the drained ones are not followed).
    const cur = w[sw + P.SL_INFLIGHT_CUR];
    if (cur !== 0 && this.s.owners[cur] === P.OWNER_PARKED) this.release(cur);
    let page = w[sw + P.SL_INFLIGHT_NEXT];
    while (page !== 0 && this.s.owners[page] === P.OWNER_PARKED) {
      const next = w[page * this.wpp];
      this.release(page);
      page = next;
    }
    w[sw + P.SL_INFLIGHT_CUR] = 0;
    w[sw + P.SL_INFLIGHT_NEXT] = 0;
    this.drainLocked(slot, false);
    Atomics.store(w, sw + P.SL_REMOTE_PENDING, 0);
  }

  /** Pages parked for `slot`: its block cache and its pending remote frees. */
  parkedPages(slot: number): number {
    const sw = this.s.slotWord(slot);
    return this.w[sw + P.SL_PARKED] + Atomics.load(this.w, sw + P.SL_REMOTE_PENDING);
  }

  /**
   * Checks the invariant above (exact only while nobody allocates or frees); returns a description
   * of the first break, or "" if it holds.
   */
  verify(): string {
    const w = this.w;
    const owners = this.s.owners;
    const ps = this.s.pages.pageSize;
    const seen = new Set<number>();
    const visit = (page: number, where: string, owner: number): string => {
      if (seen.has(page)) return `block at page ${page} parked twice (${where})`;
      seen.add(page);
      if (owners[page] !== owner) return `block at page ${page} on ${where} has owner entry ${owners[page]}`;
      if (owner !== P.OWNER_PARKED && !this.holds(owner, page))
        return `block at page ${page} on ${where} is not in its parked map`;
      return "";
    };
    for (let slot = 1; slot <= this.s.maxSlots; slot++) {
      const sw = this.s.slotWord(slot);
      let pages = 0;
      if (this.entries !== 0) {
        for (let n = 2; n <= P.MAX_CACHED_PAGES; n++) {
          const st = this.stack(slot, n);
          for (let i = 1; i <= w[st]; i++) {
            const e = visit(w[st + i], `slot ${slot}'s block cache`, slot);
            if (e) return e;
            if (this.s.pages.sizeOf(w[st + i] * ps) !== n * ps)
              return `a block of the wrong size on slot ${slot}'s ${n}-page stack`;
            pages += n;
          }
        }
      }
      if (pages !== w[sw + P.SL_PARKED])
        return `slot ${slot} counts ${w[sw + P.SL_PARKED]} parked pages, its cache holds ${pages}`;
      if (this.entries !== 0) {
        const map = this.s.regionWord(slot) + this.parkedAt;
        for (let p = 0; p < this.pageCount; p++)
          if ((w[map + (p >> 5)] & (1 << (p & 31))) !== 0 && !(seen.has(p) && owners[p] === slot))
            return `page ${p} is in slot ${slot}'s parked map but not on its block cache`;
      }
      let pending = 0;
      for (let page = w[sw + P.SL_REMOTE_HEAD]; page !== 0; page = w[page * this.wpp]) {
        const e = visit(page, `slot ${slot}'s remote-free list`, P.OWNER_PARKED);
        if (e) return e;
        pending += this.s.pages.sizeOf(page * ps) / ps;
      }
      if (pending !== w[sw + P.SL_REMOTE_PENDING])
        return `slot ${slot} counts ${w[sw + P.SL_REMOTE_PENDING]} pending pages, its list holds ${pending}`;
    }
    for (let p = 0; p < owners.length; p++)
      if (owners[p] === P.OWNER_PARKED && !seen.has(p))
        return `block at page ${p} is parked but on no cache or list`;
    return "";
  }
}
