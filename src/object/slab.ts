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
 * Around this file: trim.ts returns idle slabs to the page layer (shrink() and before a new
 * footprint peak), slab-threads.ts holds what a pool's threads add (array-cache regions, held
 * slabs), slab-misuse.ts explains refused frees, and debug.ts is the debug mode's slab path.
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
import { OutOfMemoryError } from "../errors.js";
import type { PageAllocator } from "../page/buddy.js";
import { allocDebug, checkRedZone, freeDebug, paintSlab } from "./debug.js";
import { LargeRunCache } from "./large-runs.js";
import * as L from "./layout.js";
import { slabOrder } from "./size-classes.js";
import * as G from "./slab-geometry.js";
import { alreadyFree, checkNotCached, checkNotFree, notObject } from "./slab-misuse.js";
import { bindArrayCaches, detachArrayCaches, drainAll, drainRegion, heldSlab } from "./slab-threads.js";
import { emptyBytes, shrinkCacheLocked, trimBefore } from "./trim.js";

// Re-bound locally: V8 folds a module's own constants into compiled code, not imported bindings.
const C_PAGES = L.C_PAGES;
const ORDERS = L.ORDERS_PER_CACHE;
const C_PARTIAL = L.C_PARTIAL;
const C_EMPTY = L.C_EMPTY;
const C_SLABS = L.C_SLABS;
const C_EMPTY_COUNT = L.C_EMPTY_COUNT;
const CACHE_WORDS = L.CACHE_WORDS;
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
const R_CACHE_COUNT = L.R_CACHE_COUNT;
const R_FOOTPRINT = L.R_FOOTPRINT;
const R_PEAK = L.R_PEAK;
const R_MAX_EMPTY = L.R_MAX_EMPTY;
const TAG0 = L.FREE_TAG[0];
const TAG1 = L.FREE_TAG[1];
const TAG2 = L.FREE_TAG[2];
const TAG3 = L.FREE_TAG[3];
/** The tag as one little-endian Int32, for objects at 4-byte aligned addresses. */
const TAG32 = TAG0 | (TAG1 << 8) | (TAG2 << 16) | (TAG3 << 24);

// The per-geometry constants the hot paths read (slab-geometry.ts INFO_WORDS).
const INFO_WORDS = G.INFO_WORDS;
const CACHE_INFO = G.CACHE_INFO;
const I_STRIDE = G.I_STRIDE;
const I_PER_SLAB = G.I_PER_SLAB;
const I_DATA = G.I_DATA;
const I_AC_WORD = G.I_AC_WORD;
const I_AC_ENTRY = G.I_AC_ENTRY;
const I_AC_LIMIT = G.I_AC_LIMIT;

/** Called when the page layer has no block for a new slab; returns true if it freed something. */
export type PressureHandler = (bytes: number) => boolean;

export class Slabs {
  readonly pages: PageAllocator;
  readonly w: Int32Array;
  readonly f64: Float64Array;
  readonly mem: Uint8Array;
  readonly owner: Int32Array;
  readonly ps: number;
  readonly wpp: number;
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
  /** Bytes of a debug object's left red zone, before it in its slot (debug.ts); 0 without debug. */
  readonly redLeft: Int32Array;
  /** word index of each cache's array-cache counters, and Float64 index of its entries */
  readonly acWord: Int32Array;
  readonly acEntry: Int32Array;
  readonly acLimit: Int32Array;
  readonly info: Int32Array;
  /**
   * Word index of this thread's array-cache region (a pool gives each worker its own, see
   * layout.ts acSlotWords), or -1 to use the caches inside the directory descriptors.
   */
  acBase = -1;
  /**
   * With acBase DETACHED: a word that stays 0, which every cache's array cache then points at
   * (empty, limit 0), so that every call takes a slow path (detachArrayCaches).
   */
  zeroWord = 0;
  /** Words per cache in a region, and what bounds a region's array caches (bindArrayCaches). */
  acSlotWords = 0;
  acEntries = 0;
  acBytes = 0;
  /** This thread's slot in a pool (held slabs carry it, see heldSlab); 0 outside a pool. */
  holder = 0;
  /** Freed large runs kept for reuse (the heap's; here because trim() returns them too). */
  readonly runs: LargeRunCache;
  /** @internal Set by a pool: the lock shared with the page layer. */
  mutex: Lock | null = null;
  /** @internal Set by a pool: the array-cache regions of the other live threads. */
  otherRegions: () => number[] = () => [];
  /** Constructors of caches created in this thread, run on every object of a new slab. */
  readonly ctors: Array<((address: number, memory: Uint8Array) => void) | undefined> = [];
  known = 0;
  readonly names: string[] = [];
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
    this.redLeft = new Int32Array(maxCaches);
    this.acWord = new Int32Array(maxCaches);
    this.acEntry = new Int32Array(maxCaches);
    this.acLimit = new Int32Array(maxCaches);
    this.info = new Int32Array(maxCaches * CACHE_INFO);
    this.runs = new LargeRunCache(pages, rootWord, owner, (n) => this.account(n));
    this.load();
  }

  /** Copies the constants of caches created since the last look (here or in another thread). */
  load(): void {
    G.loadCaches(this);
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
      if (this.debug[c] !== 0) return allocDebug(this, c, wait);
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
    if (idx * this.stride[c] !== off || idx < 0 || idx >= this.gPerSlab[g]) throw notObject(this, address, c);
    const limit = this.acLimit[c];
    if (limit === 0) {
      this.freeToSlab(c, g, address, slab, idx);
      return;
    }
    const w = this.w;
    if ((w[slab * this.wpp + S_BITMAP + (idx >> 5)] & (1 << (idx & 31))) === 0)
      throw alreadyFree(this, address, c);
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
      checkNotCached(this, c, address);
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
    if (idx * this.stride[c] !== off || idx < 0 || idx >= this.gPerSlab[g]) throw notObject(this, address, c);
    checkNotFree(this, c, address, slab, idx);
    return c;
  }

  /**
   * In debug mode, the overflow report free() would give for the live object at `address` (owner
   * entry `o` > 0), for a caller that must know before it commits to freeing it (realloc).
   */
  checkOverflow(address: number, o: number): void {
    const c = L.ownerCache(o);
    if (this.debug[c] !== 0)
      checkRedZone(this.mem, address, this.size[c], this.stride[c], this.redLeft[c], this.name(c));
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
    return this.withLock(() => shrinkCacheLocked(this, c));
  }

  /** Trims before the heap takes `pages` out of a free block of 2^order pages (trim.ts); true if it did. */
  trimBefore(pages: number, order: number, except: number): boolean {
    return trimBefore(this, pages, order, except);
  }

  /** Bytes held in empty slabs of all caches, on array caches and in cached large runs. */
  emptyBytes(): number {
    this.load();
    return emptyBytes(this);
  }

  /** @internal For a pool thread that detached (slab-threads.ts). */
  detachArrayCaches(zeroWord: number): void {
    detachArrayCaches(this, zeroWord);
  }

  /** @internal Uses a pool's per-worker array-cache region for this thread (slab-threads.ts). */
  bindArrayCaches(base: number, entries: number, bytes: number, holder: number): void {
    bindArrayCaches(this, base, entries, bytes, holder);
  }

  /** @internal Returns a dead thread's array-cache region to the slabs (slab-threads.ts). */
  drainRegion(base: number, holder: number): void {
    drainRegion(this, base, holder);
  }

  /** Under the lock: every array cache of this thread back to its slabs, and its held slabs let go. */
  drainAll(): void {
    drainAll(this);
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
    if (this.holder !== 0) return heldSlab(this, c, create, wait);
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
  freeToSlab(c: number, g: number, address: number, slab: number, idx: number): void {
    const w = this.w;
    const h = slab * this.wpp;
    const wi = h + S_BITMAP + (idx >> 5);
    const bit = 1 << (idx & 31);
    const word = w[wi];
    if ((word & bit) === 0) throw alreadyFree(this, address, c);
    if (this.debug[c] !== 0) freeDebug(this, c, address);
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

  /** [count word, first entry's Float64 index] of every array cache of cache c: this thread's first. */
  acLocations(c: number): Array<[number, number]> {
    const out: Array<[number, number]> = [[this.acWord[c], this.acEntry[c]]];
    for (const base of this.otherRegions()) {
      const aw = base + c * this.acSlotWords;
      out.push([aw, (aw + L.AC_SLOT_ENTRIES) >> 1]);
    }
    return out;
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

  // ---------------------------------------------------------------- slab lists

  /** A slab with a free object for cache c: an empty one if kept, else a new one. */
  refill(c: number, wait: boolean): number {
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
      trimBefore(this, 2 ** order, order, c);
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
    const peak = w[this.rw + R_PEAK];
    this.account(2 ** order);
    if (this.debug[c] !== 0) paintSlab(this, c, g, address);
    if (this.acLimit[c] > 0) this.tagSlab(c, g, address);
    const ctor = this.ctors[c];
    if (ctor) this.construct(c, g, slab, ctor, peak);
    return slab;
  }

  /**
   * Runs cache c's constructor on every object of its new slab (geometry g). The constructor is
   * the caller's code and may throw: the slab, on no list yet, then goes back to the page layer
   * and the footprint's peak is restored, so the failed alloc leaves the heap as it found it.
   */
  private construct(
    c: number,
    g: number,
    slab: number,
    ctor: (address: number, memory: Uint8Array) => void,
    peak: number,
  ): void {
    const first = slab * this.ps + this.gData[g];
    try {
      for (let i = 0; i < this.gPerSlab[g]; i++) ctor(first + i * this.stride[c], this.mem);
    } catch (e) {
      this.release(c, slab);
      this.w[this.rw + R_PEAK] = peak;
      throw e;
    }
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

  emptied(c: number, slab: number): void {
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
  release(c: number, slab: number): void {
    const n = 2 ** L.ownerOrder(this.owner[slab]);
    this.owner.fill(0, slab, slab + n);
    this.w[this.dw + c * CACHE_WORDS + C_SLABS]--;
    this.w[this.dw + c * CACHE_WORDS + C_PAGES] -= n;
    this.pages.free(slab * this.ps);
    this.account(-n);
  }

  move(c: number, slab: number, list: number): void {
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

  unlink(c: number, slab: number): void {
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
}
