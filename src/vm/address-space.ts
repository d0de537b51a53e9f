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
 * | frames            | (required)    | frames | most pages resident at once, 1 .. 2^24           |
 * | pageSize          | 4096          | bytes  | power of two, 512 .. 65536 (the pages' if given) |
 * | policy            | DEFAULT_POLICY| name   | a registered policy (policyNames()) or instance  |
 * | pages             | a new one     | -      | the PageAllocator frames come from               |
 * | pool              | none          | -      | or a Mempool: frames are pool blocks (not both)  |
 * | readahead.initial | 4             | pages  | first read-ahead window                          |
 * | readahead.max     | 32            | pages  | largest window; at most frames / 4               |
 */
import {
  DoubleFreeError,
  InvalidAddressError,
  InvalidArgumentError,
  MnemeError,
  OutOfMemoryError,
} from "../errors.js";
import { PageAllocator } from "../page/buddy.js";
import { Mempool } from "../pool/mempool.js";
import { copyBytes } from "../util/shared-bytes.js";
import { isPowerOfTwo } from "../util/validate.js";
import {
  type ContainerAccess,
  checkTransfer,
  copyRange,
  type FileHandleLike,
  gatherRange,
  scatterRange,
} from "./container.js";
import { type FaultTarget, KEY_STRIDE, Pager, type PagerStats } from "./fault.js";
import { type FrameSource, pageSource, poolSource } from "./frame-source.js";
import { hint as checkHint, type Hint, HintRanges, isKeptHint, type KeptHint } from "./hints.js";
import { type PinRecord, vmCheck, vmDebugInfo } from "./inspect.js";
import { type Mapping, MappingTree } from "./mappings.js";
import { DEFAULT_POLICY } from "./policies/index.js";
import { createPolicy, type ReplacementPolicy } from "./policies/policy.js";
import { type Store, StoreError } from "./stores/store.js";

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

export interface MapOptions {
  length: number;
  store: Store;
  /** Byte offset in the store, a multiple of the page size. Default 0. */
  offset?: number;
  /** Kept hint for the whole mapping, or willneed (prefetch now). Default normal. */
  hint?: Hint;
  /** Default true, or false for a read-only store (which refuses true). */
  writable?: boolean;
}

/** A pinned range: its pages stay resident until release(). */
export interface PinnedRange {
  readonly address: number;
  readonly length: number;
  readonly owner: string;
  /**
   * The range's bytes. A view of the frames (zero-copy) when the range lies in one page or its
   * frames happen to be adjacent in the arena; otherwise a copy, written back on release().
   */
  readonly bytes: Uint8Array;
  /** Whether `bytes` is a view of the frames. */
  readonly zeroCopy: boolean;
  /** Zero-copy views of each page's part of the range, in order. */
  readonly pages: readonly Uint8Array[];
  /** Unpins (and writes a copied `bytes` back). A second call throws InvalidAddressError EDOUBLEFREE. */
  release(): void;
}

export interface VmStats extends PagerStats {
  frames: number;
  pageSize: number;
  policy: string;
  resident: number;
  dirty: number;
  pinned: number;
  pins: number;
  mappings: number;
  inFlight: number;
  arenaBytes: number;
  policyStats: Record<string, number>;
}

/** Which address space a store is mapped in (a store's frames belong to one space). */
const storeOwner = new WeakMap<Store, AddressSpace>();

const MAX_FRAMES = 2 ** 24;

export class AddressSpace {
  readonly pageSize: number;
  readonly frameLimit: number;
  /** The page layer frames come from; null when they come from a pool. */
  readonly pages: PageAllocator | null;
  readonly pool: Mempool | null;
  readonly policy: ReplacementPolicy;
  private readonly source: FrameSource;
  private readonly pager: Pager;
  private readonly tree: MappingTree;
  private readonly storeIds = new Map<Store, number>();
  private readonly stores = new Map<number, Store>();
  private readonly mapCount = new Map<number, number>();
  private nextStoreId = 1;
  private nextMappingId = 1;
  /** Counts map() calls (and mappings put back): unmap() looks coverage up again when it moves. */
  private mapEpoch = 0;
  /** Mappings whose unmap() is in progress: out of the tree, their pages not all dropped yet. */
  private readonly unmapping = new Set<Mapping>();
  private readonly pinRecords = new Map<number, PinRecord>();
  private nextPinId = 1;
  private readonly raInitial: number;
  private readonly raMax: number;
  private closed = false;
  /**
   * Awaited by write() before it dirties anything: the reclaim layer's flusher installs its
   * throttle here (reclaim/writeback.ts), so a writer above the high dirty ratio waits for a
   * synchronous flush. The vm layer itself knows nothing of ratios.
   */
  writeGate: (() => Promise<unknown>) | null = null;
  private readonly closeHooks: Array<() => void> = [];
  private deadError: Error | null = null;

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
    const raInitial = ra.initial ?? 4;
    const raMax = ra.max ?? 32;
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
    let policy: ReplacementPolicy;
    if (options.policy === undefined || typeof options.policy === "string") {
      policy = createPolicy(options.policy ?? DEFAULT_POLICY, frames);
    } else {
      policy = options.policy;
      const p = policy as Partial<ReplacementPolicy>;
      if (typeof p.victim !== "function" || typeof p.insert !== "function" || typeof p.hit !== "function") {
        throw new InvalidArgumentError("policy", policy, "must be a policy name or a ReplacementPolicy");
      }
      if (p.capacity !== frames || p.size !== 0) {
        throw new InvalidArgumentError("policy", p.name, `must be a fresh policy with capacity ${frames}`);
      }
    }
    this.pageSize = pageSize;
    this.frameLimit = frames;
    this.raInitial = raInitial;
    this.raMax = Math.min(raMax, Math.floor(frames / 4));
    this.policy = policy;
    this.pool = pool ?? null;
    this.pages = pool ? null : (given ?? AddressSpace.allocatorFor(frames, pageSize));
    this.source = source ?? pageSource(this.pages as PageAllocator);
    this.tree = new MappingTree(pageSize);
    this.pager = new Pager(
      frames,
      pageSize,
      this.source,
      policy,
      (key) => this.stores.get(Math.floor(key / KEY_STRIDE))!,
    );
    if (options.now !== undefined) this.pager.now = options.now;
  }

  /** A PageAllocator with room for `frames` pages beside its own header. */
  private static allocatorFor(frames: number, pageSize: number): PageAllocator {
    const want = frames * pageSize;
    let bytes = want + pageSize;
    for (;;) {
      const pages = new PageAllocator({ bytes, pageSize });
      if (pages.capacity >= want) return pages;
      bytes += want - pages.capacity;
    }
  }

  // ---------------------------------------------------------------- mappings

  /** Maps `length` bytes of `store` from `offset`; returns the virtual address. */
  map(options: MapOptions): number {
    this.open();
    if (options === null || typeof options !== "object") {
      throw new InvalidArgumentError("options", options, "must be an object with length and store");
    }
    const { length, store, offset = 0, hint = "normal" } = options;
    const ps = this.pageSize;
    if (!Number.isSafeInteger(length) || length <= 0) {
      throw new InvalidArgumentError("length", length, "must be a positive integer");
    }
    const s = store as Partial<Store> | null;
    if (
      s === null ||
      typeof s !== "object" ||
      typeof s.readPage !== "function" ||
      typeof s.writePage !== "function" ||
      typeof s.close !== "function"
    ) {
      throw new InvalidArgumentError(
        "store",
        store,
        "must implement the Store interface (readPage, writePage, close)",
      );
    }
    if (!Number.isSafeInteger(offset) || offset < 0 || offset % ps !== 0) {
      throw new InvalidArgumentError(
        "offset",
        offset,
        `must be a non-negative multiple of the page size ${ps}`,
      );
    }
    const h = checkHint("hint", hint);
    if (h === "dontneed")
      throw new InvalidArgumentError("hint", hint, "dontneed is an action for advise(), not a mapping hint");
    const readOnlyStore = store.readOnly === true;
    const writable = options.writable ?? !readOnlyStore;
    if (typeof writable !== "boolean")
      throw new InvalidArgumentError("writable", writable, "must be a boolean");
    if (writable && readOnlyStore) {
      throw new InvalidArgumentError("writable", writable, `${store.description} is read-only`);
    }
    const pages = Math.ceil(length / ps);
    if (offset / ps + pages > KEY_STRIDE) {
      throw new InvalidArgumentError(
        "length",
        length,
        `offset + length must stay below ${KEY_STRIDE} pages of the store`,
      );
    }
    const owner = storeOwner.get(store);
    if (owner !== undefined && owner !== this) {
      throw new InvalidArgumentError("store", store.description, "is mapped in another address space");
    }
    const start = this.tree.place(pages);
    if (start < 0) {
      throw new OutOfMemoryError(
        length,
        0,
        0,
        "exhausted",
        "no gap in the virtual address space is large enough",
      );
    }
    store.attach?.(ps);
    // From here on nothing can fail.
    let storeId = this.storeIds.get(store);
    if (storeId === undefined) {
      storeId = this.nextStoreId++;
      this.storeIds.set(store, storeId);
      this.stores.set(storeId, store);
    }
    storeOwner.set(store, this);
    this.mapCount.set(storeId, (this.mapCount.get(storeId) ?? 0) + 1);
    const m: Mapping = {
      id: this.nextMappingId++,
      start,
      length,
      pages,
      store,
      storeId,
      offset,
      writable,
      hints: new HintRanges(isKeptHint(h) ? h : "normal", pages),
      lastPage: -2,
      window: 0,
      removed: false,
    };
    this.tree.insert(m);
    this.mapEpoch++;
    if (h === "willneed") {
      this.prefetch(m, 0, pages).catch(() => {}); // best effort: failures show as storeErrors
    }
    return start;
  }

  /**
   * Removes the mapping that starts at `v`. Dirty pages of persistent stores are written back; the
   * pages of an anonymous store that no other mapping covers are discarded with their swap slots.
   */
  async unmap(v: number): Promise<void> {
    this.open();
    const m = typeof v === "number" ? this.tree.at(v) : undefined;
    if (m === undefined) throw new InvalidAddressError(v, "is not the start of a mapping");
    this.refusePinned(m, 0, m.pages);
    this.tree.remove(m);
    m.removed = true;
    this.unmapping.add(m);
    const ps = this.pageSize;
    const first = m.offset / ps;
    // A map() of the same store while this waits covers pages too: they are shared with it and
    // must stay (its writes are acknowledged). So coverage is looked up again after a mapping came.
    let others: Mapping[] = [];
    let seen = -1;
    const covered = (page: number) => {
      if (seen !== this.mapEpoch) {
        others = this.tree.ofStore(m.storeId);
        seen = this.mapEpoch;
      }
      return others.some((o) => page >= o.offset / ps && page < o.offset / ps + o.pages);
    };
    const anonymous = typeof m.store.discard === "function";
    try {
      for (const key of this.keysOf(m, 0, m.pages)) {
        if (covered(key % KEY_STRIDE)) continue;
        // While this waits, a fault elsewhere may pick the page as its victim and start writing it
        // back (for an anonymous store, a write finishing after the discard below would bring the
        // old bytes back), and a write that began before the unmap may still land in it (for a
        // persistent store, acknowledged, so it must reach the store). Drop it only when settled.
        do {
          await this.settle(key);
          if (!anonymous) await this.pager.clean(key);
          await this.unrefWait(key);
        } while (this.unsettled(key, !anonymous));
        if (covered(key % KEY_STRIDE)) continue;
        this.refusePinnedPage(key);
        this.pager.drop(key);
      }
      if (anonymous) {
        let run = -1;
        for (let p = first; p <= first + m.pages; p++) {
          const free = p < first + m.pages && !covered(p);
          if (free && run < 0) run = p;
          if (!free && run >= 0) {
            await m.store.discard!(run * ps, (p - run) * ps);
            run = -1;
          }
        }
      }
    } catch (e) {
      // Put the mapping back: what was written or dropped is consistent, the rest is as it was.
      m.removed = false;
      this.tree.insert(m);
      this.mapEpoch++;
      throw e;
    } finally {
      this.unmapping.delete(m);
    }
    const left = (this.mapCount.get(m.storeId) ?? 1) - 1;
    if (left === 0) {
      this.mapCount.delete(m.storeId);
      storeOwner.delete(m.store);
    } else this.mapCount.set(m.storeId, left);
  }

  // ---------------------------------------------------------------- access

  /** Reads `length` bytes at `v` (into `into` when given, else a new array). */
  async read(v: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    this.open();
    const m = this.range(v, length, false);
    if (into !== undefined && (!(into instanceof Uint8Array) || into.length < length)) {
      throw new InvalidArgumentError("into", into, `must be a Uint8Array of at least ${length} bytes`);
    }
    const out = into ?? new Uint8Array(length);
    await this.walk(m, v, length, false, (frame, inPage, pos, n) => {
      copyBytes(out, pos, frame.subarray(inPage, inPage + n));
    });
    return out;
  }

  /** Writes `bytes` at `v`. */
  async write(v: number, bytes: Uint8Array): Promise<void> {
    this.open();
    if (!(bytes instanceof Uint8Array) || bytes.length === 0) {
      throw new InvalidArgumentError("bytes", bytes, "must be a non-empty Uint8Array");
    }
    if (this.writeGate !== null) await this.writeGate();
    const m = this.range(v, bytes.length, true);
    await this.walk(m, v, bytes.length, true, (frame, inPage, pos, n) => {
      copyBytes(frame, inPage, bytes.subarray(pos, pos + n));
    });
  }

  /**
   * The page loop of read and write: for each page of [v, v + length), a resident frame (hit or
   * fault), `use` on the part of it in range, then the kept hint's after-use action.
   */
  private async walk(
    m: Mapping,
    v: number,
    length: number,
    writing: boolean,
    use: (frame: Uint8Array, inPage: number, pos: number, n: number) => void,
  ): Promise<void> {
    const ps = this.pageSize;
    const pager = this.pager;
    const base = m.storeId * KEY_STRIDE + m.offset / ps;
    let pos = 0;
    while (pos < length) {
      const rel = v + pos - m.start;
      const page = Math.floor(rel / ps);
      const inPage = rel - page * ps;
      const n = Math.min(ps - inPage, length - pos);
      const key = base + page;
      let f = pager.index.get(key);
      if (f !== undefined) {
        pager.touch(key, f);
        use(pager.view(f), inPage, pos, n);
      } else {
        const target = this.target(m, page, writing && n === ps);
        let filled = false;
        if (target.overwrite) {
          target.fill = (frame) => {
            use(frame, inPage, pos, n);
            filled = true;
          };
        }
        f = await pager.acquire(key, target);
        try {
          if (!filled) use(pager.view(f), inPage, pos, n);
        } finally {
          pager.unref(f);
        }
      }
      if (writing) pager.markDirty(f, inPage + n);
      this.afterUse(m, page, key);
      pos += n;
      if (m.removed && pos < length)
        throw new InvalidAddressError(v + pos, "was unmapped during the operation");
    }
  }

  /** What a fault at `page` of `m` reads: the page, plus read-ahead by the page's kept hint. */
  private target(m: Mapping, page: number, overwrite: boolean): FaultTarget {
    const h = m.hints.at(page);
    let ra = 0;
    if (h !== "random" && !overwrite && this.raMax > 0) {
      const sequential = m.lastPage === page - 1;
      if (h === "sequential" || sequential) {
        m.window = m.window === 0 ? this.raInitial : Math.min(m.window * 2, this.raMax);
        ra = Math.min(m.window, m.pages - page - 1);
      } else m.window = 0;
    }
    return {
      store: m.store,
      offset: m.offset + page * this.pageSize,
      overwrite,
      readahead: ra,
    };
  }

  private afterUse(m: Mapping, page: number, key: number): void {
    m.lastPage = page;
    const h = m.hints.at(page);
    if (h === "readOnce") this.pager.front.add(key);
    else if (h === "sequential" && page > 0 && this.pager.index.has(key - 1)) this.pager.front.add(key - 1);
  }

  /** Reads like read() but touches no recency and installs nothing: absent pages come from the store. */
  async peek(v: number, length: number): Promise<Uint8Array> {
    this.open();
    const m = this.range(v, length, false);
    const ps = this.pageSize;
    const out = new Uint8Array(length);
    const base = m.storeId * KEY_STRIDE + m.offset / ps;
    let tmp: Uint8Array | undefined;
    let pos = 0;
    while (pos < length) {
      const rel = v + pos - m.start;
      const page = Math.floor(rel / ps);
      const inPage = rel - page * ps;
      const n = Math.min(ps - inPage, length - pos);
      const key = base + page;
      const f = this.pager.index.get(key);
      if (f !== undefined) copyBytes(out, pos, this.pager.view(f).subarray(inPage, inPage + n));
      else {
        const p = this.pager.pending.get(key);
        if (p !== undefined) {
          await p.promise.catch(() => {});
          continue;
        }
        tmp ??= new Uint8Array(ps);
        try {
          await m.store.readPage(m.offset + page * ps, tmp);
        } catch (e) {
          throw e instanceof MnemeError
            ? e
            : new StoreError(m.store.description, "read", m.offset + page * ps, e);
        }
        // The page may have come in while the store was read: the frame is newer.
        const g = this.pager.index.get(key);
        if (g !== undefined) out.set(this.pager.view(g).subarray(inPage, inPage + n), pos);
        else out.set(tmp.subarray(inPage, inPage + n), pos);
      }
      pos += n;
    }
    return out;
  }

  /**
   * Pins the pages of [v, v + length) in memory and returns views of them. Pinned pages are never
   * evicted until release(). `owner` names the pin in debugInfo().
   */
  async pin(
    v: number,
    length: number,
    options: { owner?: string; write?: boolean } = {},
  ): Promise<PinnedRange> {
    this.open();
    const m = this.range(v, length, false);
    if (options === null || typeof options !== "object")
      throw new InvalidArgumentError("options", options, "must be an object");
    const owner = options.owner ?? `pin #${this.nextPinId}`;
    if (typeof owner !== "string") throw new InvalidArgumentError("owner", owner, "must be a string");
    const write = options.write ?? m.writable;
    if (typeof write !== "boolean") throw new InvalidArgumentError("write", write, "must be a boolean");
    if (write && !m.writable) throw new InvalidAddressError(v, "mapping is read-only", "EACCES");
    const ps = this.pageSize;
    const firstPage = Math.floor((v - m.start) / ps);
    const lastPage = Math.floor((v + length - 1 - m.start) / ps);
    const count = lastPage - firstPage + 1;
    if (count > this.frameLimit) {
      throw new InvalidArgumentError(
        "length",
        length,
        `pins ${count} pages but the space has ${this.frameLimit} frames`,
      );
    }
    const pager = this.pager;
    const fr = pager.frames;
    const base = m.storeId * KEY_STRIDE + m.offset / ps;
    const frames: number[] = [];
    // The pin is on record from its first await: its pages fault in one after another, and a
    // dontneed or unmap beginning meanwhile must see it (EBUSY) rather than drop the pages it holds.
    const id = this.nextPinId++;
    this.pinRecords.set(id, { id, owner, address: v, length, frames });
    try {
      for (let page = firstPage; page <= lastPage; page++) {
        const f = await pager.acquire(base + page, this.target(m, page, false));
        fr.pins[f]++;
        pager.unref(f);
        frames.push(f);
      }
    } catch (e) {
      // A kill released the frames, pins and all.
      if (this.deadError === null) for (const f of frames) fr.pins[f]--;
      this.pinRecords.delete(id);
      pager.notify();
      throw e;
    }
    const views: Uint8Array[] = frames.map((f, i) => {
      const from = i === 0 ? v - m.start - firstPage * ps : 0;
      const to = i === count - 1 ? v + length - m.start - lastPage * ps : ps;
      return pager.view(f).subarray(from, to);
    });
    let adjacent = true;
    for (let i = 1; i < count; i++) if (fr.addr[frames[i]] !== fr.addr[frames[i - 1]] + ps) adjacent = false;
    const startAddr = fr.addr[frames[0]] + (v - m.start - firstPage * ps);
    const bytes = adjacent ? this.source.view(startAddr, length) : new Uint8Array(length);
    if (!adjacent) {
      let o = 0;
      for (const view of views) {
        bytes.set(view, o);
        o += view.length;
      }
    }
    const markDirty = () => {
      if (!write) return;
      for (let i = 0; i < count; i++) {
        pager.markDirty(frames[i], i === count - 1 ? v + length - m.start - lastPage * ps : ps);
      }
    };
    markDirty();
    let released = false;
    return {
      address: v,
      length,
      owner,
      bytes,
      zeroCopy: adjacent,
      pages: views,
      release: () => {
        if (released) throw new DoubleFreeError(v, `pin "${owner}" was already released`);
        released = true;
        // Killed: the frames went back to the page layer with the space, and may be another
        // space's by now; copying the pin's bytes back would write into them.
        if (this.deadError !== null) return;
        if (!adjacent && write) {
          let o = 0;
          for (const view of views) {
            view.set(bytes.subarray(o, o + view.length));
            o += view.length;
          }
        }
        markDirty();
        for (const f of frames) fr.pins[f]--;
        this.pinRecords.delete(id);
        pager.notify();
      },
    };
  }

  // ---------------------------------------------------------------- hints, sync

  /** Applies `hint` to [v, v + length): kept hints change future faults, willneed/dontneed act now. */
  async advise(v: number, length: number, hint: Hint): Promise<void> {
    this.open();
    const m = this.range(v, length, false);
    const h = checkHint("hint", hint);
    const ps = this.pageSize;
    const from = Math.floor((v - m.start) / ps);
    const to = Math.floor((v + length - 1 - m.start) / ps) + 1;
    if (h === "dontneed") this.refusePinned(m, from, to);
    if (isKeptHint(h)) {
      m.hints.set(from, to, h as KeptHint);
      m.window = 0;
    } else if (h === "willneed") await this.prefetch(m, from, to);
    else await this.dropRange(m, from, to);
  }

  /** Reads pages [from, to) of `m` in (at most `frames` of them), in read-ahead batches. */
  private async prefetch(m: Mapping, from: number, to: number): Promise<void> {
    const ps = this.pageSize;
    const base = m.storeId * KEY_STRIDE + m.offset / ps;
    const end = Math.min(to, from + this.frameLimit);
    for (let page = from; page < end; page++) {
      // unmap() drops the pages it has settled; reading one back in afterwards would leave a
      // frame holding bytes of a mapping that no longer exists.
      if (m.removed) return;
      const key = base + page;
      if (this.pager.index.has(key)) continue;
      const batch = Math.max(0, Math.min(end - page - 1, Math.max(this.raMax, 1) - 1));
      const f = await this.pager.acquire(
        key,
        { store: m.store, offset: m.offset + page * ps, readahead: batch, prefetch: true },
        false,
      );
      this.pager.unref(f);
    }
  }

  /** dontneed: write dirty pages of [from, to) back, then drop them. */
  private async dropRange(m: Mapping, from: number, to: number): Promise<void> {
    const pager = this.pager;
    for (const key of this.keysOf(m, from, to)) {
      // The mapping stays usable meanwhile: a write acknowledged while this waited for a ref may
      // have dirtied the page again, and a fault may have started writing it back. Drop it only
      // at a moment when it is clean and has no I/O, or that write would be lost.
      do {
        await this.settle(key);
        await pager.clean(key);
        await this.unrefWait(key);
      } while (this.unsettled(key, true));
      this.refusePinnedPage(key);
      pager.drop(key);
    }
  }

  /**
   * Writes dirty pages back and waits, then flushes every store written since its last flush
   * (also by evictions, the flusher or dontneed: their bytes are durable only from a flush on).
   * With a range, only pages of [v, v + length) and their store; without, every page and store.
   * Anonymous stores are skipped.
   */
  async sync(v?: number, length?: number): Promise<void> {
    this.open();
    let keys: number[];
    let only: Store | undefined;
    if (v === undefined && length === undefined) {
      keys = [...this.pager.index.keys(), ...this.pager.pending.keys()];
    } else {
      const m = this.range(v as number, length as number, false);
      only = m.store;
      const ps = this.pageSize;
      keys = this.keysOf(
        m,
        Math.floor(((v as number) - m.start) / ps),
        Math.floor(((v as number) + (length as number) - 1 - m.start) / ps) + 1,
      );
    }
    let failure: unknown;
    const jobs: Promise<void>[] = [];
    const run = async (key: number) => {
      const store = this.stores.get(Math.floor(key / KEY_STRIDE))!;
      if (typeof store.discard === "function") return;
      try {
        await this.settle(key);
        const f = this.pager.index.get(key);
        if (f === undefined) return;
        // A page whose write another clean has in flight (the flusher's, dontneed's) reads as
        // clean, but its bytes are not in the store yet: clean() waits for that write (and writes
        // the page itself if it failed or the page was dirtied again).
        if (this.pager.frames.dirtyEnd[f] === 0 && !this.pager.isCleaning(key)) return;
        await this.pager.clean(key);
      } catch (e) {
        failure ??= e;
      }
    };
    for (const key of keys) {
      jobs.push(run(key));
      if (jobs.length >= 32) await Promise.all(jobs.splice(0));
    }
    await Promise.all(jobs);
    const unflushed = this.pager.unflushed;
    // Taken from the set before the flush: a write ending meanwhile puts its store back.
    for (const s of only ? [only] : [...unflushed]) {
      if (!unflushed.delete(s)) continue;
      try {
        await s.flush?.();
      } catch (e) {
        unflushed.add(s);
        failure ??= e;
      }
    }
    if (failure !== undefined) throw failure;
  }

  // ---------------------------------------------------------------- container operations

  /** Copies `length` bytes from `src` to `dst` (memmove semantics: overlap is fine). */
  async copy(src: number, dst: number, length: number): Promise<void> {
    this.open();
    const from = this.range(src, length, false);
    const to = this.range(dst, length, true);
    // Overlap is a matter of store bytes, not of virtual addresses: two mappings of one store
    // alias each other, so copy backwards when the destination's store bytes start inside the source's.
    const s = from.offset + (src - from.start);
    const d = to.offset + (dst - to.start);
    const backward = from.storeId === to.storeId && d > s && d < s + length;
    await copyRange(this.containerAccess(), src, dst, length, backward);
  }

  /** Writes [v, v + length) of the space to `handle` at `position` (frames go straight to the file). */
  async gather(v: number, length: number, handle: FileHandleLike, position = 0): Promise<number> {
    this.open();
    this.range(v, length, false);
    checkTransfer(handle, "write", position);
    return gatherRange(this.containerAccess(), v, length, handle, position);
  }

  /** Reads up to `length` bytes of `handle` from `position` into [v, v + length); stops at EOF. */
  async scatter(v: number, length: number, handle: FileHandleLike, position = 0): Promise<number> {
    this.open();
    this.range(v, length, true);
    checkTransfer(handle, "read", position);
    return scatterRange(this.containerAccess(), v, length, handle, position);
  }

  /** What container.ts may use: page access without exposing frames to callers. */
  private containerAccess(): ContainerAccess {
    return {
      pageSize: this.pageSize,
      read: (v, length, into) => this.read(v, length, into),
      write: (v, bytes) => this.write(v, bytes),
      holdPage: async (v) => {
        const m = this.range(v, 1, false);
        const ps = this.pageSize;
        const page = Math.floor((v - m.start) / ps);
        const key = m.storeId * KEY_STRIDE + m.offset / ps + page;
        const f = await this.pager.acquire(key, this.target(m, page, false));
        return {
          view: this.pager.view(f),
          inPage: v - m.start - page * ps,
          release: () => this.pager.unref(f),
        };
      },
    };
  }

  // ---------------------------------------------------------------- reporting

  stats(): VmStats {
    const p = this.pager;
    return {
      ...p.stats,
      frames: this.frameLimit,
      pageSize: this.pageSize,
      policy: this.policy.name,
      resident: p.index.size,
      dirty: p.dirty,
      pinned: p.pinnedCount(),
      pins: this.pinRecords.size,
      mappings: this.tree.size,
      inFlight: p.inFlight,
      arenaBytes: p.frames.used * this.pageSize,
      policyStats: this.policy.stats(),
    };
  }

  /** A human diagnosis: frames, policy, mappings with their hints, pins and who holds them. */
  debugInfo(): string {
    return vmDebugInfo(this.stats(), this.tree.all(), [...this.pinRecords.values()]);
  }

  /** Verifies the pager's and the policy's invariants; throws CorruptionError. */
  check(): void {
    const ps = this.pageSize;
    const byStore = new Map<number, Mapping[]>();
    for (const m of [...this.tree.all(), ...this.unmapping]) {
      const list = byStore.get(m.storeId);
      if (list) list.push(m);
      else byStore.set(m.storeId, [m]);
    }
    const mapped = (key: number) => {
      const page = key % KEY_STRIDE;
      const list = byStore.get(Math.floor(key / KEY_STRIDE)) ?? [];
      return list.some((m) => page >= m.offset / ps && page < m.offset / ps + m.pages);
    };
    vmCheck(this.pager, this.policy, (id) => this.stores.has(id), mapped, [...this.pinRecords.values()]);
  }

  /** Writes back every dirty page of persistent stores, drops every frame and returns them. */
  /** Drops up to `pages` clean resident pages (the page-cache shrinker); returns how many went. */
  shrink(pages: number): number {
    return this.pager.shrinkClean(pages);
  }

  /** Clean resident pages that shrink() could drop now. */
  cleanPages(): number {
    return this.pager.cleanCount();
  }

  /**
   * Ends the space at once (the OOM killer's kill): every resident page is dropped without
   * writeback — this space's unwritten data is lost, by design, and only this space's — its frames
   * go back to the page layer, and every later call throws `error`, as do the calls in flight.
   * Pins end with it: release() then does nothing, and a pin's views must not be used (their
   * frames may belong to another space by then).
   */
  terminate(error: Error): void {
    if (this.closed) return;
    this.pager.kill(error);
    for (const store of this.stores.values()) void store.close().catch(() => {});
    this.pinRecords.clear();
    this.deadError = error;
    this.closed = true;
    for (const fn of this.closeHooks.splice(0)) fn();
  }

  /** Runs `fn` when the space closes (the reclaim layer stops its flusher this way). */
  onClose(fn: () => void): void {
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
    if (this.closed) return;
    for (const store of this.stores.values()) if (!store.discard && store.flush) await store.flush();
  }

  /** Resident pages: the page cache the dirty ratio is taken of. */
  cachedPages(): number {
    return this.pager.index.size;
  }

  dirtyPages(): number {
    return this.pager.dirty;
  }

  /** Writes up to `count` dirty pages back, oldest first (only those dirty since before `dirtiedBefore`). */
  writeback(count: number, dirtiedBefore?: number): Promise<number> {
    return this.pager.writebackOldest(count, dirtiedBefore);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Refused before the hooks run: a close refused for pins leaves the space as it was (the
    // reclaim layer's flusher and watermarks still on).
    if (this.pinRecords.size > 0) {
      throw new InvalidAddressError(0, `${this.pinRecords.size} pins are held (see debugInfo())`, "EBUSY");
    }
    for (const fn of this.closeHooks.splice(0)) fn();
    await this.sync();
    for (const m of this.tree.all()) await this.unmap(m.start);
    this.closed = true;
  }

  // ---------------------------------------------------------------- helpers

  private open(): void {
    if (this.deadError !== null) throw this.deadError;
    if (this.closed) throw new MnemeError("ECLOSED", "the address space is closed");
  }

  /** The mapping holding all of [v, v + length), validated. */
  private range(v: number, length: number, writing: boolean): Mapping {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      throw new InvalidArgumentError("address", v, "must be a non-negative integer");
    }
    if (!Number.isSafeInteger(length) || length <= 0) {
      throw new InvalidArgumentError("length", length, "must be a positive integer");
    }
    const m = this.tree.find(v);
    if (m === undefined) throw new InvalidAddressError(v, "is not mapped");
    if (v + length > m.start + m.length) {
      throw new InvalidAddressError(
        v + length - 1,
        `lies past the end of the mapping at 0x${m.start.toString(16)}`,
      );
    }
    if (writing && !m.writable) throw new InvalidAddressError(v, "mapping is read-only", "EACCES");
    return m;
  }

  /** Keys of pages [from, to) of `m` that are resident or pending (whichever set is smaller to scan). */
  private keysOf(m: Mapping, from: number, to: number): number[] {
    const base = m.storeId * KEY_STRIDE + m.offset / this.pageSize;
    const p = this.pager;
    const out: number[] = [];
    if (to - from <= p.index.size + p.pending.size) {
      for (let page = from; page < to; page++) {
        if (p.index.has(base + page) || p.pending.has(base + page)) out.push(base + page);
      }
      return out;
    }
    const lo = base + from;
    const hi = base + to;
    for (const key of p.index.keys()) if (key >= lo && key < hi) out.push(key);
    for (const key of p.pending.keys()) if (key >= lo && key < hi && !p.index.has(key)) out.push(key);
    return out.sort((a, b) => a - b);
  }

  /** Waits until `key` is not pending. */
  private async settle(key: number): Promise<void> {
    for (let p = this.pager.pending.get(key); p !== undefined; p = this.pager.pending.get(key)) {
      await p.promise.catch(() => {});
    }
  }

  /**
   * Whether page `key` changed while its dropper waited: I/O on it (a fault's writeback of it as
   * a victim), a transient ref (a fault that brought it in while the dropper waited, whose caller
   * has yet to use the frame: dropped now, its write would land in a freed frame), or, when
   * `mustBeClean`, new dirty bytes (a write that landed after its clean).
   */
  private unsettled(key: number, mustBeClean: boolean): boolean {
    const pager = this.pager;
    if (pager.pending.has(key)) return true;
    const f = pager.index.get(key);
    if (f === undefined) return false;
    return pager.frames.refs[f] !== 0 || (mustBeClean && pager.frames.dirtyEnd[f] !== 0);
  }

  /** Waits until the frame of `key` (if resident) has no transient refs. */
  private async unrefWait(key: number): Promise<void> {
    for (;;) {
      const f = this.pager.index.get(key);
      if (f === undefined || this.pager.frames.refs[f] === 0) return;
      await this.pager.changed();
    }
  }

  /**
   * EBUSY if resident page `key` is pinned when its dropper comes to drop it: pinned while the
   * dropper waited, or through another mapping of the same store (the range check above sees
   * addresses, not pages). Dropping it would free a frame the pin's views still show.
   */
  private refusePinnedPage(key: number): void {
    const f = this.pager.index.get(key);
    if (f === undefined || this.pager.frames.pins[f] === 0) return;
    for (const r of this.pinRecords.values()) {
      if (r.frames.includes(f))
        throw new InvalidAddressError(r.address, `is pinned by "${r.owner}"`, "EBUSY");
    }
  }

  /** EBUSY if any page of pages [from, to) of `m` is pinned. */
  private refusePinned(m: Mapping, from: number, to: number): void {
    const ps = this.pageSize;
    const lo = m.start + from * ps;
    const hi = m.start + to * ps;
    for (const r of this.pinRecords.values()) {
      if (r.address < hi && r.address + r.length > lo) {
        throw new InvalidAddressError(r.address, `is pinned by "${r.owner}"`, "EBUSY");
      }
    }
  }
}
