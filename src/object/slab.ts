/**
 * Slab caches: objects of one size carved from slabs of 2^k pages, with a bitmap free list in
 * each slab's header (layout.ts), exactly as in the classic design:
 *
 *     slab (2^k pages, aligned) ───────────────────────────────────────────────────────┐
 *     │ header: cache, inuse, next, prev, hint, list │ bitmap 0110… │ obj0 │ obj1 │ … │ tail │
 *
 * alloc takes the first slab of the cache's PARTIAL list, finds a 0 bit starting at the slab's
 * hint word (one clz32 per word; every word below the hint is full), sets it and returns the
 * object's address. Full slabs are on no list; the owner map finds them when needed. free maps the address to its slab through the heap's page-owner map (O(1),
 * any slab size), checks that it is exactly an object start and that its bit is set (else a typed
 * error and nothing changes), and clears the bit. A slab moves between the PARTIAL, FULL and EMPTY
 * lists only when it fills up or empties, so the common alloc/free touches one slab header.
 * Empty slabs beyond the cache's allowance go back to the page layer at once; the rest wait for
 * shrink() (the heap's shrinker), so a cache that breathes in and out does not thrash the buddy
 * lists.
 *
 * Invariants (checked by Heap.check):
 *   a slab's INUSE = set bits of its bitmap (padding bits excluded)
 *   PARTIAL slabs have 0 < INUSE < PER_SLAB, FULL ones INUSE = PER_SLAB, EMPTY ones INUSE = 0
 *   every page of a slab has the slab's first page in the owner map
 *   no 0 bit sits in a word below the slab's HINT
 */
import { DoubleFreeError, InvalidAddressError, OutOfMemoryError } from "../errors.js";
import type { PageAllocator } from "../page/buddy.js";
import { checkPoison, checkRedZone, paintRedZone, poison } from "./debug.js";
import {
  C_BITMAP_WORDS,
  C_DATA_OFFSET,
  C_EMPTY,
  C_EMPTY_COUNT,
  C_FLAGS,
  C_NAME,
  C_PARTIAL,
  C_PER_SLAB,
  C_SIZE,
  C_SLAB_ORDER,
  C_SLABS,
  C_STRIDE,
  CACHE_WORDS,
  CF_DEBUG,
  LIST_EMPTY,
  LIST_FULL,
  LIST_PARTIAL,
  NAME_BYTES,
  R_CACHE_COUNT,
  R_FOOTPRINT,
  R_MAX_EMPTY,
  R_PEAK,
  S_BITMAP,
  S_CACHE,
  S_HINT,
  S_INUSE,
  S_LIST,
  S_NEXT,
  S_PREV,
} from "./layout.js";

/** Called when the page layer has no block for a new slab; returns true if it freed something. */
export type PressureHandler = (bytes: number) => boolean;

const LIST_FIELD = [C_PARTIAL, 0, C_EMPTY];

export class Slabs {
  readonly pages: PageAllocator;
  readonly w: Int32Array;
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
  readonly inv: Float64Array;
  readonly debug: Uint8Array;
  /** Constructors of caches created in this thread, run on every object of a new slab. */
  readonly ctors: Array<((address: number, memory: Uint8Array) => void) | undefined> = [];
  private known = 0;
  private readonly names: string[] = [];
  onPressure: PressureHandler = () => false;

  constructor(pages: PageAllocator, rootWord: number, dirWord: number, owner: Int32Array, maxCaches: number) {
    this.pages = pages;
    this.w = pages.w;
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
    this.inv = new Float64Array(maxCaches);
    this.debug = new Uint8Array(maxCaches);
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

  /** One object from cache c. `wait` false fails at once instead of asking shrinkers. */
  alloc(c: number, wait: boolean): number {
    if (this.debug[c] !== 0) return this.allocDebug(c, wait);
    const w = this.w;
    let slab = w[this.dw + c * CACHE_WORDS + C_PARTIAL];
    if (slab === 0) slab = this.refill(c, wait);
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
    if (inuse === this.perSlab[c]) this.move(c, slab, LIST_FULL);
    return slab * this.ps + this.dataOffset[c] + ((wi << 5) + bit) * this.stride[c];
  }

  /**
   * Returns the object at `address` to its slab (`slab` = the owner map's entry for its page).
   * Throws InvalidAddressError for anything but an object start and DoubleFreeError for a free
   * object, having changed nothing.
   */
  free(address: number, slab: number): void {
    const w = this.w;
    const h = slab * this.wpp;
    const c = w[h + S_CACHE];
    if (c >= this.known) this.load();
    const off = address - slab * this.ps - this.dataOffset[c];
    const idx = Math.round(off * this.inv[c]);
    if (idx * this.stride[c] !== off || idx < 0 || idx >= this.perSlab[c]) {
      throw new InvalidAddressError(address, `not the start of an object in cache ${this.name(c)}`);
    }
    const wi = h + S_BITMAP + (idx >> 5);
    const bit = 1 << (idx & 31);
    const word = w[wi];
    if ((word & bit) === 0) throw new DoubleFreeError(address, `already free (cache ${this.name(c)})`);
    if (this.debug[c] !== 0) this.freeDebug(c, address);
    w[wi] = word ^ bit;
    if (wi - h - S_BITMAP < w[h + S_HINT]) w[h + S_HINT] = wi - h - S_BITMAP;
    const inuse = w[h + S_INUSE] - 1;
    w[h + S_INUSE] = inuse;
    if (inuse === 0) this.emptied(c, slab);
    else if (inuse === this.perSlab[c] - 1) this.move(c, slab, LIST_PARTIAL);
  }

  /** True if the object at `address` (in `slab`) is allocated; for realloc/usableSize checks. */
  validate(address: number, slab: number): number {
    const w = this.w;
    const h = slab * this.wpp;
    const c = w[h + S_CACHE];
    if (c >= this.known) this.load();
    const off = address - slab * this.ps - this.dataOffset[c];
    const idx = Math.round(off * this.inv[c]);
    if (idx * this.stride[c] !== off || idx < 0 || idx >= this.perSlab[c]) {
      throw new InvalidAddressError(address, `not the start of an object in cache ${this.name(c)}`);
    }
    if ((w[h + S_BITMAP + (idx >> 5)] & (1 << (idx & 31))) === 0) {
      throw new DoubleFreeError(address, `already free (cache ${this.name(c)})`);
    }
    return c;
  }

  /** Returns every empty slab of cache c to the page layer; bytes freed. */
  shrinkCache(c: number, keep = 0): number {
    const w = this.w;
    const cd = this.dw + c * CACHE_WORDS;
    let freed = 0;
    while (w[cd + C_EMPTY_COUNT] > keep) {
      const slab = w[cd + C_EMPTY];
      this.unlink(c, slab);
      w[cd + C_EMPTY_COUNT]--;
      freed += this.release(c, slab);
    }
    return freed;
  }

  /** Bytes held in empty slabs of all caches. */
  emptyBytes(): number {
    let n = 0;
    for (let c = 0; c < this.cacheCount; c++) {
      n += this.w[this.dw + c * CACHE_WORDS + C_EMPTY_COUNT] * this.ps * 2 ** this.order[c];
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

  private newSlab(c: number, wait: boolean): number {
    const order = this.order[c];
    const bytes = this.ps * 2 ** order;
    let address = 0;
    try {
      address = this.pages.allocPages(order);
    } catch (e) {
      if (!(e instanceof OutOfMemoryError) || !wait || !this.onPressure(bytes)) throw this.slabOom(c, e);
      try {
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
    const words = this.bitmapWords[c];
    w.fill(0, h + S_BITMAP, h + S_BITMAP + words);
    const tail = this.perSlab[c] & 31;
    if (tail !== 0) w[h + S_BITMAP + words - 1] = ~((1 << tail) - 1);
    this.owner.fill(slab, slab, slab + 2 ** order);
    w[this.dw + c * CACHE_WORDS + C_SLABS]++;
    this.account(2 ** order);
    if (this.debug[c] !== 0) this.paintSlab(c, address);
    const ctor = this.ctors[c];
    if (ctor) {
      const first = address + this.dataOffset[c];
      for (let i = 0; i < this.perSlab[c]; i++) ctor(first + i * this.stride[c], this.mem);
    }
    return slab;
  }

  private slabOom(c: number, e: unknown): unknown {
    if (!(e instanceof OutOfMemoryError)) return e;
    return new OutOfMemoryError(this.size[c], e.largestFree, e.free, e.reason, `cache ${this.name(c)} needs a new slab`);
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

  /** Gives an unlinked slab back to the page layer; bytes freed. */
  private release(c: number, slab: number): number {
    const n = 2 ** this.order[c];
    this.owner.fill(0, slab, slab + n);
    this.w[this.dw + c * CACHE_WORDS + C_SLABS]--;
    this.pages.free(slab * this.ps);
    this.account(-n);
    return n * this.ps;
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
    if (list === LIST_FULL) {
      w[slab * this.wpp + S_LIST] = LIST_FULL;
      return;
    }
    const head = this.dw + c * CACHE_WORDS + LIST_FIELD[list];
    const h = slab * this.wpp;
    const next = w[head];
    w[h + S_NEXT] = next;
    w[h + S_PREV] = 0;
    w[h + S_LIST] = list;
    if (next !== 0) w[next * this.wpp + S_PREV] = slab;
    w[head] = slab;
  }

  private unlink(c: number, slab: number): void {
    const w = this.w;
    const h = slab * this.wpp;
    if (w[h + S_LIST] === LIST_FULL) return;
    const next = w[h + S_NEXT];
    const prev = w[h + S_PREV];
    if (prev !== 0) w[prev * this.wpp + S_NEXT] = next;
    else w[this.dw + c * CACHE_WORDS + LIST_FIELD[w[h + S_LIST]]] = next;
    if (next !== 0) w[next * this.wpp + S_PREV] = prev;
  }

  // ---------------------------------------------------------------- debug mode

  /** Like alloc, but refuses to hand out an object whose poison was overwritten after its free. */
  private allocDebug(c: number, wait: boolean): number {
    const w = this.w;
    let slab = w[this.dw + c * CACHE_WORDS + C_PARTIAL];
    if (slab === 0) slab = this.refill(c, wait);
    const h = slab * this.wpp;
    let wi = w[h + S_HINT];
    while (w[h + S_BITMAP + wi] === -1) wi++;
    const free = ~w[h + S_BITMAP + wi];
    const bit = 31 - Math.clz32(free & -free);
    const address = slab * this.ps + this.dataOffset[c] + ((wi << 5) + bit) * this.stride[c];
    checkPoison(this.mem, address, this.size[c], this.name(c));
    w[h + S_HINT] = wi;
    w[h + S_BITMAP + wi] |= 1 << bit;
    const inuse = w[h + S_INUSE] + 1;
    w[h + S_INUSE] = inuse;
    if (inuse === this.perSlab[c]) this.move(c, slab, LIST_FULL);
    return address;
  }

  private freeDebug(c: number, address: number): void {
    checkRedZone(this.mem, address, this.size[c], this.stride[c], this.name(c));
    poison(this.mem, address, this.size[c]);
  }

  private paintSlab(c: number, address: number): void {
    const first = address + this.dataOffset[c];
    for (let i = 0; i < this.perSlab[c]; i++) {
      const a = first + i * this.stride[c];
      poison(this.mem, a, this.size[c]);
      paintRedZone(this.mem, a, this.size[c], this.stride[c]);
    }
  }
}

/** Reads a NUL-padded UTF-8 name from the directory. */
export function readName(mem: Uint8Array, offset: number): string {
  let end = offset;
  while (end < offset + NAME_BYTES && mem[end] !== 0) end++;
  return new TextDecoder().decode(mem.subarray(offset, end));
}

/** Writes a name, truncated to fit, NUL-padded. */
export function writeName(mem: Uint8Array, offset: number, name: string): void {
  const bytes = new TextEncoder().encode(name).subarray(0, NAME_BYTES - 1);
  mem.fill(0, offset, offset + NAME_BYTES);
  mem.set(bytes, offset);
}
