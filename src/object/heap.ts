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
import { heapCheck } from "./check.js";
import { defineCache, formatHeap } from "./format.js";
import { type HeapStats, heapDebugInfo, heapStats } from "./inspect.js";
import {
  C_AC_LIMIT,
  CACHE_WORDS,
  CF_CTOR,
  FLAG_DEBUG,
  HEAP_MAGIC,
  NAME_BYTES,
  OWNER_CACHED_END,
  OWNER_LARGE,
  OWNER_META,
  OWNER_VMALLOC,
  R_CLASS_COUNT,
  R_DIR_OFFSET,
  R_FLAGS,
  R_LARGE_COUNT,
  R_LARGE_PAGES,
  R_MAGIC,
  R_MAX_CACHES,
  R_OWNER_OFFSET,
  R_RESERVE_OFFSET,
  R_VM_OFFSET,
  VMALLOC_BASE,
} from "./layout.js";
import { Reserve } from "./reserve.js";
import { type Shrinker, ShrinkerRegistry } from "./shrinker.js";
import { CLASS_SIZES, MID_TABLE, SMALL_LIMIT, SMALL_TABLE } from "./size-classes.js";
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
  /**
   * Empty slabs a cache keeps for reuse before returning them to the page layer (Infinity: all of
   * them, until shrink()). Default 1.
   */
  maxEmptySlabs?: number;
}

/** Allocation flags. `wait: false` is GFP_ATOMIC: fail at once rather than run shrinkers. */
export interface AllocFlags {
  wait?: boolean;
}

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
  readonly shrinkers = new ShrinkerRegistry({
    own: "slab-empty",
    run: (bytes) => this.slabs.withLock(() => this.shrinkSlabs(bytes)),
  });
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
    if (rootPage === 0) rootPage = formatHeap(pages, options as HeapOptions);
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
      // Under the heap's lock: a Reclaimer over heap.shrinkers (or heap.reclaim()) in a pool
      // thread runs these while other threads change the lists and the large-run cache.
      count: () => this.slabs.withLock(() => this.slabs.emptyBytes()),
      scan: (bytes) => this.slabs.withLock(() => this.shrinkSlabs(bytes)),
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

  /**
   * Attaches a heap created elsewhere on the same buffer (for example from a worker). Such heaps
   * take no lock: one thread at a time may use them (Mempool's heap is the thread-safe one).
   */
  static attach(buffer: ArenaBuffer): Heap {
    const pages = new PageAllocator({ arena: Arena.attach(buffer) });
    if (pages.arena.root(ROOT_HEAP) === 0)
      throw new InvalidArgumentError("buffer", "heap", "arena holds no heap");
    return new Heap({ pages });
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
        // The move ends in free(address), which in debug mode reports an overflow: report it
        // before the new block is taken, or the failed call would leave that block allocated.
        this.slabs.checkOverflow(address, o);
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
      // The directory keeps names as NUL-padded UTF-8 (layout.ts NAME_BYTES): a name that would not
      // read back exactly (cut short, or at a NUL, or a lone surrogate) is refused, not mangled.
      if (utf8Length(name) > NAME_BYTES - 1 || name.includes("\0") || /\p{Cs}/u.test(name)) {
        throw new InvalidArgumentError(
          "name",
          name,
          `must be at most ${NAME_BYTES - 1} bytes of UTF-8, with no NUL and no lone surrogate`,
        );
      }
      if (typeof objectSize !== "number" || !Number.isSafeInteger(objectSize) || objectSize <= 0) {
        throw new InvalidArgumentError("objectSize", objectSize, "must be a positive integer");
      }
      if (options === null || typeof options !== "object")
        throw new InvalidArgumentError("options", options, "must be an object ({ align?, ctor? })");
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
      const flags = options.ctor ? CF_CTOR : 0;
      const c = defineCache(this.pages, this.rw, name, objectSize, align, flags, this.debug);
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
    // Caches another Heap object on this arena created since this one last looked have no
    // constants here yet (array-cache words among them): load them before walking every cache.
    this.slabs.load();
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
      // Read again under the lock: in a pool another thread's free of the same block may have
      // won since free() looked (a double free racing itself), and must be refused, not repeated.
      if (this.owner[page] !== OWNER_LARGE) throw this.foreign(address);
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
      return address >= VMALLOC_BASE
        ? new InvalidAddressError(address, "a vmalloc address (use vfree, vread, vwrite)")
        : new InvalidAddressError(address, "outside the arena");
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

function utf8Length(s: string): number {
  return new TextEncoder().encode(s).length;
}

/** Largest power of two dividing `size`, at most 8: 117 -> 1, 120 -> 8, 12 -> 4. */
function naturalAlign(size: number): number {
  let a = 1;
  while (a < 8 && size % (a * 2) === 0) a *= 2;
  return a;
}
