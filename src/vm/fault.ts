/**
 * The pager: faults, eviction, writeback and the per-page state machine behind AddressSpace.
 *
 * The fault path (the seed's "Faulting" and "Eviction", step by step):
 *
 *     acquire(key) ──> index has key? ──yes──> hit: policy.hit, take a transient ref, done
 *          │ no
 *          ├──> pending has key? ──yes──> wait for that read (or writeback), then retry:
 *          │                              concurrent faults on one page share one read
 *          │ no: a fault
 *          v
 *     mark key pending ─> obtainFrame ─> a free slot (arena page from the page layer), or
 *          │                             a victim: eviction front (hints) first, then the policy;
 *          │                             a dirty victim is written back before its frame is reused
 *          v
 *     store.readPage into the frame (plus read-ahead pages in one batch)
 *          │ ok                                   │ failure
 *          v                                      v
 *     install: index, policy.insert, ref    release the frame, reject the waiters, throw
 *                                           StoreError: nothing half-installed
 *
 * Concurrency contract. JavaScript runs one callback at a time, so every step between two awaits
 * is atomic. The invariants that make the awaits safe:
 * 1. A page is in exactly one of: absent, pending (read or writeback in flight, its promise in
 *    `pending`), resident (in `index`). Accessors of a pending page wait and retry.
 * 2. Victim choice, detaching the victim (index) and claiming its frame happen in one
 *    synchronous step; from then on the frame is BUSY and nobody else can pick it. The policy is
 *    told (evict) once the frame is free: at once for a clean victim, after its writeback for a
 *    dirty one (meanwhile the policy still holds it, and `evictable` vetoes it).
 * 3. A frame handed to a caller carries a transient ref (refs[f]) until the caller's synchronous
 *    copy is done, because resuming after an await may let other continuations run first; refs
 *    and pins both veto eviction.
 * 4. When nothing is evictable but some frame is busy or ref'd, the fault waits for the next state
 *    change (`changed()`); when nothing is evictable and nothing will change, it fails at once:
 *    OutOfMemoryError "all-pinned" (or "no-backing-store"/"quota" when only un-writable dirty
 *    pages remain). It never hangs.
 * 5. A writeback that fails puts the victim back as it was (resident, dirty, its place in the
 *    policy and on the eviction front unchanged).
 *
 * Eviction (choosing a victim, writing it back, the shrinker) is eviction.ts; keeping pages clean
 * (sync, dontneed, the flusher) is writeback.ts. Both work on the Pager's state below.
 */
import { MnemeError, type OutOfMemoryError } from "../errors.js";
import { obtainFrame, obtainNow } from "./eviction.js";
import type { FrameSource } from "./frame-source.js";
import { F_READAHEAD, FrameTable, KEY_STRIDE, RESIDENT } from "./frames.js";
import { PendingIO } from "./pending-io.js";
import type { ReplacementPolicy } from "./policies/policy.js";
import { readBatch, type Store, StoreError } from "./stores/store.js";

export { KEY_STRIDE } from "./frames.js";
export { PendingIO } from "./pending-io.js";

export interface PagerStats {
  faults: number;
  hits: number;
  sharedFaults: number;
  evictions: number;
  writebacks: number;
  readahead: number;
  readaheadHits: number;
  prefetched: number;
  dropped: number;
  storeErrors: number;
}

/** What a fault needs to know about the page beyond its key. */
export interface FaultTarget {
  store: Store;
  /** Byte offset of the page in the store. */
  offset: number;
  /**
   * The page will be overwritten completely: no need to read it. `fill` writes the new contents
   * into the frame before the page is published, so that a reader joining the fault never sees
   * the frame's previous bytes (an arena page's old contents and free-list links).
   */
  overwrite?: boolean;
  fill?: (frame: Uint8Array) => void;
  /** Further pages to read in the same I/O (read-ahead): consecutive keys after this one. */
  readahead?: number;
  /**
   * The mapping the fault is for. Read-ahead stops once it is removed: an unmap that began while
   * the fault waited for its frame knows only the pages pending then, and a read-ahead page
   * brought in afterwards would stay resident with no mapping over it.
   */
  mapping?: { readonly removed: boolean };
  /** Count as prefetch (willneed) rather than a fault. */
  prefetch?: boolean;
}

/**
 * The pager's state, shared with eviction.ts and writeback.ts: fields not marked readonly for
 * callers are written only by those modules and this class.
 */
export class Pager {
  readonly frames: FrameTable;
  readonly pageSize: number;
  readonly pages: FrameSource;
  readonly policy: ReplacementPolicy;
  /** Resident pages: key -> frame. */
  readonly index = new Map<number, number>();
  readonly pending = new Map<number, PendingIO>();
  /** Eviction front: keys hinted to go first (readOnce, drop-behind), oldest first. */
  readonly front = new Set<number>();
  readonly stats: PagerStats = {
    faults: 0,
    hits: 0,
    sharedFaults: 0,
    evictions: 0,
    writebacks: 0,
    readahead: 0,
    readaheadHits: 0,
    prefetched: 0,
    dropped: 0,
    storeErrors: 0,
  };
  dirty = 0;
  /**
   * Awaited by every fault before it takes a frame, when set and when it returns a promise (the
   * reclaim layer's direct reclaim below the `min` watermark); null keeps the fast path.
   */
  frameGate: (() => Promise<unknown> | null) | null = null;
  /** Stores by id, to write a victim back. */
  readonly storeOf: (key: number) => Store;
  private readonly waiters: (() => void)[] = [];
  /** Pages in I/O (reads and victims' writebacks). */
  busy = 0;
  /** Dirty pages whose store refused them during the current obtainFrame (eviction.ts). */
  readonly vetoed = new Set<number>();
  /**
   * Persistent stores written since their last flush, by evictions and clean() alike: a write is
   * only as durable as the next flush, so sync() flushes these, not only the stores it wrote
   * itself. Added when a write ends (one that ends after a flush began belongs to the next one).
   */
  readonly unflushed = new Set<Store>();
  /**
   * Set by kill(): the space was terminated. Faults, writebacks and cleans in flight end without
   * installing or putting back anything and fail with this error; their frames go back to the
   * page layer once their I/O is over (see `dying`).
   */
  killed: Error | null = null;
  /**
   * Frames kill() detached while a ref was held on them (a clean or a gather writing from them):
   * freed at the last unref, not at the kill, or the page layer could hand them to another space
   * while that write still reads them, and its bytes would land in this space's file.
   */
  private readonly dying = new Set<number>();
  /** clean() writes in flight, by page key (writeback.ts). */
  readonly cleaning = new Map<number, Promise<void>>();
  /** Whether resident page `key` may be evicted now (one function, made once, for the policy). */
  readonly evictable = (key: number): boolean => {
    const f = this.index.get(key);
    if (f === undefined || this.frames.pins[f] !== 0 || this.frames.refs[f] !== 0 || this.vetoed.has(key)) {
      return false;
    }
    return this.frames.dirtyEnd[f] === 0 || this.refusal(key) === undefined;
  };

  /** Why the store of dirty page `key` could not take it now (swap cap, no swap), if so. */
  refusal(key: number): OutOfMemoryError | undefined {
    const store = this.storeOf(key);
    return store.refuses?.((key % KEY_STRIDE) * this.pageSize);
  }

  constructor(
    limit: number,
    pageSize: number,
    pages: FrameSource,
    policy: ReplacementPolicy,
    storeOf: (key: number) => Store,
  ) {
    this.frames = new FrameTable(limit);
    this.pageSize = pageSize;
    this.pages = pages;
    this.policy = policy;
    this.storeOf = storeOf;
  }

  /** The bytes of frame `f` (a view of the arena). */
  view(f: number): Uint8Array {
    const a = this.frames.addr[f];
    return this.pages.view(a, this.pageSize);
  }

  /** Resolves at the next change of frame state (install, release of a ref or pin, writeback end). */
  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  notify(): void {
    if (this.waiters.length === 0) return;
    const ws = this.waiters.splice(0);
    for (const w of ws) w();
  }

  /** Drops a transient ref taken by acquire(). */
  unref(f: number): void {
    this.frames.refs[f]--;
    if (this.frames.refs[f] === 0 && this.dying.delete(f)) this.releaseFrame(f);
    if (this.waiters.length > 0 && this.frames.refs[f] === 0) this.notify();
  }

  /** Marks bytes [0, end) of frame `f` as possibly modified. */
  markDirty(f: number, end: number): void {
    const d = this.frames.dirtyEnd;
    if (d[f] === 0) {
      this.dirty++;
      this.frames.dirtiedAt[f] = this.now();
    }
    if (end > d[f]) d[f] = end;
  }

  /** Time source for dirty ages (the reclaim layer's clock when the address space has one). */
  now: () => number = Date.now;

  /**
   * The frame holding `key`, with a transient ref the caller must drop with unref() once its
   * synchronous work on the frame is done. Hits count and touch recency unless `touch` is false.
   */
  async acquire(key: number, target: FaultTarget, touch = true): Promise<number> {
    for (;;) {
      if (this.killed !== null) throw this.killed;
      const f = this.index.get(key);
      if (f !== undefined) {
        this.frames.refs[f]++;
        if (touch) this.touch(key, f);
        return f;
      }
      const p = this.pending.get(key);
      if (p !== undefined) {
        this.stats.sharedFaults++;
        await p.promise;
        continue;
      }
      return this.fault(key, target);
    }
  }

  /** A hit on a resident page. */
  touch(key: number, f: number): void {
    this.stats.hits++;
    const fl = this.frames.flags;
    if (fl[f] & F_READAHEAD) {
      fl[f] &= ~F_READAHEAD;
      this.stats.readaheadHits++;
    }
    if (this.front.size > 0) this.front.delete(key);
    this.policy.hit(key);
  }

  /** Reads `key` (and read-ahead pages) into frames and installs them; returns key's frame, ref'd. */
  private async fault(key: number, target: FaultTarget): Promise<number> {
    const keys = [key];
    const ios = [new PendingIO("read")];
    this.pending.set(key, ios[0]);
    this.busy++;
    const got: number[] = [];
    let failure: unknown;
    try {
      // Refused by the gate (free frames at the min watermark): reuse a frame, take no fresh one.
      let fresh = true;
      if (this.frameGate !== null) {
        const wait = this.frameGate();
        if (wait !== null) fresh = (await wait) !== false;
        // The gate's reclaim may have killed this very space (the OOM killer's choice).
        if (this.killed !== null) throw this.killed;
      }
      let f = obtainNow(this, key, fresh);
      if (f < 0) f = await obtainFrame(this, key, fresh);
      got.push(f);
      // Killed while a victim was written: the stores are closed (a file store would reopen).
      if (this.killed !== null) throw this.killed;
      // Read-ahead: frames for the following pages that are neither resident nor pending, but
      // only free frames or clean victims (read-ahead never waits, writes back or fails).
      const ra = target.overwrite || target.mapping?.removed ? 0 : (target.readahead ?? 0);
      for (let i = 1; i <= ra; i++) {
        const k = key + i;
        if (this.index.has(k) || this.pending.has(k)) break;
        // Under pressure (the gate asks for reclaim) read-ahead stops: it is a guess.
        if (this.frameGate !== null && this.frameGate() !== null) break;
        const g = obtainNow(this, k, fresh);
        if (g < 0) break;
        const io = new PendingIO("read");
        this.pending.set(k, io);
        this.busy++;
        keys.push(k);
        ios.push(io);
        got.push(g);
      }
      if (!target.overwrite) {
        const store = target.store;
        try {
          if (got.length === 1) await store.readPage(target.offset, this.view(got[0]));
          else
            await readBatch(
              store,
              target.offset,
              got.map((g) => this.view(g)),
            );
        } catch (e) {
          this.stats.storeErrors++;
          throw e instanceof MnemeError ? e : new StoreError(store.description, "read", target.offset, e);
        }
      } else target.fill?.(this.view(got[0]));
      if (this.killed !== null) throw this.killed;
      const fr = this.frames;
      for (let i = 0; i < got.length; i++) {
        const g = got[i];
        fr.key[g] = keys[i];
        fr.state[g] = RESIDENT;
        fr.dirtyEnd[g] = 0;
        // Only the pages counted in `readahead` below: a prefetch's own page counts in `prefetched`,
        // and flagging it made readaheadHits exceed readahead (a hit ratio above 100%).
        fr.flags[g] = i === 0 ? 0 : F_READAHEAD;
        this.index.set(keys[i], g);
        this.policy.insert(keys[i]);
      }
      // Counted once the fault succeeded: a failed call changes no figure but storeErrors.
      if (target.prefetch) this.stats.prefetched++;
      else this.stats.faults++;
      this.stats.readahead += got.length - 1;
      fr.refs[got[0]]++;
      return got[0];
    } catch (e) {
      failure = e;
      for (const g of got) this.releaseFrame(g);
      throw e;
    } finally {
      for (const k of keys) this.pending.delete(k);
      this.busy -= keys.length;
      for (const io of ios) io.finish(failure);
      this.notify();
    }
  }

  /**
   * Ends the pager (AddressSpace.terminate): every resident page is dropped without writeback, its
   * arena page freed now or, if a write from it is in flight, when that ends (`dying`); I/O in
   * flight ends with `error` (see `killed`).
   */
  kill(error: Error): void {
    this.killed = error;
    for (const [key, f] of [...this.index]) {
      if (this.frames.refs[f] === 0) {
        this.drop(key);
        continue;
      }
      this.index.delete(key);
      this.front.delete(key);
      this.policy.forget(key);
      if (this.frames.dirtyEnd[f] !== 0) this.dirty--;
      this.frames.dirtyEnd[f] = 0;
      this.dying.add(f);
    }
    this.notify();
  }

  /**
   * Removes resident page `key` from memory and returns its arena page to the page layer. The
   * caller made sure it is clean (or that its data may go) and not pinned.
   */
  drop(key: number): void {
    const f = this.index.get(key);
    if (f === undefined) return;
    this.index.delete(key);
    this.front.delete(key);
    this.policy.forget(key);
    if (this.frames.dirtyEnd[f] !== 0) this.dirty--;
    this.releaseFrame(f);
    this.stats.dropped++;
    this.notify();
  }

  /**
   * Puts slot `f` back with its arena page returned: a free slot holds none (one kept there was
   * held past close(), a leak in a page layer or pool shared with others).
   */
  releaseFrame(f: number): void {
    const fr = this.frames;
    if (fr.addr[f] !== 0) {
      this.pages.free(fr.addr[f]);
      fr.addr[f] = 0;
    }
    fr.release(f);
  }

  /** Pages resident with at least one user pin. */
  pinnedCount(): number {
    let n = 0;
    const fr = this.frames;
    for (const f of this.index.values()) if (fr.pins[f] > 0) n++;
    return n;
  }

  get inFlight(): number {
    return this.busy;
  }
}
