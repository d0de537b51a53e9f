/**
 * Trimming: the heap's idle memory back to the page layer. shrink() and the shrinkers return a
 * cache's array cache and empty slabs; trimBefore() does the same for every cache before the heap
 * takes pages that would set a new footprint peak (issue 3 wants the footprint within 1.25x of
 * the live bytes), at most once per 1/2^TRIM_SHIFT of growth of the peak:
 *
 *     footprint  ──/\──/\/\──────/‾‾  peak: trim first, then grow only by what is still missing
 *
 * Objects parked on the array cache of a class nobody uses any more each pin a slab, and a cache
 * keeps empty slabs for reuse (maxEmptySlabs); both are what a trim returns.
 */
import * as L from "./layout.js";
import type { Slabs } from "./slab.js";
import { unhold } from "./slab-threads.js";

const {
  C_EMPTY,
  C_EMPTY_COUNT,
  CACHE_WORDS,
  R_FOOTPRINT,
  R_PEAK,
  R_TRIM_GROWN,
  R_TRIMS,
  S_NEXT,
  TRIM_SHIFT,
} = L;

/** Under the lock: cache c's array cache (if `drain`) and empty slabs back to the page layer; bytes freed. */
export function shrinkCacheLocked(s: Slabs, c: number, drain = true): number {
  const w = s.w;
  const before = w[s.rw + R_FOOTPRINT];
  if (drain) {
    s.drain(c);
    if (s.holder !== 0) unhold(s, c, s.acWord[c] + L.AC_SLOT_HELD, s.holder);
  }
  const cd = s.dw + c * CACHE_WORDS;
  while (w[cd + C_EMPTY_COUNT] > 0) {
    const slab = w[cd + C_EMPTY];
    s.unlink(c, slab);
    w[cd + C_EMPTY_COUNT]--;
    s.release(c, slab);
  }
  return (before - w[s.rw + R_FOOTPRINT]) * s.ps;
}

/**
 * Called before the heap takes `pages` more from the page layer, out of a free block of 2^order
 * pages. If that would raise the footprint's high-water mark, and the mark has grown by
 * 1/2^TRIM_SHIFT of itself since the last trim, trims first (see trim); true if it did. Only if
 * such a block is free: then the allocation cannot fail (trimming only frees memory), and a call
 * that fails must leave the heap as it was (DESIGN.md principle 4).
 */
export function trimBefore(s: Slabs, pages: number, order: number, except: number): boolean {
  const w = s.w;
  const r = s.rw;
  if (w[r + R_FOOTPRINT] + pages <= w[r + R_PEAK]) return false;
  if (order > s.pages.maxOrder || s.pages.largestFree < s.ps * 2 ** order) return false;
  const grown = w[r + R_TRIM_GROWN] + pages;
  if (grown < w[r + R_PEAK] >> TRIM_SHIFT) {
    w[r + R_TRIM_GROWN] = grown;
    return false;
  }
  w[r + R_TRIM_GROWN] = 0;
  trimIdle(s, except);
  return true;
}

/**
 * Returns the heap's idle memory to the page layer: this thread's array caches (except cache
 * `except`'s, which the caller may be filling) go back to their slabs, and every empty slab,
 * those the drain emptied and those kept for reuse (maxEmptySlabs), goes back to the page layer,
 * as do the cached large runs (large-runs.ts). Objects parked on the array cache of a size class nobody uses any more pin a slab each; on a
 * small heap with ~36 classes those slabs are a large part of the footprint (BENCHMARKS.md).
 */
export function trimIdle(s: Slabs, except: number): void {
  s.w[s.rw + R_TRIMS]++;
  s.runs.release();
  for (let c = 0; c < s.known; c++) shrinkCacheLocked(s, c, c !== except);
}

/** Bytes held in empty slabs of all caches. */
export function emptyBytes(s: Slabs): number {
  let n = s.runs.heldPages * s.ps;
  for (let c = 0; c < s.cacheCount; c++) {
    for (let slab = s.w[s.dw + c * CACHE_WORDS + C_EMPTY]; slab !== 0; slab = s.w[slab * s.wpp + S_NEXT])
      n += s.ps * 2 ** L.ownerOrder(s.owner[slab]);
    n += s.w[s.acWord[c]] * s.stride[c];
  }
  return n;
}
