/**
 * Zones: the free pages of a page layer, against watermarks, in the shape the Reclaimer works on
 * (FrameZone). An address space's own frames are startReclaim's default zone (frame-reclaim.ts);
 * these are the other page layers: a heap's and a shared pool's.
 *
 *     heap.setWatermarks({ min: 64 });                          // direct reclaim and the reserve
 *     const reclaimer = new Reclaimer({ shrinkers: heap.shrinkers });
 *     const stop = reclaimer.startBackground(heapZone(heap), systemClock);   // kswapd
 */
import { InvalidArgumentError } from "../errors.js";
import type { Heap } from "../object/heap.js";
import { type WatermarkOptions, type Watermarks, watermarks } from "../page/watermarks.js";
import type { Mempool } from "../pool/mempool.js";
import type { FrameZone } from "./reclaimer.js";

/**
 * The heap's free pages against its watermarks (set with heap.setWatermarks first). The marks are
 * the heap's current ones: a zone that kept those of its creation went on reclaiming to the old
 * `high` after setWatermarks() changed them, and after setWatermarks(null) (no watermarks: every
 * page is for everyone) its marks are all 0, so background reclaim has nothing to do.
 */
export function heapZone(heap: Heap): FrameZone {
  if (heap.watermarks === null)
    throw new InvalidArgumentError("heap", "heap", "has no watermarks (heap.setWatermarks)");
  const none: Watermarks = { total: heap.watermarks.total, min: 0, low: 0, high: 0 };
  return {
    free: () => heap.pages.freePages,
    get marks() {
      return heap.watermarks ?? none;
    },
    pageSize: heap.pages.pageSize,
  };
}

/** The pool's free pages against watermarks derived from its size (or given). */
export function poolZone(pool: Mempool, marks?: WatermarkOptions): FrameZone {
  const ps = pool.pageSize;
  return {
    free: () => Math.floor(pool.stats().free / ps),
    marks: watermarks(Math.floor(pool.stats().total / ps), marks),
    pageSize: ps,
  };
}
