/**
 * Free-frame watermarks (Linux's zone watermarks):
 *
 *     free frames:  0 ..... reserve ..... min ........ low ........ high ........ total
 *                   │critical only│ direct reclaim │ background reclaim │     nothing to do
 *
 * Below `low` the background reclaimer runs until free frames are back at `high`; an allocation
 * that finds free frames below `min` reclaims directly before it proceeds; the frames below `min`
 * down to 0 are a reserve that only critical allocations (the metadata reserve, `{ wait: false }`
 * callers) may take, so that the writeback which frees memory can itself always get some.
 * The thresholds belong to a page layer (the heap's, an address space's frames, a pool's); the
 * reclaim layer (src/reclaim) acts on them.
 */
import { InvalidArgumentError } from "../errors.js";

export interface WatermarkOptions {
  /** Frames kept for critical allocations. Default: 1/64 of the frames, at least 2. */
  min?: number;
  /** Background reclaim starts below this. Default: min + gap (see watermarks()). */
  low?: number;
  /** Background reclaim stops at this. Default: low + gap. */
  high?: number;
}

export interface Watermarks {
  total: number;
  min: number;
  low: number;
  high: number;
}

export type Zone = "ok" | "background" | "direct" | "critical";

/** Frames reclaim works on at a time (Linux's SWAP_CLUSTER_MAX). */
export const RECLAIM_CLUSTER = 32;

/**
 * Validated watermarks for `total` frames. Defaults derived from the size, like Linux's: min is
 * 1/64 of the frames (at least 2); low and high follow at a gap of min/4, but at least a reclaim
 * cluster (capped at 1/16 of the frames), so that one background pass frees a useful batch
 * instead of a frame or two per fault.
 */
export function watermarks(total: number, options: WatermarkOptions = {}): Watermarks {
  if (!Number.isSafeInteger(total) || total < 4)
    throw new InvalidArgumentError("frames", total, "must be an integer >= 4");
  if (options === null || typeof options !== "object")
    throw new InvalidArgumentError("options", options, "must be an object");
  const min = options.min ?? Math.max(2, Math.floor(total / 64));
  const gap = Math.max(1, Math.floor(min / 4), Math.min(RECLAIM_CLUSTER, Math.floor(total / 16)));
  // The defaults stay within the frames: unclamped, a min given near the total made a default low
  // past it, refused in words about a low the caller never gave ('high 100: must be above low (118)').
  const low = options.low ?? Math.min(total - 1, Math.max(min + 1, min + gap));
  const high = options.high ?? Math.min(total, Math.max(low + 1, low + gap));
  for (const [name, v] of [
    ["min", min],
    ["low", low],
    ["high", high],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0)
      throw new InvalidArgumentError(name, v, "must be a non-negative integer");
  }
  if (min >= total) throw new InvalidArgumentError("min", min, `must be below the ${total} frames`);
  if (!(min < low)) {
    if (options.low === undefined)
      throw new InvalidArgumentError("min", min, `leaves no room for low and high below the ${total} frames`);
    throw new InvalidArgumentError("low", low, `must be above min (${min})`);
  }
  if (!(low < high)) {
    if (options.high === undefined)
      throw new InvalidArgumentError("low", low, `leaves no room for high within the ${total} frames`);
    throw new InvalidArgumentError("high", high, `must be above low (${low})`);
  }
  if (high > total) throw new InvalidArgumentError("high", high, `must be at most the ${total} frames`);
  return { total, min, low, high };
}

/** Which watermark zone `free` frames fall in. */
export function zoneOf(free: number, w: Watermarks): Zone {
  if (free >= w.low) return "ok";
  if (free >= w.min) return "background";
  if (free > 0) return "direct";
  return "critical";
}

/** Whether an allocation may take a frame now: critical callers may dip into the reserve below min. */
export function mayAllocate(free: number, w: Watermarks, critical: boolean): boolean {
  return critical ? free > 0 : free > w.min;
}
