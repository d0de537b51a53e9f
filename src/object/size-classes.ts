/**
 * kmalloc size classes and slab geometry.
 *
 * Linux's kmalloc has power-of-two caches plus 96 and 192 to cut the worst waste. mneme uses the
 * same idea with four classes per doubling above 64 bytes (jemalloc's geometry), so a request
 * never wastes more than 20% of its slot and the heap stays within 1.25x of what is live:
 *
 *     8 16 24 32 40 48 56 64 | 80 96 112 128 | 160 192 224 256 | 320 384 448 512 | ...
 *     ... | 5120 6144 7168 8192
 *
 * Slabs (slabGeometry, grownOrder, slabOrder below): a cache's first slabs are small (the
 * smallest order wasting at most 1/4 in header and tail: one page up to 1 KiB objects); once it
 * holds 8 times a bigger slab, it takes bigger ones, up to the order that wastes at most 1/32. So
 * a size class that holds 3 objects costs one small slab, and one that holds thousands wastes
 * little: 4096-byte objects go 3 to a 4-page slab at first and 31 to a 32-page slab later.
 *
 * Every class is a multiple of 8, so kmalloc objects are 8-byte aligned (a Float64Array or
 * BigInt64Array view can sit on any of them). Lookup is one table read: sizes up to 1024 index a
 * table by 8-byte steps, larger ones by 128-byte steps.
 */
import { InvalidArgumentError } from "../errors.js";
import { SIZEOF_SLAB_HEADER } from "./layout.js";

export const CLASS_SIZES: readonly number[] = (() => {
  const out = [8, 16, 24, 32, 40, 48, 56, 64];
  for (let base = 64; base < 8192; base *= 2) {
    for (let k = 1; k <= 4; k++) out.push(base + (base / 4) * k);
  }
  return out;
})();

export const MAX_CLASS_SIZE = CLASS_SIZES[CLASS_SIZES.length - 1];
/** Sizes up to this one are looked up by 8-byte steps. */
export const SMALL_LIMIT = 1024;

/** Class index for sizes 1..1024, indexed by (size + 7) >> 3. */
export const SMALL_TABLE = new Uint8Array((SMALL_LIMIT >> 3) + 1);
/** Class index for sizes 1025..8192, indexed by (size + 127) >> 7. */
export const MID_TABLE = new Uint8Array((MAX_CLASS_SIZE >> 7) + 1);
{
  let c = 0;
  for (let i = 0; i < SMALL_TABLE.length; i++) {
    while (CLASS_SIZES[c] < i << 3) c++;
    SMALL_TABLE[i] = c;
  }
  c = 0;
  for (let i = 0; i < MID_TABLE.length; i++) {
    while (CLASS_SIZES[c] < i << 7) c++;
    MID_TABLE[i] = c;
  }
}

/** Class index for 1 <= size <= MAX_CLASS_SIZE. */
export function sizeClass(size: number): number {
  return size <= SMALL_LIMIT ? SMALL_TABLE[(size + 7) >> 3] : MID_TABLE[(size + 127) >> 7];
}

export interface SlabGeometry {
  order: number;
  perSlab: number;
  dataOffset: number;
  bitmapWords: number;
}

/** Largest slab order considered; 2^5 pages = 128 KiB with 4 KiB pages. */
export const MAX_SLAB_ORDER = 5;
/**
 * A cache's first slabs are of the smallest order whose header and tail waste at most 1/4 of it:
 * most caches of a small heap hold a few objects, and a small slab keeps them cheap. A cache that
 * holds many slabs takes bigger ones (GROWN_WASTE_LIMIT), so a large heap wastes little.
 */
const FIRST_WASTE_LIMIT = 1 / 4;
/** A kmalloc slab holds at least two objects; one object per slab is a job for the page layer. */
export const MIN_PER_SLAB = 2;

/**
 * Geometry of a cache's first slabs: the smallest slab order that holds at least `minPerSlab`
 * objects with headers and tail wasting no more than 1/4 of it, or, if none does, the order with
 * the least waste. Small slabs keep a cache that holds a few objects cheap, which is what most
 * caches of a small heap are; grownOrder says how far its slabs grow when it holds many.
 */
export function slabGeometry(
  stride: number,
  align: number,
  pageSize: number,
  maxOrder: number,
  minPerSlab = MIN_PER_SLAB,
): SlabGeometry {
  const limit = FIRST_WASTE_LIMIT;
  let best: SlabGeometry | null = null;
  let bestWaste = 2;
  for (let order = 0; order <= Math.min(MAX_SLAB_ORDER, maxOrder); order++) {
    const bytes = pageSize * 2 ** order;
    const { perSlab, dataOffset } = fitObjects(bytes, stride, align);
    if (perSlab < minPerSlab) continue;
    const waste = (bytes - perSlab * stride) / bytes;
    const g = { order, perSlab, dataOffset, bitmapWords: Math.ceil(perSlab / 32) };
    if (waste <= limit) return g;
    if (waste < bestWaste) {
      best = g;
      bestWaste = waste;
    }
  }
  if (!best) {
    throw new InvalidArgumentError(
      "objectSize",
      stride,
      `${minPerSlab} objects of ${stride} bytes aligned to ${align} do not fit in a slab of at most ${2 ** Math.min(MAX_SLAB_ORDER, maxOrder)} pages`,
    );
  }
  return best;
}

/**
 * Waste that a grown cache's slabs aim for: a cache that holds many slabs takes bigger ones (see
 * slabOrder), up to the smallest order whose header and tail waste at most 1/32 of it.
 */
const GROWN_WASTE_LIMIT = 1 / 32;
/** A grown slab is at most 1/GROWN_ARENA_PART of the arena's pages. */
const GROWN_ARENA_PART = 64;

/**
 * The order a cache's slabs grow to: the smallest order from `first` on (the first slabs' order,
 * slabGeometry) whose header and tail waste at most 1/32 of the slab, or, if none does within
 * 2^5 pages, the order with the least waste. For 4096-byte objects: first slabs of 4 pages hold 3
 * (25% waste), grown ones of 32 pages hold 31 (3%). Never above 1/64 of the arena's `arenaPages`
 * (nor below `first`): on a small heap, objects a shrinker frees must still empty whole slabs.
 */
export function grownOrder(
  stride: number,
  align: number,
  pageSize: number,
  maxOrder: number,
  first: number,
  arenaPages = Number.POSITIVE_INFINITY,
): number {
  let best = first;
  let bestWaste = 2;
  const top = Math.min(
    MAX_SLAB_ORDER,
    maxOrder,
    Math.floor(Math.log2(Math.max(1, arenaPages / GROWN_ARENA_PART))),
  );
  for (let order = first; order <= top; order++) {
    const bytes = pageSize * 2 ** order;
    const waste = (bytes - fitObjects(bytes, stride, align).perSlab * stride) / bytes;
    if (waste <= GROWN_WASTE_LIMIT) return order;
    if (waste < bestWaste - 1e-9) {
      best = order;
      bestWaste = waste;
    }
  }
  return best;
}

/**
 * A new slab is at most 1/2^GROW_SHIFT of the pages its cache already holds: the cache's last,
 * partly used slab then never costs more than 1/8 of its footprint.
 */
export const GROW_SHIFT = 3;

/**
 * Order of the next slab of a cache whose slabs hold `pages` pages now: its first order until it
 * holds 8 times a bigger slab, then bigger ones, up to its grown order.
 *
 *     pages held:  0 ....... 8·2^(f+1) ....... 8·2^(f+2) ... 8·2^max
 *     new slab:    2^f pages  2^(f+1) pages     2^(f+2) ...   2^max pages
 */
export function slabOrder(first: number, max: number, pages: number): number {
  let order = first;
  while (order < max && 2 ** (order + 1) <= pages >> GROW_SHIFT) order++;
  return order;
}

/** Objects that fit in a slab of `slabBytes`, with the header and bitmap in front of them. */
export function fitObjects(
  slabBytes: number,
  stride: number,
  align: number,
): { perSlab: number; dataOffset: number } {
  let n = Math.floor((slabBytes - SIZEOF_SLAB_HEADER) / (stride + 1 / 8));
  while (n > 0) {
    const dataOffset = alignUp(SIZEOF_SLAB_HEADER + 4 * Math.ceil(n / 32), align);
    if (dataOffset + n * stride <= slabBytes) return { perSlab: n, dataOffset };
    n--;
  }
  return { perSlab: 0, dataOffset: 0 };
}

export function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}
