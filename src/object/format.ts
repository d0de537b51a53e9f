/**
 * Formatting a heap in a page allocator's arena: the options checked, the root laid out (layout.ts
 * R_*: owner map, cache directory, vmalloc directory, reserve and its home blocks, in one run of
 * pages) and the kmalloc caches defined. Also how any cache, kmalloc or named, is written into
 * the directory (defineCache).
 */
import { ROOT_HEAP } from "../arena/layout.js";
import { InvalidArgumentError } from "../errors.js";
import type { PageAllocator } from "../page/buddy.js";
import { fillBytes } from "../util/shared-bytes.js";
import { isPowerOfTwo } from "../util/validate.js";
import { debugStride } from "./debug.js";
import type { HeapOptions } from "./heap.js";
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
  OWNER_META,
  R_CACHE_COUNT,
  R_CLASS_COUNT,
  R_DIR_OFFSET,
  R_FLAGS,
  R_FOOTPRINT,
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
import { alignUp, CLASS_SIZES, grownOrder, slabGeometry } from "./size-classes.js";

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

/** Lays out the root, the directories and the kmalloc caches; returns the root's first page. */
export function formatHeap(pages: PageAllocator, options: HeapOptions): number {
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
  if (!(Number.isInteger(maxEmpty) || maxEmpty === Number.POSITIVE_INFINITY) || maxEmpty < 0) {
    throw new InvalidArgumentError("maxEmptySlabs", maxEmpty, "must be a non-negative integer or Infinity");
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
  // An Int32 in the root: more than there are pages means "keep every empty slab", and must not
  // wrap to a negative count that keeps none.
  w[rw + R_MAX_EMPTY] = Math.min(maxEmpty, pages.pageCount);
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

/** Whether at least two objects of `size` at `align` fit in a slab of this heap. */
function fitsInSlab(pages: PageAllocator, size: number, align: number, debug: boolean): boolean {
  const stride = debug ? debugStride(size, align) : alignUp(size, align);
  try {
    slabGeometry(stride, align, pages.pageSize, pages.maxOrder);
    return true;
  } catch {
    return false;
  }
}

/** Writes a cache descriptor into the next directory slot; returns its index. */
export function defineCache(
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
  const stride = debug ? debugStride(size, align) : alignUp(size, align);
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
