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
const MAX_SLAB_ORDER = 5;
/** A slab order is good enough once headers and tail waste at most 1/8 of it... */
const WASTE_LIMIT = 1 / 8;
/** ...or 1/4 for objects of a page or more, whose slabs would otherwise grow to dozens of pages. */
const WASTE_LIMIT_LARGE = 1 / 4;
/** A kmalloc slab holds at least two objects; one object per slab is a job for the page layer. */
export const MIN_PER_SLAB = 2;

/**
 * The smallest slab order that holds at least `minPerSlab` objects with headers and tail wasting
 * no more than the limit, or, if none does, the order with the least waste. Small slabs keep a
 * cache that holds a few objects cheap, which is what most caches of a small heap are.
 */
export function slabGeometry(
  stride: number,
  align: number,
  pageSize: number,
  maxOrder: number,
  minPerSlab = MIN_PER_SLAB,
): SlabGeometry {
  const limit = stride >= pageSize ? WASTE_LIMIT_LARGE : WASTE_LIMIT;
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
