/**
 * AddressSpace: self-paging virtual memory over backing stores, in the spirit of GNU Hurd's
 * libhurd-mm. A program maps regions of a virtual address space to stores and reads and writes
 * more data than fits in its frames; the pager (fault.ts) pages data in on faults and evicts
 * under a replacement policy (policies/).
 *
 *     space.map({ length, store })  ──> v            mappings.ts: B+ tree by start address
 *     await space.read(v + i, n)                      per page: hit, or fault -> store -> frame
 *          │                                                   (evicting, writing back first)
 *          v
 *     frames (arena pages from a PageAllocator, at most `frames`)  <──  policy picks victims
 *
 * Every public call validates all of its arguments before it changes anything and throws (or,
 * for async calls, rejects with) a typed error: InvalidArgumentError for a bad argument,
 * InvalidAddressError for an address outside every mapping (code EFAULT), a write to a read-only
 * mapping (EACCES) or pinned pages in the way (EBUSY), OutOfMemoryError when no frame can be
 * had, StoreError when a store fails. Calls that do I/O are async (DESIGN.md principle 3); map,
 * stats, debugInfo and check are synchronous.
 *
 * Tunables:
 *
 * | option            | default       | unit   | meaning                                         |
 * |-------------------|---------------|--------|-------------------------------------------------|
 * | frames            | (required)    | frames | most pages resident at once, 1 .. 2^24; in the   |
 * |                   |               |        | space's own page layer frames x pageSize < 4 GiB |
 * | pageSize          | 4096          | bytes  | power of two, 512 .. 65536 (the pages' if given) |
 * | policy            | DEFAULT_POLICY| name   | a registered policy (policyNames()) or instance  |
 * | pages             | a new one     | -      | the PageAllocator frames come from               |
 * | pool              | none          | -      | or a Mempool: frames are pool blocks (not both)  |
 * | readahead.initial | 4             | pages  | first read-ahead window                          |
 * | readahead.max     | 32 or initial | pages  | largest window; at most frames / 4               |
 *
 * The class holds the space's options and lifecycle; each operation lives in a file of its own,
 * working on the shared SpaceState (space-state.ts):
 *
 * | file          | operations                                                             |
 * |---------------|------------------------------------------------------------------------|
 * | map-unmap.ts  | map, unmap (store ids: store-ids.ts)                                   |
 * | access.ts     | read, write, peek (the hit and fault paths, read-ahead)                |
 * | pin.ts        | pin and release                                                        |
 * | advise.ts     | advise: kept hints, willneed, dontneed                                 |
 * | sync.ts       | sync                                                                   |
 * | container.ts  | copy, gather, scatter                                                  |
 * | inspect.ts    | stats, debugInfo, check                                                |
 * | fault.ts      | the pager: faults, with eviction.ts and writeback.ts                   |
 */
import { InvalidAddressError, InvalidArgumentError } from "../errors.js";
import { PageAllocator } from "../page/buddy.js";
import { Mempool } from "../pool/mempool.js";
import { isPowerOfTwo } from "../util/validate.js";
import { peekRange, readRange, writeRange } from "./access.js";
import { adviseRange } from "./advise.js";
import { copy, type FileHandleLike, gather, scatter } from "./container.js";
import { cleanCount, shrinkClean } from "./eviction.js";
import { Pager } from "./fault.js";
import { type FrameSource, pageSource, poolSource } from "./frame-source.js";
import { KEY_STRIDE } from "./frames.js";
import type { Hint } from "./hints.js";
import { spaceCheck, type VmStats, vmDebugInfo, vmStats } from "./inspect.js";
import { disownStores, type MapOptions, mapRegion, unmapRegion } from "./map-unmap.js";
import { MappingTree } from "./mappings.js";
import { type PinnedRange, pinRange } from "./pin.js";
import { DEFAULT_POLICY } from "./policies/index.js";
import { createPolicy, type ReplacementPolicy } from "./policies/policy.js";
import { SpaceState } from "./space-state.js";
import type { Store } from "./stores/store.js";
import { syncRange } from "./sync.js";
import { writebackOldest } from "./writeback.js";

export type { VmStats } from "./inspect.js";
export type { MapOptions } from "./map-unmap.js";
export type { PinnedRange } from "./pin.js";

export interface AddressSpaceOptions {
  frames: number;
  pageSize?: number;
  policy?: string | ReplacementPolicy;
  pages?: PageAllocator;
  /** Take frames from a shared pool instead (each frame a pool.alloc block of this thread). */
  pool?: Mempool;
  readahead?: { initial?: number; max?: number };
  /** Time source for dirty ages, in ms (the reclaim layer injects its clock). Default Date.now. */
  now?: () => number;
}

const MAX_FRAMES = 2 ** 24;

/**
 * Policy instances given to a space: each tracks the page keys of one space, and two spaces' keys
 * are the same numbers (store ids start at 1 in each), so a shared instance would name one
 * space's pages as the other's victims.
 */
const policiesInUse = new WeakSet<ReplacementPolicy>();

/** The methods of a ReplacementPolicy (policies/policy.ts), all used by the pager and stats(). */
const POLICY_METHODS = ["has", "hit", "insert", "victim", "evict", "forget", "stats", "check"] as const;

/** A number of pages for the reclaim calls: a non-negative integer, or Infinity for all. */
function checkCount(argument: string, value: unknown): void {
  if (
    typeof value !== "number" ||
    !(Number.isInteger(value) || value === Number.POSITIVE_INFINITY) ||
    value < 0
  ) {
    throw new InvalidArgumentError(argument, value, "must be a non-negative integer (or Infinity)");
  }
}

export class AddressSpace {
  readonly pageSize: number;
  readonly frameLimit: number;
  /** The page layer frames come from; null when they come from a pool. */
  readonly pages: PageAllocator | null;
  readonly pool: Mempool | null;
  readonly policy: ReplacementPolicy;
  private readonly s: SpaceState;
  private readonly pager: Pager;
  private readonly closeHooks: Array<() => void> = [];
  private closing: Promise<void> | null = null;

  constructor(options: AddressSpaceOptions) {
    if (options === null || typeof options !== "object") {
      throw new InvalidArgumentError("options", options, "must be an object with frames");
    }
    const frames = options.frames;
    if (!Number.isSafeInteger(frames) || frames < 1 || frames > MAX_FRAMES) {
      throw new InvalidArgumentError("frames", frames, `must be an integer from 1 to ${MAX_FRAMES}`);
    }
    const given = options.pages;
    if (given !== undefined && !(given instanceof PageAllocator)) {
      throw new InvalidArgumentError("pages", given, "must be a PageAllocator");
    }
    const pool = options.pool;
    if (pool !== undefined && !(pool instanceof Mempool)) {
      throw new InvalidArgumentError("pool", pool, "must be a Mempool");
    }
    if (given !== undefined && pool !== undefined) {
      throw new InvalidArgumentError("pool", "pool", "give pages or pool, not both");
    }
    const source = given ? pageSource(given) : pool ? poolSource(pool) : null;
    const pageSize = options.pageSize ?? source?.pageSize ?? 4096;
    if (!isPowerOfTwo(pageSize) || pageSize < 512 || pageSize > 65536) {
      throw new InvalidArgumentError("pageSize", pageSize, "must be a power of two from 512 to 65536");
    }
    if (source && (pageSize < source.pageSize || pageSize > source.maxBlock)) {
      throw new InvalidArgumentError(
        "pageSize",
        pageSize,
        `must be a block size of the given ${given ? "PageAllocator" : "pool"} (${source.pageSize} .. ${source.maxBlock})`,
      );
    }
    const ra = options.readahead ?? {};
    if (ra === null || typeof ra !== "object") {
      throw new InvalidArgumentError("readahead", ra, "must be an object { initial?, max? }");
    }
    const raInitial = ra.initial ?? 4;
    // A larger initial window alone raises the default largest one with it.
    const raMax = ra.max ?? Math.max(32, typeof raInitial === "number" ? raInitial : 0);
    if (!Number.isSafeInteger(raInitial) || raInitial < 0 || raInitial > 1024) {
      throw new InvalidArgumentError("readahead.initial", raInitial, "must be an integer from 0 to 1024");
    }
    if (!Number.isSafeInteger(raMax) || raMax < raInitial || raMax > 1024) {
      throw new InvalidArgumentError(
        "readahead.max",
        raMax,
        "must be an integer from readahead.initial to 1024",
      );
    }
    if (options.now !== undefined && typeof options.now !== "function") {
      throw new InvalidArgumentError("now", options.now, "must be a function returning the time in ms");
    }
    // A name's factory (registerPolicy: anyone's) is held to what a given instance is.
    const named = options.policy === undefined || typeof options.policy === "string";
    const policy: ReplacementPolicy = named
      ? createPolicy((options.policy as string | undefined) ?? DEFAULT_POLICY, frames)
      : (options.policy as ReplacementPolicy);
    const p = (policy ?? {}) as Partial<ReplacementPolicy>;
    // Every method: one missing was a TypeError at its first use, in the middle of an eviction
    // or an unmap that had changed half of its state (forget, evict), or in every stats().
    const missing = POLICY_METHODS.filter((name) => typeof p[name] !== "function");
    if (missing.length > 0) {
      throw new InvalidArgumentError(
        "policy",
        named ? options.policy : policy,
        `must be a policy name or a ReplacementPolicy (${named ? "its factory's policy is " : ""}missing ${missing.join(", ")})`,
      );
    }
    if (p.capacity !== frames || p.size !== 0 || policiesInUse.has(policy)) {
      throw new InvalidArgumentError(
        "policy",
        p.name,
        `must be a fresh policy with capacity ${frames}, given to no other address space`,
      );
    }
    this.pageSize = pageSize;
    this.frameLimit = frames;
    this.policy = policy;
    this.pool = pool ?? null;
    this.pages = pool ? null : (given ?? AddressSpace.allocatorFor(frames, pageSize));
    // Only now: a constructor that failed (allocatorFor) leaves the policy free for another try.
    policiesInUse.add(policy);
    const frameSource: FrameSource = source ?? pageSource(this.pages as PageAllocator);
    const stores = new Map<number, Store>();
    this.pager = new Pager(
      frames,
      pageSize,
      frameSource,
      policy,
      (key) => stores.get(Math.floor(key / KEY_STRIDE))!,
    );
    if (options.now !== undefined) this.pager.now = options.now;
    this.s = new SpaceState(
      pageSize,
      frames,
      frameSource,
      this.pager,
      new MappingTree(pageSize),
      stores,
      // The first window too: it was the given initial one, past a cap of frames / 4 (4 pages
      // read ahead with 8 frames and max 2).
      Math.min(raInitial, Math.floor(frames / 4)),
      Math.min(raMax, Math.floor(frames / 4)),
    );
  }

  /** A PageAllocator with room for `frames` pages beside its own header. */
  private static allocatorFor(frames: number, pageSize: number): PageAllocator {
    const want = frames * pageSize;
    let bytes = want + pageSize;
    for (;;) {
      let pages: PageAllocator;
      try {
        pages = new PageAllocator({ bytes, pageSize });
      } catch (e) {
        // The arena's words ("invalid bytes N") name an argument the caller never gave.
        if (!(e instanceof InvalidArgumentError) || e.argument !== "bytes") throw e;
        throw new InvalidArgumentError(
          "frames",
          frames,
          `of ${pageSize} bytes need an arena of more than 4 GiB (addresses are below 2^32): fewer frames or smaller pages`,
        );
      }
      if (pages.capacity >= want) return pages;
      bytes += want - pages.capacity;
    }
  }

  /**
   * Awaited by write() before it dirties anything: the reclaim layer's flusher installs its
   * throttle here (reclaim/writeback.ts), so a writer above the high dirty ratio waits for a
   * synchronous flush. The vm layer itself knows nothing of ratios.
   */
  get writeGate(): (() => Promise<unknown>) | null {
    return this.s.writeGate;
  }

  set writeGate(gate: (() => Promise<unknown>) | null) {
    this.s.writeGate = gate;
  }

  // ---------------------------------------------------------------- mappings (map-unmap.ts)

  /** Maps `length` bytes of `store` from `offset`; returns the virtual address. */
  map(options: MapOptions): number {
    return mapRegion(this.s, options);
  }

  /**
   * Removes the mapping that starts at `v`. Dirty pages of persistent stores are written back (and
   * the store flushed with its last mapping, if written since its last flush); the pages of an
   * anonymous store that no other mapping covers are discarded with their swap slots.
   */
  unmap(v: number): Promise<void> {
    return unmapRegion(this.s, v);
  }

  // ---------------------------------------------------------------- access (access.ts, pin.ts)

  /** Reads `length` bytes at `v` (into `into` when given, else a new array). */
  read(v: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    return readRange(this.s, v, length, into);
  }

  /**
   * Writes `bytes` at `v`. A write that fails partway (a store failing a fault or a victim's
   * writeback, no frame to be had) has written the pages before the failing one, as write(2)
   * may; its arguments are checked before any byte moves.
   */
  write(v: number, bytes: Uint8Array): Promise<void> {
    return writeRange(this.s, v, bytes);
  }

  /** Reads like read() but touches no recency and installs nothing: absent pages come from the store. */
  peek(v: number, length: number): Promise<Uint8Array> {
    return peekRange(this.s, v, length);
  }

  /**
   * Pins the pages of [v, v + length) in memory and returns views of them. Pinned pages are never
   * evicted until release(). `owner` names the pin in debugInfo().
   */
  pin(v: number, length: number, options: { owner?: string; write?: boolean } = {}): Promise<PinnedRange> {
    return pinRange(this.s, v, length, options);
  }

  // ---------------------------------------------------------------- hints, sync (advise.ts, sync.ts)

  /** Applies `hint` to [v, v + length): kept hints change future faults, willneed/dontneed act now. */
  advise(v: number, length: number, hint: Hint): Promise<void> {
    return adviseRange(this.s, v, length, hint);
  }

  /**
   * Writes dirty pages back and waits, then flushes every store written since its last flush
   * (also by evictions, the flusher or dontneed: their bytes are durable only from a flush on).
   * With a range, only pages of [v, v + length) and their store; without, every page and store.
   * Anonymous stores are skipped.
   */
  sync(v?: number, length?: number): Promise<void> {
    return syncRange(this.s, v, length);
  }

  // ---------------------------------------------------------------- container operations (container.ts)

  /** Copies `length` bytes from `src` to `dst` (memmove semantics: overlap is fine). */
  copy(src: number, dst: number, length: number): Promise<void> {
    return copy(this.s, src, dst, length);
  }

  /** Writes [v, v + length) of the space to `handle` at `position` (frames go straight to the file). */
  gather(v: number, length: number, handle: FileHandleLike, position = 0): Promise<number> {
    return gather(this.s, v, length, handle, position);
  }

  /** Reads up to `length` bytes of `handle` from `position` into [v, v + length); stops at EOF. */
  scatter(v: number, length: number, handle: FileHandleLike, position = 0): Promise<number> {
    return scatter(this.s, v, length, handle, position);
  }

  // ---------------------------------------------------------------- reporting (inspect.ts)

  stats(): VmStats {
    return vmStats(this.s, this.policy);
  }

  /** A human diagnosis: frames, policy, mappings with their hints, pins and who holds them. */
  debugInfo(): string {
    return vmDebugInfo(this.stats(), this.s.tree.all(), [...this.s.pinRecords.values()]);
  }

  /** Verifies the pager's and the policy's invariants; throws CorruptionError. */
  check(): void {
    spaceCheck(this.s, this.policy);
  }

  /** Drops up to `pages` clean resident pages (the page-cache shrinker); returns how many went. */
  shrink(pages: number): number {
    checkCount("pages", pages);
    return shrinkClean(this.pager, pages);
  }

  /** Clean resident pages that shrink() could drop now. */
  cleanPages(): number {
    return cleanCount(this.pager);
  }

  /**
   * Ends the space at once (the OOM killer's kill): every resident page is dropped without
   * writeback — this space's unwritten data is lost, by design, and only this space's — its frames
   * go back to the page layer, and every later call throws `error`, as do the calls in flight.
   * Pins end with it: release() then does nothing, and a pin's views must not be used (their
   * frames may belong to another space by then).
   */
  terminate(error: Error): void {
    if (this.s.closed) return;
    this.pager.kill(error);
    // Only the stores mapped here now: one unmapped before may be mapped in another space.
    for (const store of disownStores(this.s)) void store.close().catch(() => {});
    this.s.pinRecords.clear();
    this.s.deadError = error;
    this.s.closed = true;
    for (const fn of this.closeHooks.splice(0)) fn();
  }

  /** Whether close() or terminate() has ended the space. */
  get closed(): boolean {
    return this.s.closed;
  }

  /**
   * Runs `fn` when the space closes (the reclaim layer stops its flusher this way). On a space
   * that is closed already it throws as every call does (ECLOSED, or terminate()'s error): the
   * hook would never run, and what it was to stop would run forever.
   */
  onClose(fn: () => void): void {
    if (typeof fn !== "function") throw new InvalidArgumentError("fn", fn, "must be a function");
    this.s.open();
    this.closeHooks.push(fn);
  }

  // ---------------------------------------------------------------- the page cache, as writeback sees it

  /**
   * Installs the hook every fault awaits before it takes a frame (the reclaim layer's direct
   * reclaim); null removes it.
   */
  set frameGate(gate: (() => Promise<unknown> | null) | null) {
    this.pager.frameGate = gate;
  }

  /** Frames not holding a page now: what a fault can take without evicting. */
  freeFrames(): number {
    return this.frameLimit - this.pager.frames.used;
  }

  /**
   * Makes the stores' own metadata durable (file sizes, through each persistent store's flush):
   * the flusher's metadata pass. Anonymous stores have none worth keeping across a restart.
   */
  async syncMetadata(): Promise<void> {
    if (this.s.closed) return;
    for (const store of this.s.stores.values()) if (!store.discard && store.flush) await store.flush();
  }

  /** Resident pages: the page cache the dirty ratio is taken of. */
  cachedPages(): number {
    return this.pager.index.size;
  }

  dirtyPages(): number {
    return this.pager.dirty;
  }

  /** Writes up to `count` dirty pages back, oldest first (only those dirty since before `dirtiedBefore`). */
  async writeback(count: number, dirtiedBefore?: number): Promise<number> {
    checkCount("count", count);
    if (dirtiedBefore !== undefined && (typeof dirtiedBefore !== "number" || Number.isNaN(dirtiedBefore))) {
      throw new InvalidArgumentError("dirtiedBefore", dirtiedBefore, "must be a time (a number)");
    }
    return writebackOldest(this.pager, count, dirtiedBefore ?? Number.POSITIVE_INFINITY);
  }

  /**
   * Writes everything back and flushes it, unmaps every mapping (those mapped while it runs too)
   * and closes the space; the stores stay open (they are the caller's). Calls made while a close
   * runs share it. A close that fails leaves the space open, its close hooks not run.
   */
  close(): Promise<void> {
    if (this.s.closed) return Promise.resolve();
    this.closing ??= this.closeOnce().finally(() => {
      this.closing = null;
    });
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    if (this.s.pinRecords.size > 0) {
      throw new InvalidAddressError(0, `${this.s.pinRecords.size} pins are held (see debugInfo())`, "EBUSY");
    }
    await this.sync();
    for (let all = this.s.tree.all(); all.length > 0; all = this.s.tree.all()) {
      // One the caller unmapped meanwhile is gone already.
      for (const m of all) if (this.s.tree.at(m.start) === m) await this.unmap(m.start);
    }
    // The hooks only once nothing can fail: a close refused (pins) or failing (a store refusing
    // the dirty pages) leaves a space that stays open, and its flusher and watermarks must stay on
    // (hooks run once: a later close that succeeds could not run them again).
    for (const fn of this.closeHooks.splice(0)) fn();
    this.s.closed = true;
  }
}
