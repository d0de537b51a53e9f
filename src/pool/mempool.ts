/**
 * The shared pool for worker threads (OCaml's Netmcore_mempool): created in the main thread before
 * the workers, attached in each worker through its handle, the same addresses and the same state
 * everywhere, with no copying.
 *
 *     main thread                                  worker thread
 *     pool = Mempool.create(64 << 20)              pool = Mempool.attach(workerData.handle)
 *     new Worker(file, { workerData: { handle: pool.handle } })
 *     pool.watch(worker)                           a = pool.alloc(8192); pool.free(a)
 *
 * A pool has a fixed size and never grows; size it for the peak of what all workers hold at once,
 * plus the slack fragmentation costs (a quarter more is a sound start; stats().contiguous tells how
 * large a block can still be had). A pool larger than one SharedArrayBuffer should be (engines cap
 * single buffers, and reservations past about 1 GiB fail) spans several segments, created up
 * front: addresses stay plain numbers (segment * 2^32 + offset), so pools beyond 4 GiB work. A block
 * never spans two segments.
 *
 * Every worker gets a slot: its own hot-page stack and array caches in the pool, so two workers
 * allocating at once do not contend; the shared lists sit behind each segment's lock. A block may
 * be freed by any worker. When a worker dies (crash, worker.terminate()), the creator learns it
 * through watch(); the dead worker's cached pages and objects go back to the pool, and a lock it
 * held is taken over by the next thread that needs it, which repairs what it may have left half
 * done. Blocks the dead worker still owned stay allocated until someone frees them; debugInfo()
 * lists them under its slot.
 */
import { randomInt } from "node:crypto";
import { threadId as currentThread, type Worker } from "node:worker_threads";
import type { Mutex } from "../arena/mutex.js";
import {
  CorruptionError,
  DoubleFreeError,
  InvalidAddressError,
  InvalidArgumentError,
  OutOfMemoryError,
  OutOfPoolMemoryError,
  PoolClosedError,
} from "../errors.js";
import type { Heap } from "../object/heap.js";
import { type BlockMap, heapBlocks } from "../object/inspect.js";
import { nonNegativeInteger, positiveInteger } from "../util/validate.js";
import { SegmentTooSmallError } from "./format.js";
import * as P from "./layout.js";
import { type MempoolStats, poolDebugInfo, poolStats } from "./report.js";
import { Segment, type SegmentOptions } from "./segment.js";
import { SegmentedHeap } from "./segmented-heap.js";

export type { MempoolStats, WorkerFigures } from "./report.js";

export interface MempoolOptions extends SegmentOptions {
  /** Largest segment (one SharedArrayBuffer). Default 1 GiB. */
  segmentBytes?: number;
}

/** What travels to a worker (workerData or postMessage) to attach the same pool. */
export interface MempoolHandle {
  readonly kind: "mneme.mempool";
  readonly buffers: SharedArrayBuffer[];
}

export class Mempool {
  readonly segments: Segment[];
  /** The object layer over the same memory: malloc/free from every worker. */
  readonly heap: Heap | SegmentedHeap;
  /**
   * Where this thread's pool.alloc starts looking in a multi-segment pool: its home segment (so
   * that workers allocate apart), or, once home was full, the segment the last block came from,
   * for up to RETRY_HOME calls (layout.ts): a full home then costs one failed try per RETRY_HOME
   * calls, not one per call, and the thread goes back home once there is room again.
   */
  private cursor = 0;
  private home = 0;
  private sinceHome = 0;

  /** The only segment, for the fast paths; null with several segments and once closed. */
  private one: Segment | null;
  private closed = false;
  private readonly ps: number;
  /** Threads whose blocks go back when they are reaped (freeOwnedWhenReaped). */
  private readonly freeOwnedOnReap = new Set<number>();
  /** A closed handle's own attachment while watch()'s recoveries are under way (reapPass). */
  private reaper: Mempool | null = null;
  /** The workers watch() watches, by thread id, until their exit event. */
  private readonly watched = new Map<number, Worker>();

  private constructor(segments: Segment[]) {
    this.segments = segments;
    this.one = segments.length === 1 ? segments[0] : null;
    this.ps = segments[0].pages.pageSize;
    this.heap = segments.length === 1 ? segments[0].heap : new SegmentedHeap(segments);
  }

  /** Creates a pool of `bytes` (rounded up to whole pages) in this thread; it claims the first slot. */
  static create(bytes: number, options: MempoolOptions = {}): Mempool {
    positiveInteger("bytes", bytes);
    if (options === null || typeof options !== "object")
      throw new InvalidArgumentError("options", options, "must be an object");
    const segmentBytes = options.segmentBytes ?? P.DEFAULT_SEGMENT_BYTES;
    positiveInteger("segmentBytes", segmentBytes);
    if (segmentBytes > 2 ** 31)
      throw new InvalidArgumentError("segmentBytes", segmentBytes, "must be at most 2 GiB");
    const count = Math.ceil(bytes / segmentBytes);
    if (count > 2 ** 20) throw new InvalidArgumentError("bytes", bytes, "needs too many segments");
    const segments: Segment[] = [];
    const id = randomInt(2 ** 31);
    for (let i = 0; i < count; i++) {
      const size = i === count - 1 ? bytes - segmentBytes * (count - 1) : segmentBytes;
      segments.push(Mempool.segment(Math.max(size, 64 * 1024), options, i, count, segmentBytes, bytes, id));
    }
    const pool = new Mempool(segments);
    pool.join();
    return pool;
  }

  /**
   * Segment `index` of `size` bytes. A last segment of a few pages (a pool just past a multiple
   * of segmentBytes) grows until it holds its own structures, up to segmentBytes; a size the caller
   * chose too small (the pool's bytes, or segmentBytes) is an InvalidArgumentError naming it.
   */
  private static segment(
    size: number,
    options: SegmentOptions,
    index: number,
    count: number,
    cap: number,
    total: number,
    id: number,
  ): Segment {
    for (let bytes = size; ; bytes = Math.min(cap, bytes * 2)) {
      try {
        return Segment.create(bytes, options, index, count, id);
      } catch (e) {
        if (!(e instanceof SegmentTooSmallError)) throw e;
        if (count > 1 && bytes < cap && index === count - 1) continue;
        const [name, value] = count > 1 ? ["segmentBytes", cap] : ["bytes", total];
        throw new InvalidArgumentError(name, value, e.why);
      }
    }
  }

  /** Attaches, in a worker, the pool whose handle was passed to it. */
  static attach(handle: MempoolHandle): Mempool {
    return Mempool.open(handle);
  }

  /** attach(), with `prepare` run on each segment before this thread takes a slot and its locks. */
  private static open(handle: MempoolHandle, prepare?: (s: Segment) => void): Mempool {
    if (handle?.kind !== "mneme.mempool" || !Array.isArray(handle.buffers) || handle.buffers.length === 0) {
      throw new InvalidArgumentError("handle", handle, "not a Mempool handle (pass pool.handle)");
    }
    const segments = handle.buffers.map((b) => Segment.attach(b));
    // Segment i's addresses go to the i-th buffer: a handle put together from buffers in another
    // order, from part of them or from two pools would free and allocate in the wrong arena.
    const id = segments[0].poolId;
    if (segments.some((s, i) => s.index !== i || s.count !== segments.length || s.poolId !== id))
      throw new InvalidArgumentError(
        "handle",
        handle,
        "its buffers are not one pool's segments in order (pass pool.handle)",
      );
    if (prepare) for (const s of segments) prepare(s);
    const pool = new Mempool(segments);
    pool.join();
    return pool;
  }

  private join(): void {
    for (const s of this.segments) {
      const slot = s.claim(currentThread);
      if (slot === 0) {
        // The slots already claimed in earlier segments go back: a failed attach holds nothing.
        this.close();
        throw new OutOfPoolMemoryError(
          0,
          0,
          0,
          "quota",
          `all ${s.maxSlots} worker slots are taken (option maxWorkers)`,
        );
      }
      s.bind(slot);
    }
    this.home = (this.segments[0].slot - 1) % this.segments.length;
    this.cursor = this.home;
  }

  get handle(): MempoolHandle {
    return {
      kind: "mneme.mempool",
      buffers: this.segments.map((s) => s.pages.arena.buffer as SharedArrayBuffer),
    };
  }

  get pageSize(): number {
    return this.segments[0].pages.pageSize;
  }

  /** The pool's memory, for a single-segment pool (addresses are offsets into it). */
  get memory(): Uint8Array {
    if (this.segments.length !== 1) {
      throw new InvalidArgumentError(
        "memory",
        this.segments.length,
        "a multi-segment pool has no single buffer; use view()",
      );
    }
    return this.segments[0].pages.memory;
  }

  /** `bytes` rounded up to whole pages, contiguous; OutOfPoolMemoryError when no segment has room. */
  alloc(bytes: number): number {
    const one = this.one;
    if (one !== null && typeof bytes === "number" && bytes > 0 && (bytes | 0) === bytes) {
      // A single segment, the common case: one page off this thread's hot stack, 2-8 pages off
      // its block cache, no lock.
      const offset = bytes <= this.ps ? one.allocPage() : one.allocBlock(bytes);
      if (offset >= 0) return offset;
    }
    return this.allocSlow(bytes);
  }

  private allocSlow(bytes: number): number {
    if (this.closed) throw new PoolClosedError("alloc");
    const ps = this.ps;
    positiveInteger("size", bytes);
    const rounded = Math.ceil(bytes / ps) * ps;
    if (this.segments.length === 1) {
      const s = this.segments[0];
      let offset = this.allocIn(s, rounded);
      // Before failing, what is kept idle (block caches, remote-free lists, cached large runs).
      if (offset < 0 && s.reclaimIdle() > 0) offset = this.allocIn(s, rounded);
      if (offset >= 0) return offset;
    } else {
      const address = this.allocAnywhere(rounded);
      if (address >= 0) return address;
      let reclaimed = 0;
      for (const s of this.segments) reclaimed += s.reclaimIdle();
      if (reclaimed > 0) {
        const again = this.allocAnywhere(rounded);
        if (again >= 0) return again;
      }
    }
    const st = this.stats();
    throw new OutOfPoolMemoryError(
      bytes,
      st.contiguous,
      st.free,
      undefined,
      "no contiguous space left in the pool",
    );
  }

  /** A block from the segments of a multi-segment pool, starting at the cursor; -1 if none has room. */
  private allocAnywhere(rounded: number): number {
    const n = this.segments.length;
    let start = this.cursor;
    if (start !== this.home && ++this.sinceHome >= P.RETRY_HOME) {
      start = this.home;
      this.sinceHome = 0;
    }
    for (let k = 0; k < n; k++) {
      const s = this.segments[(start + k) % n];
      const offset = this.allocIn(s, rounded);
      if (offset < 0) continue;
      this.cursor = s.index;
      return s.index * P.SEGMENT_SPAN + offset;
    }
    return -1;
  }

  /** `rounded` bytes from segment `s`, charged to this thread's slot; -1 if it has no room. */
  private allocIn(s: Segment, rounded: number): number {
    if (rounded > s.capacity) return -1;
    const ps = this.ps;
    const n = rounded / ps;
    const parked = s.blocks.take(n);
    let offset: number;
    if (parked !== 0) {
      offset = parked * ps;
    } else {
      try {
        // One page: allocPages(0), whose slow path refills this thread's hot stack with a batch
        // under one lock hold, so the next single pages need no lock.
        offset = n === 1 ? s.pages.allocPages(0) : s.pages.alloc(rounded);
      } catch (e) {
        if (e instanceof OutOfMemoryError) return -1;
        throw e;
      }
      s.owners[offset / ps] = s.slot;
    }
    return offset;
  }

  /** A block of `bytes` as a Uint8Array on the shared buffer. */
  allocView(bytes: number): Uint8Array {
    const a = this.alloc(bytes);
    return this.view(a, bytes);
  }

  /** `length` bytes at `address` as a Uint8Array on the shared buffer (no copy). */
  view(address: number, length: number): Uint8Array {
    if (this.closed) throw new PoolClosedError("view");
    const { seg, offset } = this.locate(address);
    if (!Number.isSafeInteger(length) || length < 0 || offset + length > seg.pages.memory.length) {
      throw new InvalidArgumentError("length", length, "outside the segment");
    }
    return new Uint8Array(seg.pages.arena.buffer, offset, length);
  }

  /**
   * Frees a block from alloc/allocView (an address or the view itself), from any worker. A block of
   * a few pages stays parked for the worker that allocated it: on its block cache if it frees it
   * itself, on its remote-free list if another worker does (block-cache.ts).
   */
  free(block: number | Uint8Array): void {
    const one = this.one;
    // This thread's own block of up to 8 pages in a single-segment pool, the common case: no lock.
    if (one !== null && typeof block === "number" && (one.freePage(block) || one.freeBlock(block))) return;
    this.freeSlow(block);
  }

  private freeSlow(block: number | Uint8Array): void {
    if (this.closed) throw new PoolClosedError("free");
    const one = this.one;
    const seg = one !== null && typeof block === "number" && block >= 0 ? one : this.segmentOf(block);
    const offset = typeof block === "number" ? block - seg.index * P.SEGMENT_SPAN : block.byteOffset;
    const page = offset / this.ps;
    const owner = (page | 0) === page && page < seg.owners.length ? seg.owners[page] : 0;
    if (owner === 0 || owner === P.OWNER_PARKED) {
      if (offset >= seg.pages.memory.length) this.locate(this.addressOf(block));
      if (owner === P.OWNER_PARKED || ((page | 0) === page && seg.pages.isFree(offset)))
        throw new DoubleFreeError(this.addressOf(block), "already free");
      throw new InvalidAddressError(this.addressOf(block), "not a block from pool.alloc");
    }
    const pages = seg.pages.blockPages(page);
    if (seg.blocks.holds(owner, page)) throw new DoubleFreeError(this.addressOf(block), "already free");
    if (owner === seg.slot) {
      if (pages === 1 || !seg.blocks.park(page, pages)) this.release(seg, offset, owner);
    } else {
      // Another worker's block, which a third may be freeing at this very moment (a double free
      // racing itself): the owner entry is claimed with one compareExchange, so only one of them
      // goes on to park or release it. The other sees the entry changed.
      if (Atomics.compareExchange(seg.owners, page, owner, P.OWNER_PARKED) !== owner)
        throw new DoubleFreeError(this.addressOf(block), "already free");
      if (seg.state(owner) !== P.SLOT_ALIVE || !seg.blocks.pushRemote(owner, page, pages))
        this.release(seg, offset, owner);
    }
  }

  /** A block back to the page layer, its owner entry cleared first (once freed, another worker may get it). */
  private release(seg: Segment, offset: number, owner: number): void {
    const page = offset / seg.pages.pageSize;
    seg.owners[page] = 0;
    try {
      seg.pages.free(offset);
    } catch (e) {
      seg.owners[page] = owner;
      throw e;
    }
  }

  /** Bytes of a block from alloc/allocView (whole pages). */
  size(block: number | Uint8Array): number {
    if (this.closed) throw new PoolClosedError("size");
    const { seg, offset } = this.blockOf(block);
    const page = offset / this.pageSize;
    const owner = Number.isInteger(page) ? seg.owners[page] : 0;
    if (owner === 0 || seg.blocks.holds(owner, page)) {
      throw new InvalidAddressError(this.addressOf(block), "not a block from pool.alloc");
    }
    return seg.pages.sizeOf(offset);
  }

  /** total, free and contiguous bytes, the segments, and what each worker holds (report.ts). */
  stats(): MempoolStats {
    return poolStats(this.segments);
  }

  /**
   * Every segment's blocks in address order (object/inspect.ts heapBlocks), for pictures of the
   * pool; segment i's addresses start at i * 2^32. Reads only.
   */
  blockMap(): BlockMap[] {
    return this.segments.map((s) => heapBlocks(s.heap));
  }

  /** Who allocated what: every pool.alloc block, by worker, with its size; then the heap. */
  debugInfo(): string {
    return poolDebugInfo(this.segments, this.heap);
  }

  /**
   * Verifies every segment's page and object layers (CorruptionError on a broken invariant). It
   * holds each segment's lock, but the per-worker fast paths run without it: the result is exact
   * only while no other worker is allocating or freeing.
   */
  check(): void {
    for (const s of this.segments) {
      s.heap.check();
      const broken = s.blocks.verify();
      if (broken) throw new CorruptionError(`pool segment ${s.index}: ${broken}`);
    }
  }

  /**
   * Watches a worker (in the thread that created it): when it exits, for whatever reason, its
   * slots are recovered and its cached memory returns to the pool, also once this handle is
   * closed (the recovery then attaches for the time it takes).
   */
  watch(worker: Worker): void {
    if (typeof worker?.threadId !== "number" || typeof worker.once !== "function")
      throw new InvalidArgumentError("worker", worker, "not a Worker (node:worker_threads)");
    const id = worker.threadId;
    this.watched.set(id, worker);
    for (const s of this.segments) s.stopped ??= (slot) => this.hasStopped(s, slot);
    // hasStopped's probe needs the loop's start, which Node reads only while the thread runs: now
    // if the worker is up already, else once it is.
    worker.performance?.eventLoopUtilization();
    worker.once("online", () => worker.performance?.eventLoopUtilization());
    worker.once("exit", () => {
      this.watched.delete(id);
      this.reapWatched(id, this.freeOwnedOnReap.delete(id));
    });
  }

  /**
   * Whether the watched worker of `slot` (in `s`) has stopped, its exit event not yet handled: then
   * the slot is marked dead, so that a lock it held is taken over. This thread waits in the lock
   * without running its event loop, so the exit event cannot tell it (terminate() not awaited,
   * then a pool call: it waited for good). The Worker's event-loop figures say it synchronously:
   * Node answers an idle time of -1 once the thread has left JavaScript for good.
   */
  private hasStopped(s: Segment, slot: number): boolean {
    const w = this.watched.get(s.threadOf(slot));
    if (w === undefined || w.performance?.eventLoopUtilization().idle !== -1) return false;
    s.markDead(slot);
    return s.state(slot) === P.SLOT_DEAD;
  }

  /**
   * watch()'s recovery, which must not wait for a segment lock: the lock may be held by another
   * worker terminated at the same time, whose death this thread learns only from its own exit
   * event, which cannot arrive while this thread sleeps in the lock (a deadlock, seen when several
   * busy workers were terminated at once). So every slot of the thread is marked dead first, then
   * recovered where the lock can be had now, and the rest is retried from the event loop.
   */
  private reapWatched(threadId: number, freeOwned: boolean): void {
    if (this.reapPass(threadId, freeOwned))
      setTimeout(() => this.reapWatched(threadId, freeOwned), 10).unref();
  }

  /** One pass of reapWatched; true if a slot is left to recover. */
  private reapPass(threadId: number, freeOwned: boolean): boolean {
    if (this.closed) {
      // No slot to lock with: a handle of its own while recoveries are under way (none free: the
      // next pass tries again). Closing it takes the locks, and this thread must not wait for one
      // (above): it is closed once a pass has nothing left and its locks can be had at once.
      if (this.reaper === null) {
        // Attaching takes each lock once: not while a live thread holds one (the next pass tries
        // again); one a stopped worker holds is taken over (hasStopped, set before the locks).
        for (const s of this.segments) {
          const holder = Atomics.load(s.w, s.rw + P.P_MUTEX);
          if (holder !== 0 && s.state(holder) !== P.SLOT_DEAD && !this.hasStopped(s, holder)) return true;
        }
        try {
          this.reaper = Mempool.open(this.handle, (s) => {
            s.stopped = (slot) => this.hasStopped(s, slot);
          });
        } catch (e) {
          if (e instanceof OutOfPoolMemoryError) return true;
          throw e;
        }
      }
      const reaper = this.reaper;
      if (reaper.reapPass(threadId, freeOwned)) return true;
      const taken: Mutex[] = [];
      for (const s of reaper.segments) {
        if (s.mutex === null || !s.mutex.tryLock()) break;
        taken.push(s.mutex);
      }
      for (const m of taken) m.unlock();
      if (taken.length < reaper.segments.length) return true;
      reaper.close();
      this.reaper = null;
      return false;
    }
    let pending = false;
    for (const s of this.segments) {
      for (let slot = 1; slot <= s.maxSlots; slot++) {
        // STATE before THREAD, as in reapThread.
        const state = s.state(slot);
        if (slot === s.slot || (state !== P.SLOT_ALIVE && state !== P.SLOT_DEAD)) continue;
        if (s.threadOf(slot) !== threadId) continue;
        if (state === P.SLOT_ALIVE) s.markDead(slot);
        if (s.state(slot) === P.SLOT_DEAD && !s.recover(slot, freeOwned, false)) pending = true;
      }
    }
    return pending;
  }

  /**
   * Whoever reaps `threadId` (watch() on its exit, or reapThread) frees its pool.alloc blocks as
   * well: asked before terminating a worker whose blocks nobody else uses (the OOM killer's kill,
   * reclaim/pool-consumer.ts). Without it, watch() heard the exit first and reaped without them.
   */
  freeOwnedWhenReaped(threadId: number): void {
    nonNegativeInteger("threadId", threadId);
    this.freeOwnedOnReap.add(threadId);
    // In its slots as well: a thread that takes over a lock the worker dies holding recovers it
    // first, before any reap.
    for (const s of this.segments) s.freeOwnedOnRecovery(threadId);
  }

  /**
   * Recovers the slots of a thread known to be gone (what watch() does on exit). With `freeOwned`
   * its pool.alloc blocks are freed as well: only for a worker whose blocks nobody else uses (the
   * OOM killer's kill of a worker, reclaim/pool-consumer.ts). On a closed handle it attaches for
   * the time of the call (OutOfPoolMemoryError, nothing changed, when no slot is free).
   */
  reapThread(threadId: number, freeOwned = false): number {
    nonNegativeInteger("threadId", threadId);
    if (this.closed) {
      // Recovery needs a slot to take the locks with: a handle of its own for the call.
      const own = Mempool.attach(this.handle);
      try {
        return own.reapThread(threadId, this.freeOwnedOnReap.delete(threadId) || freeOwned);
      } finally {
        own.close();
      }
    }
    const marked = this.freeOwnedOnReap.delete(threadId);
    freeOwned ||= marked;
    let n = 0;
    for (const s of this.segments) {
      for (let slot = 1; slot <= s.maxSlots; slot++) {
        // STATE before THREAD: a slot seen ALIVE names its own thread (Segment.claim).
        if (slot === s.slot || s.state(slot) !== P.SLOT_ALIVE || s.threadOf(slot) !== threadId) continue;
        s.markDead(slot);
        if (s.recover(slot, freeOwned)) n++;
      }
    }
    return n;
  }

  /** Detaches this thread: its cached pages and objects go back, its slots are freed. */
  close(): void {
    // The fast paths go through `one`: without it every call reaches a slow path, which refuses.
    this.one = null;
    this.closed = true;
    for (const s of this.segments) s.release();
  }

  private locate(address: number): { seg: Segment; offset: number } {
    if (typeof address !== "number" || !Number.isSafeInteger(address) || address < 0) {
      throw new InvalidAddressError(address, "not a pool address");
    }
    const index = Math.floor(address / P.SEGMENT_SPAN);
    const seg = this.segments[index];
    const offset = address - index * P.SEGMENT_SPAN;
    if (!seg || offset >= seg.pages.memory.length) throw new InvalidAddressError(address, "outside the pool");
    return { seg, offset };
  }

  /** The segment of an address or a view (typed errors for anything else). */
  private segmentOf(block: number | Uint8Array): Segment {
    if (typeof block === "number") {
      if (this.segments.length === 1 && block >= 0 && block < this.segments[0].pages.memory.length) {
        return this.segments[0];
      }
      return this.locate(block).seg;
    }
    return this.blockOf(block).seg;
  }

  private blockOf(block: number | Uint8Array): { seg: Segment; offset: number } {
    if (block instanceof Uint8Array) {
      const seg = this.segments.find((s) => s.pages.arena.buffer === block.buffer);
      if (!seg) throw new InvalidAddressError(block.byteOffset, "a view of another buffer");
      return { seg, offset: block.byteOffset };
    }
    return this.locate(block);
  }

  private addressOf(block: number | Uint8Array): number {
    if (typeof block === "number") return block;
    const { seg, offset } = this.blockOf(block);
    return seg.index * P.SEGMENT_SPAN + offset;
  }
}
