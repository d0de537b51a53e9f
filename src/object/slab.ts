/**
 * Slab caches: objects of one size carved from slabs of 2^k pages, with a bitmap free list in
 * each slab's header (layout.ts), exactly as in the classic design:
 *
 *     slab (2^k pages, aligned) ──────────────────────────────────────────────────────────┐
 *     │ header: cache, inuse, next, prev, hint, list │ bitmap 0110… │ obj0 │ obj1 │ … │ tail │
 *
 * In front of the slabs sits each cache's array cache (Linux SLAB's array_cache):
 *
 *     free(a) ──> push a on the array cache ──(full: return the oldest batch to their slabs)
 *     alloc() <── pop from the array cache  ──(empty: take a 0 bit from the first PARTIAL slab)
 *
 * so the common free/alloc pair touches no slab header. free() validates an address from the
 * owner map (its cache, slab and slab order, layout.ts slabOwner) and that geometry: anything but
 * an object start is an InvalidAddressError,
 * and an object that carries FREE_TAG is checked exactly (array cache, then bitmap) and refused
 * with DoubleFreeError if it is free. Nothing changes on either error.
 *
 * Bitmap path: alloc finds a 0 bit starting at the slab's hint word (one clz32 per word; every
 * word below the hint is full). Slabs move between lists only when they fill up or empty: full
 * slabs sit on no list (as in SLUB), empty ones beyond the cache's allowance go back to the page
 * layer at once, the rest wait for shrink() (the heap's shrinker).
 *
 * Slabs grow with their cache (size-classes.ts slabOrder): a cache's first slabs are small, and
 * once it holds 8 times a bigger slab it takes bigger ones, up to an order that wastes at most
 * 1/32 in header and tail. Each slab's order is in its owner-map entries, so slabs of several
 * orders live side by side on the same lists:
 *
 *     kmalloc-4096:  [4p: 3 obj] [4p: 3 obj] … (64 pages held) [8p: 7 obj] … [32p: 31 obj] …
 *
 * Trimming (Slabs.trim), for the footprint's high-water mark (issue 3 wants it within 1.25x of
 * the live bytes): objects parked on the array cache of a class nobody uses any more each pin a
 * slab, and a cache keeps empty slabs for reuse. Before the heap takes pages that would set a new
 * peak, it drains this thread's array caches and returns every empty slab, at most once per
 * 1/64 of growth of the peak (layout.ts TRIM_SHIFT), and only when the block it then takes is
 * free, so that a call that fails leaves everything as it was:
 *
 *     footprint  ──/\──/\/\──────/‾‾  peak: trim first, then grow only by what is still missing
 *
 * Invariants (checked by Heap.check):
 *   a slab's INUSE = set bits of its bitmap (padding bits excluded)
 *   PARTIAL slabs have 0 < INUSE < per, FULL ones INUSE = per, EMPTY ones INUSE = 0, where per
 *     is the objects of the slab's geometry (its cache and order)
 *   objects in use = sum of INUSE - objects on the array cache
 *   every object on an array cache has its bit set and FREE_TAG in its first bytes
 *   every page of a slab has slabOwner(its cache, its order, its distance from the slab start) in
 *     the owner map, with first order <= order <= grown order
 *   a cache's PAGES = the pages of its slabs
 */

import type { Lock } from "../arena/mutex.js";
import { DoubleFreeError, InvalidAddressError, OutOfMemoryError } from "../errors.js";
import type { PageAllocator } from "../page/buddy.js";
import { checkPoison, checkRedZone, paintRedZone, poison } from "./debug.js";
import { LargeRunCache } from "./large-runs.js";
import * as L from "./layout.js";
import { fitObjects, slabOrder } from "./size-classes.js";

// Re-bound locally: V8 folds a module's own constants into compiled code, not imported bindings.
const C_SIZE = L.C_SIZE;
const C_STRIDE = L.C_STRIDE;
const C_PER_SLAB = L.C_PER_SLAB;
const C_DATA_OFFSET = L.C_DATA_OFFSET;
const C_SLAB_ORDER = L.C_SLAB_ORDER;
const C_BITMAP_WORDS = L.C_BITMAP_WORDS;
const C_FLAGS = L.C_FLAGS;
const C_ALIGN = L.C_ALIGN;
const C_MAX_ORDER = L.C_MAX_ORDER;
const C_PAGES = L.C_PAGES;
const ORDERS = L.ORDERS_PER_CACHE;
const C_NAME = L.C_NAME;
const C_PARTIAL = L.C_PARTIAL;
const C_EMPTY = L.C_EMPTY;
const C_SLABS = L.C_SLABS;
const C_EMPTY_COUNT = L.C_EMPTY_COUNT;
const C_AC_AVAIL = L.C_AC_AVAIL;
const C_AC_LIMIT = L.C_AC_LIMIT;
const C_AC_ENTRIES = L.C_AC_ENTRIES;
const CACHE_WORDS = L.CACHE_WORDS;
const CF_DEBUG = L.CF_DEBUG;
const S_CACHE = L.S_CACHE;
const S_INUSE = L.S_INUSE;
const S_NEXT = L.S_NEXT;
const S_PREV = L.S_PREV;
const S_HINT = L.S_HINT;
const S_LIST = L.S_LIST;
const S_BITMAP = L.S_BITMAP;
const LIST_PARTIAL = L.LIST_PARTIAL;
const LIST_FULL = L.LIST_FULL;
const LIST_EMPTY = L.LIST_EMPTY;
const LIST_MASK = L.LIST_MASK;
const LIST_CURRENT = L.LIST_CURRENT;
const HOLDER_SHIFT = L.HOLDER_SHIFT;
const R_CACHE_COUNT = L.R_CACHE_COUNT;
const R_FOOTPRINT = L.R_FOOTPRINT;
const R_PEAK = L.R_PEAK;
const R_MAX_EMPTY = L.R_MAX_EMPTY;
const R_TRIM_GROWN = L.R_TRIM_GROWN;
const R_TRIMS = L.R_TRIMS;
const TRIM_SHIFT = L.TRIM_SHIFT;
const TAG0 = L.FREE_TAG[0];
const TAG1 = L.FREE_TAG[1];
const TAG2 = L.FREE_TAG[2];
const TAG3 = L.FREE_TAG[3];
/** The tag as one little-endian Int32, for objects at 4-byte aligned addresses. */
const TAG32 = TAG0 | (TAG1 << 8) | (TAG2 << 16) | (TAG3 << 24);

/**
 * The hot paths read each cache's constants from one packed Int32Array (INFO_WORDS per geometry,
 * that is per cache and slab order: index (cache * ORDERS + order) * INFO_WORDS, layout.ts
 * ownerGeometry), so a call loads one array's base and bounds once instead of one per constant.
 * The array-cache fields are the cache's, repeated for each order; alloc() reads order 0's.
 */
const INFO_WORDS = 8;
const CACHE_INFO = ORDERS * INFO_WORDS;
const I_STRIDE = 0;
const I_PER_SLAB = 1;
const I_DATA = 2;
const I_AC_WORD = 3;
const I_AC_ENTRY = 4;
const I_AC_LIMIT = 5;
/** acBase of a detached thread (detachArrayCaches). */
const DETACHED = -2;
const I_DEBUG = 6;

/** Called when the page layer has no block for a new slab; returns true if it freed something. */
export type PressureHandler = (bytes: number) => boolean;

export class Slabs {
  readonly pages: PageAllocator;
  readonly w: Int32Array;
  readonly f64: Float64Array;
  readonly mem: Uint8Array;
  readonly owner: Int32Array;
  readonly ps: number;
  private readonly wpp: number;
  /** word index of the heap root */
  readonly rw: number;
  /** word index of cache 0's descriptor */
  readonly dw: number;
  // Per-cache constants, copied out of the directory: fixed once a cache exists.
  readonly size: Int32Array;
  readonly stride: Int32Array;
  readonly perSlab: Int32Array;
  readonly dataOffset: Int32Array;
  readonly order: Int32Array;
  readonly bitmapWords: Int32Array;
  /** Order the cache's slabs grow to (layout.ts C_MAX_ORDER). */
  readonly maxOrder: Int32Array;
  // Per geometry (cache * ORDERS + order): objects, first object's offset and bitmap words of a
  // slab of that order; 0 objects for orders the cache does not use.
  readonly gPerSlab: Int32Array;
  readonly gData: Int32Array;
  readonly gWords: Int32Array;
  readonly inv: Float64Array;
  readonly debug: Uint8Array;
  /** word index of each cache's array-cache counters, and Float64 index of its entries */
  private readonly acWord: Int32Array;
  private readonly acEntry: Int32Array;
  private readonly acLimit: Int32Array;
  private readonly info: Int32Array;
  /**
   * Word index of this thread's array-cache region (a pool gives each worker its own, see
   * layout.ts acSlotWords), or -1 to use the caches inside the directory descriptors.
   */
  private acBase = -1;
  /**
   * With acBase DETACHED: a word that stays 0, which every cache's array cache then points at
   * (empty, limit 0), so that every call takes a slow path (detachArrayCaches).
   */
  private zeroWord = 0;
  /** Words per cache in a region, and what bounds a region's array caches (bindArrayCaches). */
  private acSlotWords = 0;
  private acEntries = 0;
  private acBytes = 0;
  /** This thread's slot in a pool (held slabs carry it, see heldSlab); 0 outside a pool. */
  private holder = 0;
  /** Freed large runs kept for reuse (the heap's; here because trim() returns them too). */
  readonly runs: LargeRunCache;
  /** @internal Set by a pool: the lock shared with the page layer. */
  mutex: Lock | null = null;
  /** @internal Set by a pool: the array-cache regions of the other live threads. */
  otherRegions: () => number[] = () => [];
  /** Constructors of caches created in this thread, run on every object of a new slab. */
  readonly ctors: Array<((address: number, memory: Uint8Array) => void) | undefined> = [];
  private known = 0;
  private readonly names: string[] = [];
  onPressure: PressureHandler = () => false;
  /**
   * Called before a new slab takes `pages` from the page layer; throws OutOfMemoryError to refuse
   * (the heap's watermarks). `critical`: the caller's `{ wait: false }`, which may use the reserve.
   */
  admit: (pages: number, critical: boolean) => void = () => {};
  /** Whether the allocation in progress is critical (set under the lock by the slow path). */
  private critical = false;

  constructor(pages: PageAllocator, rootWord: number, dirWord: number, owner: Int32Array, maxCaches: number) {
    this.pages = pages;
    this.w = pages.w;
    const buf = pages.arena.buffer;
    this.f64 = new Float64Array(buf, 0, Math.floor(buf.byteLength / 8));
    this.mem = pages.memory;
    this.owner = owner;
    this.ps = pages.pageSize;
    this.wpp = this.ps >> 2;
    this.rw = rootWord;
    this.dw = dirWord;
    this.size = new Int32Array(maxCaches);
    this.stride = new Int32Array(maxCaches);
    this.perSlab = new Int32Array(maxCaches);
    this.dataOffset = new Int32Array(maxCaches);
    this.order = new Int32Array(maxCaches);
    this.bitmapWords = new Int32Array(maxCaches);
    this.maxOrder = new Int32Array(maxCaches);
    this.gPerSlab = new Int32Array(maxCaches * ORDERS);
    this.gData = new Int32Array(maxCaches * ORDERS);
    this.gWords = new Int32Array(maxCaches * ORDERS);
    this.inv = new Float64Array(maxCaches);
    this.debug = new Uint8Array(maxCaches);
    this.acWord = new Int32Array(maxCaches);
    this.acEntry = new Int32Array(maxCaches);
    this.acLimit = new Int32Array(maxCaches);
    this.info = new Int32Array(maxCaches * CACHE_INFO);
    this.runs = new LargeRunCache(pages, rootWord, owner, (n) => this.account(n));
    this.load();
  }

  /** Copies the constants of caches created since the last look (here or in another thread). */
  load(): void {
    const w = this.w;
    const count = w[this.rw + R_CACHE_COUNT];
    for (let c = this.known; c < count; c++) {
      const cd = this.dw + c * CACHE_WORDS;
      this.size[c] = w[cd + C_SIZE];
      this.stride[c] = w[cd + C_STRIDE];
      this.perSlab[c] = w[cd + C_PER_SLAB];
      this.dataOffset[c] = w[cd + C_DATA_OFFSET];
      this.order[c] = w[cd + C_SLAB_ORDER];
      this.bitmapWords[c] = w[cd + C_BITMAP_WORDS];
      this.inv[c] = 1 / w[cd + C_STRIDE];
      this.debug[c] = w[cd + C_FLAGS] & CF_DEBUG ? 1 : 0;
      const region = this.acBase >= 0;
      const detached = this.acBase === DETACHED;
      const own = detached ? this.zeroWord : region ? this.acBase + c * this.acSlotWords : cd + C_AC_AVAIL;
      this.acWord[c] = own;
      this.acEntry[c] = (own + (region ? L.AC_SLOT_ENTRIES : C_AC_ENTRIES - C_AC_AVAIL)) >> 1;
      this.acLimit[c] = detached
        ? 0
        : region
          ? L.regionAcLimit(w[cd + C_AC_LIMIT], this.stride[c], this.acEntries, this.acBytes)
          : w[cd + C_AC_LIMIT];
      this.maxOrder[c] = Math.max(this.order[c], w[cd + C_MAX_ORDER]);
      for (let k = 0; k < ORDERS; k++) {
        const g = c * ORDERS + k;
        let per = 0;
        let data = 0;
        if (k === this.order[c]) {
          per = this.perSlab[c];
          data = this.dataOffset[c];
        } else if (k > this.order[c] && k <= this.maxOrder[c]) {
          const fit = fitObjects(this.ps * 2 ** k, this.stride[c], w[cd + C_ALIGN]);
          per = fit.perSlab;
          data = fit.dataOffset;
        }
        this.gPerSlab[g] = per;
        this.gData[g] = data;
        this.gWords[g] = Math.ceil(per / 32);
        const b = g * INFO_WORDS;
        this.info[b + I_STRIDE] = this.stride[c];
        this.info[b + I_PER_SLAB] = per;
        this.info[b + I_DATA] = data;
        this.info[b + I_AC_WORD] = this.acWord[c];
        this.info[b + I_AC_ENTRY] = this.acEntry[c];
        this.info[b + I_AC_LIMIT] = this.acLimit[c];
        this.info[b + I_DEBUG] = this.debug[c];
      }
      this.names[c] = readName(this.mem, (cd + C_NAME) * 4);
    }
    this.known = count;
  }

  get cacheCount(): number {
    return this.w[this.rw + R_CACHE_COUNT];
  }

  name(c: number): string {
    if (c >= this.known) this.load();
    return this.names[c] ?? `cache#${c}`;
  }

  /**
   * One object from cache c. `wait` false fails at once instead of asking shrinkers; `requested`
   * is what an OutOfMemoryError reports (the caller's size, default the object size).
   */
  alloc(c: number, wait: boolean, requested = 0): number {
    // Kept tiny so V8 inlines it into callers: pop the array cache, or take the slow path.
    const info = this.info;
    const b = c * CACHE_INFO;
    const w = this.w;
    const aw = info[b + I_AC_WORD];
    const avail = w[aw];
    if (avail !== 0) {
      w[aw] = avail - 1;
      const address = this.f64[info[b + I_AC_ENTRY] + avail - 1];
      this.mem[address] = 0;
      return address;
    }
    return this.allocSlow(c, wait, requested);
  }

  private allocSlow(c: number, wait: boolean, requested: number): number {
    const m = this.mutex;
    if (m !== null) m.lock();
    this.critical = !wait;
    try {
      if (this.debug[c] !== 0) return this.allocDebug(c, wait);
      let address: number;
      try {
        address = this.allocFromSlab(c, false);
      } catch (e) {
        if (!(e instanceof OutOfMemoryError) || !wait || !this.onPressure(this.ps * 2 ** this.nextOrder(c)))
          throw e;
        // The shrinkers gave memory back: freed objects of this very cache may now sit on the
        // array cache (a user cache evicting entries), or pages in the page layer.
        const aw = this.acWord[c];
        const avail = this.w[aw];
        if (avail !== 0) {
          this.w[aw] = avail - 1;
          const cached = this.f64[this.acEntry[c] + avail - 1];
          this.mem[cached] = 0;
          return cached;
        }
        address = this.allocFromSlab(c, false);
      }
      // Handed out: no longer tagged free (see free()).
      if (this.acLimit[c] > 0) this.mem[address] = 0;
      // A thread sharing the heap refills its array cache with a batch while it holds the lock
      // (Linux SLAB's cache_alloc_refill), so its next allocations need no lock at all.
      if (m !== null && this.acLimit[c] > 0) this.refillCached(c);
      return address;
    } catch (e) {
      if (e instanceof OutOfMemoryError && requested > 0 && e.requested !== requested) {
        throw new OutOfMemoryError(requested, e.largestFree, e.free, e.reason, e.message);
      }
      throw e;
    } finally {
      if (m !== null) m.unlock();
    }
  }

  /**
   * Frees the object at `address`, on page `page` whose owner-map entry is `o` (> 0). Throws
   * InvalidAddressError for anything but an object start, DoubleFreeError for a free object;
   * nothing changes on either.
   */
  free(address: number, page: number, o: number): void {
    // Kept tiny so V8 inlines it: the common case (a live, 4-byte aligned object of a known cache
    // with room on its array cache) is pushed here; anything else is redone by freeSlow. "Live"
    // is told by the object's first word alone: every free object of a cache with an array cache
    // carries the free tag (layout.ts FREE_TAG), so an object without it was handed out, and one
    // with it goes to freeSlow's exact check. No read of the slab's bitmap on this path.
    const c = o >> 9;
    const info = this.info;
    const b = (o >> 6) * INFO_WORDS;
    const slab = page - (o & 63) + 1;
    const off = address - slab * this.ps - info[b + I_DATA];
    const idx = Math.round(off * this.inv[c]);
    const w = this.w;
    if (
      c < this.known &&
      idx * info[b + I_STRIDE] === off &&
      idx >= 0 &&
      idx < info[b + I_PER_SLAB] &&
      (address & 3) === 0 &&
      address < 0x80000000
    ) {
      const t = address >> 2;
      const aw = info[b + I_AC_WORD];
      const avail = w[aw];
      if (avail < info[b + I_AC_LIMIT] && w[t] !== TAG32) {
        w[t] = TAG32;
        this.f64[info[b + I_AC_ENTRY] + avail] = address;
        w[aw] = avail + 1;
        return;
      }
    }
    this.freeSlow(address, page, o);
  }

  /** free() for everything but the common case; validates fully and throws typed errors. */
  private freeSlow(address: number, page: number, o: number): void {
    this.withLock(() => this.freeSlowLocked(address, page, o));
  }

  private freeSlowLocked(address: number, page: number, o: number): void {
    const c = L.ownerCache(o);
    if (c >= this.known) this.load();
    const g = L.ownerGeometry(o);
    const slab = page - (o & 63) + 1;
    const off = address - slab * this.ps - this.gData[g];
    const idx = Math.round(off * this.inv[c]);
    if (idx * this.stride[c] !== off || idx < 0 || idx >= this.gPerSlab[g]) throw this.notObject(address, c);
    const limit = this.acLimit[c];
    if (limit === 0) {
      this.freeToSlab(c, g, address, slab, idx);
      return;
    }
    const w = this.w;
    if ((w[slab * this.wpp + S_BITMAP + (idx >> 5)] & (1 << (idx & 31))) === 0)
      throw this.alreadyFree(address, c);
    this.pushCached(c, address, limit);
  }

  /** Moves up to half an array cache of objects from the slabs onto it (tagged, bits set). */
  private refillCached(c: number): void {
    const w = this.w;
    const aw = this.acWord[c];
    const e = this.acEntry[c];
    const mem = this.mem;
    let avail = w[aw];
    const target = Math.min(this.acLimit[c], avail + Math.max(1, this.acLimit[c] >> 1));
    while (avail < target) {
      // Only from slabs the cache already has: a refill never takes a new slab.
      const slab = this.nextSlab(c, false, false);
      if (slab === 0) break;
      const address = this.takeObject(c, slab);
      mem[address] = TAG0;
      mem[address + 1] = TAG1;
      mem[address + 2] = TAG2;
      mem[address + 3] = TAG3;
      this.f64[e + avail] = address;
      // Counted one by one: a thread killed here loses at most this object, not the batch.
      w[aw] = ++avail;
    }
  }

  /** Pushes a live object on its array cache, flushing a batch to the slabs if it is full. */
  private pushCached(c: number, address: number, limit: number): void {
    const mem = this.mem;
    if (
      mem[address] === TAG0 &&
      mem[address + 1] === TAG1 &&
      mem[address + 2] === TAG2 &&
      mem[address + 3] === TAG3
    ) {
      this.checkNotCached(c, address);
    }
    const w = this.w;
    const aw = this.acWord[c];
    let avail = w[aw];
    if (avail === limit) avail = this.flush(c, Math.max(1, limit >> 1));
    mem[address] = TAG0;
    mem[address + 1] = TAG1;
    mem[address + 2] = TAG2;
    mem[address + 3] = TAG3;
    this.f64[this.acEntry[c] + avail] = address;
    w[aw] = avail + 1;
  }

  /**
   * The cache of the live object at `address` (on `page`, owner-map entry `o` > 0); a typed error
   * if the address is not a live object. For usableSize and realloc.
   */
  validate(address: number, page: number, o: number): number {
    const c = L.ownerCache(o);
    const g = L.ownerGeometry(o);
    const slab = page - (o & 63) + 1;
    if (c >= this.known) this.load();
    const off = address - slab * this.ps - this.gData[g];
    const idx = Math.round(off * this.inv[c]);
    if (idx * this.stride[c] !== off || idx < 0 || idx >= this.gPerSlab[g]) throw this.notObject(address, c);
    this.checkNotFree(c, address, slab, idx);
    return c;
  }

  /** Cache index of a page whose owner-map entry is `o` (> 0). */
  cacheOf(o: number): number {
    return L.ownerCache(o);
  }

  /** Returns the array cache's objects to their slabs (all of them). */
  drain(c: number): void {
    const avail = this.w[this.acWord[c]];
    if (avail > 0) this.flush(c, avail);
  }

  /** Objects on cache c's array cache. */
  cached(c: number): number {
    return this.w[this.acWord[c]];
  }

  /** Objects on cache c's array caches, this thread's and (in a pool) every other live thread's. */
  cachedAll(c: number): number {
    let n = 0;
    for (const [aw] of this.acLocations(c)) n += this.w[aw];
    return n;
  }

  /** Address of entry i of cache c's array cache. */
  cachedAt(c: number, i: number): number {
    return this.f64[this.acEntry[c] + i];
  }

  /** Returns cache c's array cache and empty slabs to the page layer; bytes freed. */
  shrinkCache(c: number): number {
    return this.withLock(() => this.shrinkCacheLocked(c));
  }

  private shrinkCacheLocked(c: number, drain = true): number {
    const w = this.w;
    const before = w[this.rw + R_FOOTPRINT];
    if (drain) {
      this.drain(c);
      if (this.holder !== 0) this.unhold(c, this.acWord[c] + L.AC_SLOT_HELD, this.holder);
    }
    const cd = this.dw + c * CACHE_WORDS;
    while (w[cd + C_EMPTY_COUNT] > 0) {
      const slab = w[cd + C_EMPTY];
      this.unlink(c, slab);
      w[cd + C_EMPTY_COUNT]--;
      this.release(c, slab);
    }
    return (before - w[this.rw + R_FOOTPRINT]) * this.ps;
  }

  /**
   * Called before the heap takes `pages` more from the page layer, out of a free block of 2^order
   * pages. If that would raise the footprint's high-water mark, and the mark has grown by
   * 1/2^TRIM_SHIFT of itself since the last trim, trims first (see trim); true if it did. Only if
   * such a block is free: then the allocation cannot fail (trimming only frees memory), and a call
   * that fails must leave the heap as it was (DESIGN.md principle 4).
   */
  trimBefore(pages: number, order: number, except: number): boolean {
    const w = this.w;
    const r = this.rw;
    if (w[r + R_FOOTPRINT] + pages <= w[r + R_PEAK]) return false;
    if (order > this.pages.maxOrder || this.pages.largestFree < this.ps * 2 ** order) return false;
    const grown = w[r + R_TRIM_GROWN] + pages;
    if (grown < w[r + R_PEAK] >> TRIM_SHIFT) {
      w[r + R_TRIM_GROWN] = grown;
      return false;
    }
    w[r + R_TRIM_GROWN] = 0;
    this.trim(except);
    return true;
  }

  /**
   * Returns the heap's idle memory to the page layer: this thread's array caches (except cache
   * `except`'s, which the caller may be filling) go back to their slabs, and every empty slab,
   * those the drain emptied and those kept for reuse (maxEmptySlabs), goes back to the page layer,
   * as do the cached large runs (large-runs.ts). Objects parked on the array cache of a size class nobody uses any more pin a slab each; on a
   * small heap with ~36 classes those slabs are a large part of the footprint (BENCHMARKS.md).
   */
  trim(except: number): void {
    this.w[this.rw + R_TRIMS]++;
    this.runs.release();
    for (let c = 0; c < this.known; c++) this.shrinkCacheLocked(c, c !== except);
  }

  /** Bytes held in empty slabs of all caches. */
  emptyBytes(): number {
    let n = this.runs.heldPages * this.ps;
    for (let c = 0; c < this.cacheCount; c++) {
      for (
        let slab = this.w[this.dw + c * CACHE_WORDS + C_EMPTY];
        slab !== 0;
        slab = this.w[slab * this.wpp + S_NEXT]
      )
        n += this.ps * 2 ** L.ownerOrder(this.owner[slab]);
      n += this.w[this.acWord[c]] * this.stride[c];
    }
    return n;
  }

  /** Pages taken from (positive) or given back to (negative) the page layer by the heap. */
  account(pages: number): void {
    const w = this.w;
    const now = w[this.rw + R_FOOTPRINT] + pages;
    w[this.rw + R_FOOTPRINT] = now;
    if (now > w[this.rw + R_PEAK]) w[this.rw + R_PEAK] = now;
  }

  // ---------------------------------------------------------------- bitmap path

  private allocFromSlab(c: number, wait: boolean): number {
    return this.takeObject(c, this.nextSlab(c, true, wait));
  }

  /**
   * The slab cache c's next object comes from: in a pool the one this thread holds (heldSlab),
   * elsewhere the head of the partial list, else an empty slab or (with `create`) a new one;
   * 0 if there is none and `create` is false.
   */
  private nextSlab(c: number, create: boolean, wait: boolean): number {
    if (this.holder !== 0) return this.heldSlab(c, create, wait);
    const cd = this.dw + c * CACHE_WORDS;
    const slab = this.w[cd + C_PARTIAL];
    if (slab !== 0) return slab;
    return create || this.w[cd + C_EMPTY] !== 0 ? this.refill(c, wait) : 0;
  }

  /** Sets the first free bit of `slab` (cache c, not full) and returns that object's address. */
  private takeObject(c: number, slab: number): number {
    const w = this.w;
    const g = this.owner[slab] >> 6;
    const h = slab * this.wpp;
    let wi = w[h + S_HINT];
    let word = w[h + S_BITMAP + wi];
    while (word === -1) word = w[h + S_BITMAP + ++wi];
    const free = ~word;
    const bit = 31 - Math.clz32(free & -free);
    w[h + S_BITMAP + wi] = word | (1 << bit);
    w[h + S_HINT] = wi;
    const inuse = w[h + S_INUSE] + 1;
    w[h + S_INUSE] = inuse;
    if (inuse === this.gPerSlab[g]) this.move(c, slab, LIST_FULL);
    return slab * this.ps + this.gData[g] + ((wi << 5) + bit) * this.stride[c];
  }

  /** Clears object idx's bit in its slab, of geometry g (the bit must be set). */
  private freeToSlab(c: number, g: number, address: number, slab: number, idx: number): void {
    const w = this.w;
    const h = slab * this.wpp;
    const wi = h + S_BITMAP + (idx >> 5);
    const bit = 1 << (idx & 31);
    const word = w[wi];
    if ((word & bit) === 0) throw this.alreadyFree(address, c);
    if (this.debug[c] !== 0) this.freeDebug(c, address);
    w[wi] = word ^ bit;
    if (idx >> 5 < w[h + S_HINT]) w[h + S_HINT] = idx >> 5;
    const inuse = w[h + S_INUSE] - 1;
    w[h + S_INUSE] = inuse;
    if (inuse === 0) {
      if ((w[h + S_LIST] & LIST_CURRENT) === 0) this.emptied(c, slab);
    } else if (inuse === this.gPerSlab[g] - 1) this.move(c, slab, LIST_PARTIAL);
  }

  /** Returns the oldest n array-cache objects to their slabs; the new count. */
  private flush(c: number, n: number): number {
    const w = this.w;
    const aw = this.acWord[c];
    const avail = w[aw];
    const e = this.acEntry[c];
    const f64 = this.f64;
    const ps = this.ps;
    for (let i = 0; i < n; i++) {
      const address = f64[e + i];
      const page = Math.floor(address / ps);
      const o = this.owner[page];
      const slab = L.ownerSlab(page, o);
      const g = o >> 6;
      const idx = Math.round((address - slab * ps - this.gData[g]) * this.inv[c]);
      this.freeToSlab(c, g, address, slab, idx);
    }
    f64.copyWithin(e, e + n, e + avail);
    w[aw] = avail - n;
    return avail - n;
  }

  /** Throws DoubleFreeError if the object is on the array cache or its bit is clear. */
  private checkNotFree(c: number, address: number, slab: number, idx: number): void {
    const word = this.w[slab * this.wpp + S_BITMAP + (idx >> 5)];
    if ((word & (1 << (idx & 31))) === 0) throw this.alreadyFree(address, c);
    this.checkNotCached(c, address);
  }

  /** Throws DoubleFreeError if the object sits on an array cache of cache c, this thread's or another's. */
  private checkNotCached(c: number, address: number): void {
    for (const [aw, e] of this.acLocations(c)) {
      const avail = this.w[aw];
      for (let i = 0; i < avail; i++) if (this.f64[e + i] === address) throw this.alreadyFree(address, c);
    }
  }

  /** [count word, first entry's Float64 index] of every array cache of cache c: this thread's first. */
  acLocations(c: number): Array<[number, number]> {
    const out: Array<[number, number]> = [[this.acWord[c], this.acEntry[c]]];
    for (const base of this.otherRegions()) {
      const aw = base + c * this.acSlotWords;
      out.push([aw, (aw + L.AC_SLOT_ENTRIES) >> 1]);
    }
    return out;
  }

  /**
   * @internal For a pool thread that detached: every cache's array cache becomes an empty one of
   * limit 0 at `zeroWord` (a word nobody writes), so every alloc and free takes a slow path, whose
   * lock (the caller sets a refusing one) throws. Its region may be another thread's by then.
   */
  detachArrayCaches(zeroWord: number): void {
    this.holder = 0;
    this.acBase = DETACHED;
    this.zeroWord = zeroWord;
    this.known = 0;
    this.load();
  }

  /**
   * @internal Uses the array-cache region at word `base` for this thread (a pool's per-worker
   * region, `entries` objects and `bytes` bytes per cache at most: layout.ts regionAcLimit); the
   * objects on the current array caches go back to their slabs first.
   */
  bindArrayCaches(base: number, entries: number, bytes: number, holder: number): void {
    this.withLock(() => this.drainAll());
    this.holder = holder;
    this.acBase = base;
    this.acSlotWords = L.acSlotWords(entries);
    this.acEntries = entries;
    this.acBytes = bytes;
    this.known = 0;
    this.load();
  }

  /**
   * @internal Returns every object of the array-cache region at `base` (a dead thread's) to its
   * slab. The thread may have died in the middle of a flush (holding the lock), so an entry whose
   * object is already back in its slab (bit clear, or its slab given back) is skipped, and so is
   * a duplicate left by the flush's move. Called after repairSlabs, which dropped every hold
   * (`holder`'s current slabs included), so only the region's current-slab words are cleared.
   */
  drainRegion(base: number, holder: number): void {
    this.withLock(() => {
      this.load();
      const w = this.w;
      const ps = this.ps;
      for (let c = 0; c < this.known; c++) {
        const aw = base + c * this.acSlotWords;
        const e = (aw + L.AC_SLOT_ENTRIES) >> 1;
        const avail = Math.min(w[aw], this.acLimit[c]);
        w[aw] = 0;
        for (let i = 0; i < avail; i++) {
          const address = this.f64[e + i];
          const page = Math.floor(address / ps);
          if (!(page >= 0 && page < this.owner.length)) continue;
          const o = this.owner[page];
          if (o <= 0 || L.ownerCache(o) !== c) continue;
          const slab = L.ownerSlab(page, o);
          const g = L.ownerGeometry(o);
          const off = address - slab * ps - this.gData[g];
          const idx = Math.round(off * this.inv[c]);
          if (idx * this.stride[c] !== off || idx < 0 || idx >= this.gPerSlab[g]) continue;
          if ((w[slab * this.wpp + S_BITMAP + (idx >> 5)] & (1 << (idx & 31))) === 0) continue;
          this.freeToSlab(c, g, address, slab, idx);
        }
        this.unhold(c, aw + L.AC_SLOT_HELD, holder);
      }
    });
  }

  /** Under the lock: every array cache of this thread back to its slabs, and its held slabs let go. */
  drainAll(): void {
    for (let c = 0; c < this.known; c++) {
      this.drain(c);
      if (this.holder !== 0) this.unhold(c, this.acWord[c] + L.AC_SLOT_HELD, this.holder);
    }
    if (this.holder !== 0) this.disown(this.holder);
  }

  /**
   * The slab this thread takes cache c's objects from in a pool: its current slab (SLUB's per-cpu
   * slab) while that has a free object, else the first partial slab it holds or nobody holds, else
   * an empty slab (or, with `create`, a new one); 0 if there is none and `create` is false. A
   * worker holds the slabs it took objects from until they empty, so two workers never refill
   * from the same slab and their objects share no cache line (a worker writes an object's first
   * word on every free and allocation). Holds are hints, not locks: repair drops them, another
   * thread's debug path may still take an object from a held slab, and so does a thread that
   * would otherwise fail for want of a new slab.
   */
  private heldSlab(c: number, create: boolean, wait: boolean): number {
    const w = this.w;
    const wpp = this.wpp;
    const hw = this.acWord[c] + L.AC_SLOT_HELD;
    const me = this.holder << HOLDER_SHIFT;
    const cur = w[hw];
    if (cur !== 0 && this.isSlabOf(c, cur)) {
      const v = w[cur * wpp + S_LIST];
      if (v === (LIST_PARTIAL | LIST_CURRENT | me)) return cur;
      // It filled up: still held, no longer current.
      if ((v & ~LIST_MASK) === (LIST_CURRENT | me)) w[cur * wpp + S_LIST] = v & ~LIST_CURRENT;
    }
    w[hw] = 0;
    const cd = this.dw + c * CACHE_WORDS;
    let slab = w[cd + C_PARTIAL];
    while (slab !== 0) {
      const holder = w[slab * wpp + S_LIST] >> HOLDER_SHIFT;
      if (holder === 0 || holder === this.holder) break;
      slab = w[slab * wpp + S_NEXT];
    }
    if (slab === 0) {
      if (!create && w[cd + C_EMPTY] === 0) return 0;
      try {
        slab = this.refill(c, wait);
      } catch (e) {
        // Out of memory for a new slab: a slab another worker holds is better than failing.
        const any = w[cd + C_PARTIAL];
        if (!(e instanceof OutOfMemoryError) || any === 0) throw e;
        return any;
      }
    }
    w[slab * wpp + S_LIST] = LIST_PARTIAL | LIST_CURRENT | me;
    w[hw] = slab;
    return slab;
  }

  /**
   * Ends `holder`'s current slab of cache c, recorded at word `hw` of its region: an empty one then
   * goes where every emptied slab goes.
   */
  private unhold(c: number, hw: number, holder: number): void {
    const w = this.w;
    const slab = w[hw];
    w[hw] = 0;
    if (slab === 0 || !this.isSlabOf(c, slab)) return;
    const h = slab * this.wpp;
    const v = w[h + S_LIST];
    if ((v & ~LIST_MASK) !== (LIST_CURRENT | (holder << HOLDER_SHIFT))) return;
    w[h + S_LIST] = v & ~LIST_CURRENT;
    if (w[h + S_INUSE] === 0) this.emptied(c, slab);
  }

  /** Drops every hold of `holder` (a thread that detaches or died), after unhold of its current slabs. */
  private disown(holder: number): void {
    const w = this.w;
    const owner = this.owner;
    for (let p = 1; p < owner.length; p++) {
      const o = owner[p];
      if (o <= 0 || (o & 63) !== 1) continue;
      const h = p * this.wpp;
      const v = w[h + S_LIST];
      if (v >> HOLDER_SHIFT !== holder) continue;
      w[h + S_LIST] = v & LIST_MASK;
      if ((v & LIST_MASK) === LIST_PARTIAL && w[h + S_INUSE] === 0) this.emptied(L.ownerCache(o), p);
    }
  }

  /** Whether page `page` is the first page of one of cache c's slabs (the owner map says so). */
  private isSlabOf(c: number, page: number): boolean {
    const o = page > 0 && page < this.owner.length ? this.owner[page] : 0;
    return o > 0 && (o & 63) === 1 && L.ownerCache(o) === c;
  }

  /** Runs `f` holding the pool's lock, if any. */
  withLock<T>(f: () => T): T {
    const m = this.mutex;
    if (m === null) return f();
    m.lock();
    try {
      return f();
    } finally {
      m.unlock();
    }
  }

  private alreadyFree(address: number, c: number): DoubleFreeError {
    return new DoubleFreeError(address, `not allocated: free or never handed out (cache ${this.name(c)})`);
  }

  private notObject(address: number, c: number): InvalidAddressError {
    return new InvalidAddressError(address, `not the start of an object in cache ${this.name(c)}`);
  }

  // ---------------------------------------------------------------- slab lists

  /** A slab with a free object for cache c: an empty one if kept, else a new one. */
  private refill(c: number, wait: boolean): number {
    const w = this.w;
    const cd = this.dw + c * CACHE_WORDS;
    let slab = w[cd + C_EMPTY];
    if (slab !== 0) {
      this.unlink(c, slab);
      w[cd + C_EMPTY_COUNT]--;
    } else {
      slab = this.newSlab(c, wait);
    }
    this.push(c, slab, LIST_PARTIAL);
    return slab;
  }

  /** Order of cache c's next new slab (size-classes.ts slabOrder). */
  nextOrder(c: number): number {
    return slabOrder(this.order[c], this.maxOrder[c], this.w[this.dw + c * CACHE_WORDS + C_PAGES]);
  }

  private newSlab(c: number, wait: boolean): number {
    const order = this.nextOrder(c);
    const g = c * ORDERS + order;
    const bytes = this.ps * 2 ** order;
    let address = 0;
    try {
      this.admit(2 ** order, this.critical);
      this.trimBefore(2 ** order, order, c);
      address = this.pages.allocPages(order);
    } catch (e) {
      if (!(e instanceof OutOfMemoryError) || !wait || !this.onPressure(bytes)) throw this.slabOom(c, e);
      try {
        this.admit(2 ** order, this.critical);
        address = this.pages.allocPages(order);
      } catch (e2) {
        throw this.slabOom(c, e2);
      }
    }
    const slab = address / this.ps;
    const w = this.w;
    const h = slab * this.wpp;
    w[h + S_CACHE] = c;
    w[h + S_INUSE] = 0;
    w[h + S_HINT] = 0;
    w[h + S_LIST] = LIST_EMPTY;
    const words = this.gWords[g];
    w.fill(0, h + S_BITMAP, h + S_BITMAP + words);
    const tail = this.gPerSlab[g] & 31;
    if (tail !== 0) w[h + S_BITMAP + words - 1] = ~((1 << tail) - 1);
    for (let i = 0; i < 2 ** order; i++) this.owner[slab + i] = L.slabOwner(c, order, i);
    w[this.dw + c * CACHE_WORDS + C_SLABS]++;
    w[this.dw + c * CACHE_WORDS + C_PAGES] += 2 ** order;
    this.account(2 ** order);
    if (this.debug[c] !== 0) this.paintSlab(c, g, address);
    if (this.acLimit[c] > 0) this.tagSlab(c, g, address);
    const ctor = this.ctors[c];
    if (ctor) {
      const first = address + this.gData[g];
      for (let i = 0; i < this.gPerSlab[g]; i++) ctor(first + i * this.stride[c], this.mem);
    }
    return slab;
  }

  /** Tags every object of a new slab free (see free()). */
  private tagSlab(c: number, g: number, address: number): void {
    const mem = this.mem;
    const stride = this.stride[c];
    let a = address + this.gData[g];
    for (let i = 0; i < this.gPerSlab[g]; i++, a += stride) {
      mem[a] = TAG0;
      mem[a + 1] = TAG1;
      mem[a + 2] = TAG2;
      mem[a + 3] = TAG3;
    }
  }

  private slabOom(c: number, e: unknown): unknown {
    if (!(e instanceof OutOfMemoryError)) return e;
    return new OutOfMemoryError(
      this.size[c],
      e.largestFree,
      e.free,
      e.reason,
      `cache ${this.name(c)} needs a new slab`,
    );
  }

  private emptied(c: number, slab: number): void {
    const w = this.w;
    const cd = this.dw + c * CACHE_WORDS;
    this.unlink(c, slab);
    if (w[cd + C_EMPTY_COUNT] >= w[this.rw + R_MAX_EMPTY]) {
      this.release(c, slab);
    } else {
      this.push(c, slab, LIST_EMPTY);
      w[cd + C_EMPTY_COUNT]++;
    }
  }

  /** Gives an unlinked slab back to the page layer. */
  private release(c: number, slab: number): void {
    const n = 2 ** L.ownerOrder(this.owner[slab]);
    this.owner.fill(0, slab, slab + n);
    this.w[this.dw + c * CACHE_WORDS + C_SLABS]--;
    this.w[this.dw + c * CACHE_WORDS + C_PAGES] -= n;
    this.pages.free(slab * this.ps);
    this.account(-n);
  }

  private move(c: number, slab: number, list: number): void {
    this.unlink(c, slab);
    this.push(c, slab, list);
  }

  /**
   * Full slabs sit on no list (as in SLUB): filling the head slab and freeing into a full one then
   * touch only that slab's header and the list head, never a random neighbour's.
   */
  private push(c: number, slab: number, list: number): void {
    const w = this.w;
    const h = slab * this.wpp;
    // A slab keeps its holder between the partial and full states (heldSlab); an empty one has none.
    w[h + S_LIST] = list === LIST_EMPTY ? list : list | (w[h + S_LIST] & ~LIST_MASK);
    if (list === LIST_FULL) return;
    const head = this.dw + c * CACHE_WORDS + (list === LIST_PARTIAL ? C_PARTIAL : C_EMPTY);
    const next = w[head];
    w[h + S_NEXT] = next;
    w[h + S_PREV] = 0;
    if (next !== 0) w[next * this.wpp + S_PREV] = slab;
    w[head] = slab;
  }

  private unlink(c: number, slab: number): void {
    const w = this.w;
    const h = slab * this.wpp;
    const list = w[h + S_LIST] & LIST_MASK;
    if (list === LIST_FULL) return;
    const next = w[h + S_NEXT];
    const prev = w[h + S_PREV];
    if (prev !== 0) w[prev * this.wpp + S_NEXT] = next;
    else w[this.dw + c * CACHE_WORDS + (list === LIST_PARTIAL ? C_PARTIAL : C_EMPTY)] = next;
    if (next !== 0) w[next * this.wpp + S_PREV] = prev;
  }

  // ---------------------------------------------------------------- debug mode

  /** Like allocFromSlab, but refuses an object whose poison was overwritten after its free. */
  private allocDebug(c: number, wait: boolean): number {
    const w = this.w;
    let slab = w[this.dw + c * CACHE_WORDS + C_PARTIAL];
    if (slab === 0) slab = this.refill(c, wait);
    const g = this.owner[slab] >> 6;
    const h = slab * this.wpp;
    let wi = w[h + S_HINT];
    while (w[h + S_BITMAP + wi] === -1) wi++;
    const free = ~w[h + S_BITMAP + wi];
    const bit = 31 - Math.clz32(free & -free);
    const address = slab * this.ps + this.gData[g] + ((wi << 5) + bit) * this.stride[c];
    if (!this.ctors[c]) checkPoison(this.mem, address, this.size[c], this.name(c));
    w[h + S_HINT] = wi;
    w[h + S_BITMAP + wi] |= 1 << bit;
    const inuse = w[h + S_INUSE] + 1;
    w[h + S_INUSE] = inuse;
    if (inuse === this.gPerSlab[g]) this.move(c, slab, LIST_FULL);
    return address;
  }

  private freeDebug(c: number, address: number): void {
    checkRedZone(this.mem, address, this.size[c], this.stride[c], this.name(c));
    if (!this.ctors[c]) poison(this.mem, address, this.size[c]);
  }

  private paintSlab(c: number, g: number, address: number): void {
    const first = address + this.gData[g];
    for (let i = 0; i < this.gPerSlab[g]; i++) {
      const a = first + i * this.stride[c];
      poison(this.mem, a, this.size[c]);
      paintRedZone(this.mem, a, this.size[c], this.stride[c]);
    }
  }
}

/** Reads a NUL-padded UTF-8 name from the directory. */
export function readName(mem: Uint8Array, offset: number): string {
  let end = offset;
  while (end < offset + L.NAME_BYTES && mem[end] !== 0) end++;
  return new TextDecoder().decode(mem.subarray(offset, end));
}

/** Writes a name, truncated to fit, NUL-padded. */
export function writeName(mem: Uint8Array, offset: number, name: string): void {
  const bytes = new TextEncoder().encode(name).subarray(0, L.NAME_BYTES - 1);
  mem.fill(0, offset, offset + L.NAME_BYTES);
  mem.set(bytes, offset);
}
