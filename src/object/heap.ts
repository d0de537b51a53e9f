/**
 * The object layer's front door: kmalloc-style malloc/calloc/realloc/alignedAlloc/free over slab
 * caches, named caches for fixed-size objects, vmalloc, and the metadata reserve, all inside the
 * arena of a PageAllocator (DESIGN.md principle 2).
 *
 * Request routing:
 *
 *     malloc(size) ── size <= 8192 ──> size class (size-classes.ts) ──> slab cache (slab.ts)
 *                 └─ size >  8192 ──> a cached run of that many pages (large-runs.ts), else
 *                                     the page layer: whole pages ("large"), tail returned
 *     free(addr)   ── owner map[page] ──> slab first page: that slab's bitmap
 *                                     └─> OWNER_LARGE: the large-run cache, else the page layer
 *                                     └─> anything else: InvalidAddressError, nothing changes
 *
 * The page-owner map (one Int32 per arena page) is what makes free() need no size and reject
 * foreign addresses in O(1). Footprint — pages the heap holds from the page layer, its own root
 * included — and its high-water mark are kept in the root, so benchmarks and stats read the same
 * figure.
 */
import { Arena, type ArenaBuffer } from "../arena/arena.js";
import { ROOT_HEAP } from "../arena/layout.js";
import {
  CorruptionError,
  DoubleFreeError,
  InvalidAddressError,
  InvalidArgumentError,
  OutOfMemoryError,
} from "../errors.js";
import { PageAllocator, type PageAllocatorOptions } from "../page/buddy.js";
import { type WatermarkOptions, type Watermarks, watermarks } from "../page/watermarks.js";
import { fillBytes } from "../util/shared-bytes.js";
import { isPowerOfTwo } from "../util/validate.js";
import { RED_ZONE_BYTES } from "./debug.js";
import { type HeapStats, heapCheck, heapDebugInfo, heapStats } from "./inspect.js";
import {
  AC_MAX_LIMIT,
  C_AC_BATCH,
  C_AC_LIMIT,
  C_ALIGN,
  C_BITMAP_WORDS,
  C_DATA_OFFSET,
  C_FLAGS,
  C_MAX_ORDER,
  C_NAME,
  C_PER_SLAB,
  C_SIZE,
  C_SLAB_ORDER,
  C_STRIDE,
  CACHE_WORDS,
  CF_DEBUG,
  CF_KMALLOC,
  CF_LIVE,
  FLAG_DEBUG,
  HEAP_MAGIC,
  MIN_AC_OBJECT,
  OWNER_CACHED_END,
  OWNER_LARGE,
  OWNER_META,
  OWNER_VMALLOC,
  R_CACHE_COUNT,
  R_CLASS_COUNT,
  R_DIR_OFFSET,
  R_FLAGS,
  R_FOOTPRINT,
  R_LARGE_COUNT,
  R_LARGE_PAGES,
  R_MAGIC,
  R_MAX_CACHES,
  R_MAX_EMPTY,
  R_OWNER_OFFSET,
  R_PEAK,
  R_RESERVE_OFFSET,
  R_ROOT_PAGES,
  R_VM_CAPACITY,
  R_VM_OFFSET,
  SIZEOF_ROOT,
  VM_WORDS,
  writeName,
} from "./layout.js";
import { RESERVE_HOME_PAGES, Reserve, SIZEOF_RESERVE } from "./reserve.js";
import { type Shrinker, ShrinkerRegistry } from "./shrinker.js";
import {
  alignUp,
  CLASS_SIZES,
  grownOrder,
  MID_TABLE,
  SMALL_LIMIT,
  SMALL_TABLE,
  slabGeometry,
} from "./size-classes.js";
import { Slabs } from "./slab.js";
import { SlabCache, type SlabCacheOptions } from "./slab-cache.js";
import { Vmalloc } from "./vmalloc.js";

export interface HeapOptions extends PageAllocatorOptions {
  /** Red zones and poisoning in every cache (SLUB debug). Default false. */
  debug?: boolean;
  /** Capacity of the cache directory, kmalloc classes (36) included. Default 64. */
  maxCaches?: number;
  /** vmalloc areas that can be live at once. Default: pages/64, at least 64. */
  vmallocAreas?: number;
  /** Empty slabs a cache keeps for reuse before returning them to the page layer. Default 1. */
  maxEmptySlabs?: number;
}

/** Allocation flags. `wait: false` is GFP_ATOMIC: fail at once rather than run shrinkers. */
export interface AllocFlags {
  wait?: boolean;
}

const DEFAULT_MAX_CACHES = 64;
/**
 * Bytes of objects an array cache holds at most (and at most AC_MAX_LIMIT objects, at least 2):
 * the bound matters for classes above 1 KiB only. 16 KiB gave the 8 KiB class 2 slots and the
 * 4 KiB class 4, so random frees and allocations of those sizes overflowed and drained the cache
 * every few calls (80,000 flushes and 170,000 slab allocations in the object benchmark's mixed
 * sizes); 64 KiB ran that workload in 0.94x the time (paired runs), and the real traces'
 * footprints did not move, since a trim drains the caches before any new peak.
 */
const AC_BYTES = 65536;
// Re-bound locally: V8 folds a module's own constants into compiled code, not imported bindings.
const SMALL = SMALL_TABLE;

export class Heap {
  readonly pages: PageAllocator;
  /** @internal */ readonly slabs: Slabs;
  /** @internal */ readonly vm: Vmalloc;
  /** @internal */ readonly reserve: Reserve;
  /** @internal */ readonly owner: Int32Array;
  /** @internal word index of the root */ readonly rw: number;
  /**
   * The heap's shrinkers, its own "slab-empty" first. Objects that later ones (user caches) free
   * land in array caches and partly used slabs: after them, the registry drains those (settle),
   * for direct reclaim and for a Reclaimer over this registry alike.
   */
  readonly shrinkers = new ShrinkerRegistry({ own: "slab-empty", run: (bytes) => this.shrinkSlabs(bytes) });
  private readonly ps: number;
  /** 1 / pageSize: exact for a power of two, and a multiply is much cheaper than a divide. */
  private readonly perByte: number;
  private readonly lastPage: number;
  private readonly firstPage: number;
  /** Largest kmalloc class of this heap, and the largest size the fast path's table covers. */
  private readonly maxClass: number;
  private readonly smallLimit: number;
  private marks: Watermarks | null = null;

  constructor(options: HeapOptions | { pages: PageAllocator }) {
    let pages: PageAllocator;
    if (
      options !== null &&
      typeof options === "object" &&
      "pages" in options &&
      options.pages instanceof PageAllocator
    ) {
      pages = options.pages;
    } else {
      pages = new PageAllocator(options as HeapOptions);
    }
    this.pages = pages;
    this.ps = pages.pageSize;
    this.perByte = 1 / pages.pageSize;
    this.firstPage = pages.firstPage;
    this.lastPage = pages.pageCount;
    let rootPage = pages.arena.root(ROOT_HEAP);
    if (rootPage === 0) rootPage = Heap.format(pages, options as HeapOptions);
    const w = pages.w;
    this.rw = rootPage * (this.ps >> 2);
    if (w[this.rw + R_MAGIC] !== HEAP_MAGIC) throw new CorruptionError("heap root has a bad magic number");
    const buf = pages.arena.buffer;
    this.owner = new Int32Array(buf, w[this.rw + R_OWNER_OFFSET], pages.pageCount);
    this.slabs = new Slabs(
      pages,
      this.rw,
      w[this.rw + R_DIR_OFFSET] >> 2,
      this.owner,
      w[this.rw + R_MAX_CACHES],
    );
    this.reserve = new Reserve(pages, w[this.rw + R_RESERVE_OFFSET], this.owner, (n) =>
      this.slabs.account(n),
    );
    this.vm = new Vmalloc(pages, this.rw, w[this.rw + R_VM_OFFSET], this.owner, this.reserve, (n) =>
      this.slabs.account(n),
    );
    const classes = w[this.rw + R_CLASS_COUNT];
    this.maxClass = classes > 0 ? CLASS_SIZES[classes - 1] : 0;
    this.smallLimit = Math.min(SMALL_LIMIT, this.maxClass);
    this.slabs.onPressure = (bytes) => this.reclaim(bytes);
    this.shrinkers.register({
      name: "slab-empty",
      priority: 0,
      count: () => this.slabs.emptyBytes(),
      scan: (bytes) => this.shrinkSlabs(bytes),
    });
  }

  /**
   * Free-page watermarks for this heap's page layer (Linux's zone watermarks), or null for none
   * (the default: every page is for everyone). With them, an allocation that would leave free
   * pages below `min` runs the shrinkers first (direct reclaim) and fails with an
   * OutOfMemoryError of reason "watermark" if they free too little; the pages below `min` are a
   * reserve for critical allocations (`{ wait: false }`). Background reclaim below `low` is the
   * reclaim layer's (`heapZone()` with a Reclaimer over `heap.shrinkers`). Per thread: a worker
   * sets its own.
   */
  setWatermarks(options: WatermarkOptions | null): Watermarks | null {
    this.marks = options === null ? null : watermarks(this.pages.capacity / this.ps, options);
    this.slabs.admit = this.marks === null ? () => {} : (n, critical) => this.admit(n, critical);
    return this.marks;
  }

  get watermarks(): Watermarks | null {
    return this.marks;
  }

  /** Attaches a heap created elsewhere on the same buffer (for example from a worker). */
  static attach(buffer: ArenaBuffer): Heap {
    const pages = new PageAllocator({ arena: Arena.attach(buffer) });
    if (pages.arena.root(ROOT_HEAP) === 0)
      throw new InvalidArgumentError("buffer", "heap", "arena holds no heap");
    return new Heap({ pages });
  }

  /** Lays out the root, the directories and the kmalloc caches; returns the root's first page. */
  private static format(pages: PageAllocator, options: HeapOptions): number {
    if (options.debug !== undefined && typeof options.debug !== "boolean") {
      throw new InvalidArgumentError("debug", options.debug, "must be a boolean");
    }
    const maxCaches = options.maxCaches ?? DEFAULT_MAX_CACHES;
    if (!Number.isInteger(maxCaches) || maxCaches < CLASS_SIZES.length || maxCaches > 65536) {
      throw new InvalidArgumentError(
        "maxCaches",
        maxCaches,
        `must be an integer from ${CLASS_SIZES.length} to 65536`,
      );
    }
    const vmCap = options.vmallocAreas ?? Math.max(64, Math.floor(pages.pageCount / 64));
    if (!Number.isInteger(vmCap) || vmCap < 1 || vmCap > 1 << 20) {
      throw new InvalidArgumentError("vmallocAreas", vmCap, "must be an integer from 1 to 2^20");
    }
    const maxEmpty = options.maxEmptySlabs ?? 1;
    if (!Number.isInteger(maxEmpty) || maxEmpty < 0) {
      throw new InvalidArgumentError("maxEmptySlabs", maxEmpty, "must be a non-negative integer");
    }
    const ownerOffset = SIZEOF_ROOT;
    const dirOffset = alignUp(ownerOffset + pages.pageCount * 4, 8);
    const vmOffset = dirOffset + maxCaches * CACHE_WORDS * 4;
    const reserveOffset = vmOffset + vmCap * VM_WORDS * 4;
    const rootBytes = reserveOffset + SIZEOF_RESERVE;
    // The reserve's home blocks follow the root's structures, in the same run of pages.
    const homeAt = Math.ceil(rootBytes / pages.pageSize);
    const rootPages = homeAt + RESERVE_HOME_PAGES;
    if (rootPages * pages.pageSize > pages.capacity) {
      // A lower bound: a larger arena's header and owner map are larger too.
      const least = (pages.firstPage + rootPages) * pages.pageSize;
      throw new InvalidArgumentError(
        "bytes",
        pages.pageCount * pages.pageSize,
        `too small for a heap: it needs at least ${least} bytes`,
      );
    }
    const root = pages.alloc(rootPages * pages.pageSize) / pages.pageSize;
    const base = root * pages.pageSize;
    fillBytes(pages.memory, 0, base, base + rootPages * pages.pageSize);
    const w = pages.w;
    const rw = base >> 2;
    w[rw + R_ROOT_PAGES] = rootPages;
    w[rw + R_MAX_CACHES] = maxCaches;
    w[rw + R_FLAGS] = options.debug ? FLAG_DEBUG : 0;
    w[rw + R_OWNER_OFFSET] = base + ownerOffset;
    w[rw + R_DIR_OFFSET] = base + dirOffset;
    w[rw + R_VM_OFFSET] = base + vmOffset;
    w[rw + R_VM_CAPACITY] = vmCap;
    w[rw + R_RESERVE_OFFSET] = base + reserveOffset;
    w[rw + R_MAX_EMPTY] = maxEmpty;
    Reserve.format(w, base + reserveOffset, root + homeAt);
    const owner = new Int32Array(pages.arena.buffer, base + ownerOffset, pages.pageCount);
    owner.fill(OWNER_META, root, root + rootPages);
    w[rw + R_FOOTPRINT] = rootPages;
    w[rw + R_PEAK] = rootPages;
    // The classes whose objects fit (at least 2 to a slab) at this page size and max order; larger
    // requests go to the page layer whole. Power-of-two classes are naturally aligned (Linux's
    // kmalloc guarantee), which costs no object per slab since the header is smaller than the
    // first object anyway.
    let classes = 0;
    for (const size of CLASS_SIZES) {
      const align = isPowerOfTwo(size) && size <= pages.pageSize / 2 ? size : 8;
      if (!fitsInSlab(pages, size, align, !!options.debug)) break;
      defineCache(pages, rw, `kmalloc-${size}`, size, align, CF_KMALLOC, !!options.debug);
      classes++;
    }
    w[rw + R_CLASS_COUNT] = classes;
    w[rw + R_MAGIC] = HEAP_MAGIC;
    pages.arena.setRoot(ROOT_HEAP, root);
    return root;
  }

  get memory(): Uint8Array {
    return this.pages.memory;
  }

  get debug(): boolean {
    return (this.pages.w[this.rw + R_FLAGS] & FLAG_DEBUG) !== 0;
  }

  // ---------------------------------------------------------------- kmalloc

  /**
   * At least `size` bytes, 8-byte aligned (a power-of-two size up to half a page is aligned to its
   * size). Contents are undefined (see calloc).
   */
  malloc(size: number, flags?: AllocFlags): number {
    if (typeof size === "number" && size <= this.smallLimit && size > 0 && (size | 0) === size) {
      return this.slabs.alloc(SMALL[(size + 7) >> 3], flags?.wait !== false, size);
    }
    return this.mallocSlow(size, flags);
  }

  private mallocSlow(size: number, flags?: AllocFlags): number {
    this.checkSize(size);
    if (size > this.maxClass) return this.allocLarge(size, 1, flags);
    return this.slabs.alloc(classFor(size), flags?.wait !== false, size);
  }

  /** `count * size` zeroed bytes. */
  calloc(count: number, size: number, flags?: AllocFlags): number {
    if (typeof count !== "number" || !Number.isSafeInteger(count) || count <= 0) {
      throw new InvalidArgumentError("count", count, "must be a positive integer");
    }
    this.checkSize(size);
    const bytes = count * size;
    if (!Number.isSafeInteger(bytes) || bytes > this.pages.capacity) {
      throw new InvalidArgumentError("size", `${count}*${size}`, "the product exceeds the arena");
    }
    const a = this.malloc(bytes, flags);
    fillBytes(this.pages.memory, 0, a, a + bytes);
    return a;
  }

  /**
   * Resizes the allocation at `address` to `size` bytes, keeping min(old, new) bytes. Stays in
   * place when the object's slot or the pages after a large block allow; otherwise moves.
   */
  realloc(address: number, size: number, flags?: AllocFlags): number {
    return this.slabs.withLock(() => {
      const old = this.usableSize(address);
      this.checkSize(size);
      const o = this.owner[Math.floor(address / this.ps)];
      if (o > 0) {
        if (size <= old) return address;
      } else if (
        size > this.maxClass &&
        this.admitGrowth(old, size, flags) &&
        this.pages.resize(address, size)
      ) {
        const before = old / this.ps;
        const after = this.pages.sizeOf(address) / this.ps;
        this.pages.w[this.rw + R_LARGE_PAGES] += after - before;
        this.slabs.account(after - before);
        return address;
      }
      const fresh = this.malloc(size, flags);
      const mem = this.pages.memory;
      mem.copyWithin(fresh, address, address + Math.min(old, size));
      this.free(address);
      return fresh;
    });
  }

  /** `size` bytes at a multiple of `align` (any power of two). */
  alignedAlloc(align: number, size: number, flags?: AllocFlags): number {
    if (typeof align !== "number" || !isPowerOfTwo(align)) {
      throw new InvalidArgumentError("alignment", align, "must be a positive power of two");
    }
    this.checkSize(size);
    if (align <= 8) return this.malloc(size, flags);
    // Power-of-two classes are naturally aligned: the smallest one that holds both is aligned.
    const slot = 2 ** Math.ceil(Math.log2(Math.max(size, align)));
    // Classes are naturally aligned up to half a page (see format); beyond that, whole pages.
    if (slot > this.ps / 2 || slot > this.maxClass) return this.allocLarge(size, align, flags);
    return this.slabs.alloc(classFor(slot), flags?.wait !== false, size);
  }

  /** Returns memory from malloc, calloc, realloc, alignedAlloc or any cache's alloc. */
  free(address: number): void {
    const page = this.pageAt(address);
    if (page >= this.firstPage && page < this.lastPage) {
      const o = this.owner[page];
      if (o > 0) {
        this.slabs.free(address, page, o);
        return;
      }
    }
    this.freeOther(address);
  }

  /**
   * @internal The page of `address`, or -1 for anything that is not a number (a BigInt or a
   * numeric string must get a typed error, not arithmetic): every entry that takes an address
   * maps it through here.
   */
  pageAt(address: number): number {
    return typeof address === "number" ? Math.floor(address * this.perByte) : -1;
  }

  /** free() of anything but a slab object: a large block, or an address to refuse. */
  private freeOther(address: number): void {
    const page = this.pageAt(address);
    if (page >= this.firstPage && page < this.lastPage) {
      if (this.owner[page] === OWNER_LARGE && address === page * this.ps) {
        this.freeLarge(address, page);
        return;
      }
    }
    throw this.foreign(address);
  }

  /** Bytes usable at `address` (its slot or its pages), at least what was asked for. */
  usableSize(address: number): number {
    const page = this.pageAt(address);
    if (Number.isInteger(address) && page >= this.firstPage && page < this.lastPage) {
      const o = this.owner[page];
      if (o > 0) {
        const c = this.slabs.validate(address, page, o);
        return this.slabs.size[c];
      }
      if (o === OWNER_LARGE && address === page * this.ps) return this.pages.sizeOf(address);
    }
    throw this.foreign(address);
  }

  // ---------------------------------------------------------------- caches

  /** A cache of fixed-size objects (kmem_cache_create). */
  createCache(name: string, objectSize: number, options: SlabCacheOptions = {}): SlabCache {
    return this.slabs.withLock(() => {
      if (typeof name !== "string" || name.length === 0)
        throw new InvalidArgumentError("name", name, "must be a non-empty string");
      if (typeof objectSize !== "number" || !Number.isSafeInteger(objectSize) || objectSize <= 0) {
        throw new InvalidArgumentError("objectSize", objectSize, "must be a positive integer");
      }
      const align = options.align ?? naturalAlign(objectSize);
      if (typeof align !== "number" || !isPowerOfTwo(align) || align > this.ps) {
        throw new InvalidArgumentError(
          "align",
          align,
          `must be a power of two up to the page size (${this.ps})`,
        );
      }
      if (options.ctor !== undefined && typeof options.ctor !== "function") {
        throw new InvalidArgumentError("ctor", options.ctor, "must be a function");
      }
      const maxObject = (this.ps * 2 ** Math.min(5, this.pages.maxOrder)) / 2;
      if (objectSize > maxObject) {
        throw new InvalidArgumentError(
          "objectSize",
          objectSize,
          `exceeds ${maxObject}, the largest slab object`,
        );
      }
      const c = defineCache(this.pages, this.rw, name, objectSize, align, 0, this.debug);
      // Constructed objects must stay constructed between uses: the array cache's free tag would
      // overwrite their first bytes, so a cache with a constructor goes to its slabs directly.
      if (options.ctor)
        this.pages.w[(this.pages.w[this.rw + R_DIR_OFFSET] >> 2) + c * CACHE_WORDS + C_AC_LIMIT] = 0;
      this.slabs.load();
      if (options.ctor) this.slabs.ctors[c] = options.ctor;
      return new SlabCache(this, c);
    });
  }

  // ---------------------------------------------------------------- vmalloc

  /**
   * A virtually contiguous buffer of `bytes` over single pages; returns its virtual address. Short
   * of pages it asks the shrinkers first, as malloc does, unless `{ wait: false }`.
   */
  vmalloc(bytes: number, flags?: AllocFlags): number {
    return this.slabs.withLock(() => {
      const critical = flags?.wait === false;
      if (this.marks !== null && Number.isSafeInteger(bytes) && bytes > 0) {
        const need = Math.ceil(bytes / this.ps);
        try {
          this.admit(need, critical);
        } catch (e) {
          if (critical || !this.reclaim(bytes)) throw e;
          this.admit(need, critical);
        }
      }
      try {
        return this.vm.alloc(bytes);
      } catch (e) {
        if (!(e instanceof OutOfMemoryError) || critical || !this.reclaim(bytes)) throw e;
        return this.vm.alloc(bytes);
      }
    });
  }

  vfree(vaddress: number): void {
    this.slabs.withLock(() => {
      this.vm.free(vaddress);
    });
  }

  /** Copies `length` bytes from virtual address `v` (any byte of an area). */
  vread(vaddress: number, length: number): Uint8Array {
    return this.vm.read(vaddress, length);
  }

  /** Copies `bytes` to virtual address `v`; returns the bytes written. */
  vwrite(vaddress: number, bytes: Uint8Array): number {
    return this.vm.write(vaddress, bytes);
  }

  /** The arena address that backs virtual address `v`. */
  vtranslate(vaddress: number): number {
    return this.vm.translate(vaddress);
  }

  // ---------------------------------------------------------------- reclaim hooks

  /** Returns empty slabs and cached large runs to the page layer; bytes freed. */
  shrink(): number {
    return this.slabs.withLock(() => {
      return this.shrinkSlabs(Number.POSITIVE_INFINITY);
    });
  }

  registerShrinker(shrinker: Shrinker): () => void {
    return this.shrinkers.register(shrinker);
  }

  /** Asks the shrinkers for `bytes`; true if anything was freed. */
  reclaim(bytes: number): boolean {
    return this.shrinkers.shrink(bytes).freed > 0;
  }

  private shrinkSlabs(bytes: number): number {
    let freed = this.slabs.runs.release();
    for (let c = 0; c < this.slabs.cacheCount && freed < bytes; c++) freed += this.slabs.shrinkCache(c);
    return freed;
  }

  // ---------------------------------------------------------------- inspection

  /**
   * The heap's figures. The cached large runs go back to the page layer first (large-runs.ts), as
   * the page layer's stats() merges its hot pages: free, contiguous and the footprint are exact.
   */
  stats(): HeapStats {
    return this.slabs.withLock(() => {
      this.slabs.runs.release();
      return heapStats(this);
    });
  }

  debugInfo(): string {
    return this.slabs.withLock(() => {
      return heapDebugInfo(this);
    });
  }

  /** Verifies the page layer and every object-layer invariant; throws CorruptionError. */
  check(): void {
    this.slabs.withLock(() => {
      heapCheck(this);
    });
  }

  // ---------------------------------------------------------------- internals

  /** Refuses an ordinary allocation of `pages` that would leave free pages below min. */
  private admit(pages: number, critical: boolean): void {
    const m = this.marks;
    if (m === null || critical) return;
    const free = this.pages.freePages;
    if (free - pages >= m.min) return;
    throw new OutOfMemoryError(
      pages * this.ps,
      this.pages.largestFree,
      this.pages.freeBytes,
      "watermark",
      `${free} free pages, min watermark ${m.min}: the pages below min are kept for critical ({ wait: false }) allocations`,
    );
  }

  /**
   * Before a large block grows in place from `old` to `size` bytes: the pages it would take obey
   * the watermarks as a new allocation's do (shrinkers first, then a "watermark" OutOfMemoryError).
   * True to go on; the move that follows a failed resize would need more pages still.
   */
  private admitGrowth(old: number, size: number, flags?: AllocFlags): boolean {
    const extra = Math.ceil(size / this.ps) - old / this.ps;
    if (this.marks === null || extra <= 0) return true;
    const critical = flags?.wait === false;
    try {
      this.admit(extra, critical);
    } catch (e) {
      if (critical || !this.reclaim(extra * this.ps)) throw e;
      this.admit(extra, critical);
    }
    return true;
  }

  private checkSize(size: number): void {
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size <= 0) {
      throw new InvalidArgumentError("size", size, "must be a positive integer number of bytes");
    }
    if (size > this.pages.capacity) {
      throw new InvalidArgumentError("size", size, `exceeds the arena's ${this.pages.capacity} usable bytes`);
    }
  }

  private allocLarge(size: number, align: number, flags?: AllocFlags): number {
    return this.slabs.withLock(() => {
      let address: number;
      const critical = flags?.wait === false;
      const need = Math.ceil(size / this.ps);
      // A cached run is page-aligned and exactly `need` pages: what the page layer would return.
      const cached = align <= this.ps ? this.slabs.runs.take(need) : 0;
      if (cached !== 0) {
        this.owner[cached] = OWNER_LARGE;
        const w = this.pages.w;
        w[this.rw + R_LARGE_COUNT]++;
        w[this.rw + R_LARGE_PAGES] += need;
        return cached * this.ps;
      }
      try {
        if (this.marks !== null) this.admit(need, critical);
        // The block the page layer will split (buddy.ts alloc): trim only if one is free.
        const order = Math.max(Math.ceil(Math.log2(need)), Math.log2(Math.max(1, align / this.ps)));
        this.slabs.trimBefore(need, order, -1);
        address = this.pages.alloc(size, align);
      } catch (e) {
        if (!(e instanceof OutOfMemoryError) || critical || !this.reclaim(size)) throw e;
        if (this.marks !== null) this.admit(need, critical);
        address = this.pages.alloc(size, align);
      }
      const page = address / this.ps;
      const n = this.pages.sizeOf(address) / this.ps;
      this.owner[page] = OWNER_LARGE;
      const w = this.pages.w;
      w[this.rw + R_LARGE_COUNT]++;
      w[this.rw + R_LARGE_PAGES] += n;
      this.slabs.account(n);
      return address;
    });
  }

  private freeLarge(address: number, page: number): void {
    this.slabs.withLock(() => {
      const n = this.pages.blockPages(page);
      const w = this.pages.w;
      w[this.rw + R_LARGE_COUNT]--;
      w[this.rw + R_LARGE_PAGES] -= n;
      if (this.slabs.runs.put(page, n)) return;
      this.pages.free(address);
      this.owner[page] = 0;
      this.slabs.account(-n);
    });
  }

  /** Why `address` is not something this heap handed out. */
  private foreign(address: number): Error {
    if (typeof address !== "number" || !Number.isInteger(address))
      return new InvalidAddressError(address, "not an address");
    const page = Math.floor(address / this.ps);
    if (page < this.firstPage || page >= this.lastPage)
      return new InvalidAddressError(address, "outside the arena");
    const o = this.owner[page];
    if (o === OWNER_LARGE) return new InvalidAddressError(address, "interior of a large allocation");
    if (o === OWNER_META) return new InvalidAddressError(address, "heap metadata");
    if (o <= OWNER_CACHED_END) {
      return address === page * this.ps
        ? new DoubleFreeError(address, "already freed (a large run the heap keeps for reuse)")
        : new InvalidAddressError(address, "interior of a freed large run");
    }
    if (o === OWNER_VMALLOC)
      return new InvalidAddressError(address, "a vmalloc page (use vfree with the virtual address)");
    for (let p = page - 1; p >= this.firstPage && p > page - (1 << 20); p--) {
      const first = this.owner[p];
      if (first === OWNER_LARGE || first <= OWNER_CACHED_END) {
        if ((p + this.pages.blockPages(p)) * this.ps > address) {
          const what = first === OWNER_LARGE ? "a large allocation" : "a freed large run";
          return new InvalidAddressError(address, `interior of ${what}`);
        }
        break;
      }
      if (first !== 0) break;
    }
    if (this.pages.isFree(address))
      return new DoubleFreeError(address, "already freed (its page is free memory)");
    return new InvalidAddressError(address, "not allocated by this heap");
  }
}

function classFor(size: number): number {
  return size <= SMALL_LIMIT ? SMALL_TABLE[(size + 7) >> 3] : MID_TABLE[(size + 127) >> 7];
}

/** Whether at least two objects of `size` at `align` fit in a slab of this heap. */
function fitsInSlab(pages: PageAllocator, size: number, align: number, debug: boolean): boolean {
  const stride = alignUp(size + (debug ? RED_ZONE_BYTES : 0), align);
  try {
    slabGeometry(stride, align, pages.pageSize, pages.maxOrder);
    return true;
  } catch {
    return false;
  }
}

/** Largest power of two dividing `size`, at most 8: 117 -> 1, 120 -> 8, 12 -> 4. */
function naturalAlign(size: number): number {
  let a = 1;
  while (a < 8 && size % (a * 2) === 0) a *= 2;
  return a;
}

/** Writes a cache descriptor into the next directory slot; returns its index. */
function defineCache(
  pages: PageAllocator,
  rw: number,
  name: string,
  size: number,
  align: number,
  flags: number,
  debug: boolean,
): number {
  const w = pages.w;
  const c = w[rw + R_CACHE_COUNT];
  if (c >= w[rw + R_MAX_CACHES]) {
    throw new InvalidArgumentError(
      "caches",
      c,
      `the cache directory is full (${w[rw + R_MAX_CACHES]} caches)`,
    );
  }
  const stride = alignUp(size + (debug ? RED_ZONE_BYTES : 0), align);
  // A named cache may hold one object per slab (the caller asked for it); kmalloc needs two.
  const g = slabGeometry(stride, align, pages.pageSize, pages.maxOrder, flags & CF_KMALLOC ? 2 : 1);
  const cd = (w[rw + R_DIR_OFFSET] >> 2) + c * CACHE_WORDS;
  w.fill(0, cd, cd + CACHE_WORDS);
  w[cd + C_SIZE] = size;
  w[cd + C_STRIDE] = stride;
  w[cd + C_ALIGN] = align;
  w[cd + C_SLAB_ORDER] = g.order;
  w[cd + C_PER_SLAB] = g.perSlab;
  w[cd + C_DATA_OFFSET] = g.dataOffset;
  w[cd + C_BITMAP_WORDS] = g.bitmapWords;
  w[cd + C_MAX_ORDER] = grownOrder(stride, align, pages.pageSize, pages.maxOrder, g.order, pages.pageCount);
  w[cd + C_FLAGS] = CF_LIVE | flags | (debug ? CF_DEBUG : 0);
  // Debug caches check every free against the bitmap, and objects smaller than the free tag
  // cannot carry it: neither gets an array cache. Others cache up to AC_BYTES of objects, so a
  // cache of large objects does not pin several idle slabs.
  const limit =
    debug || size < MIN_AC_OBJECT ? 0 : Math.max(2, Math.min(AC_MAX_LIMIT, Math.floor(AC_BYTES / stride)));
  w[cd + C_AC_LIMIT] = limit;
  w[cd + C_AC_BATCH] = limit >> 1;
  writeName(pages.memory, (cd + C_NAME) * 4, name);
  w[rw + R_CACHE_COUNT] = c + 1;
  return c;
}
