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
 */
import { InvalidArgumentError } from "../errors.js";

export interface WatermarkOptions {
  /** Frames kept for critical allocations. Default: 1/64 of the frames, at least 2. */
  min?: number;
  /** Background reclaim starts below this. Default: min * 5/4 (at least min + 1). */
  low?: number;
  /** Background reclaim stops at this. Default: min * 3/2 (at least low + 1). */
  high?: number;
}

export interface Watermarks {
  total: number;
  min: number;
  low: number;
  high: number;
}

export type Zone = "ok" | "background" | "direct" | "critical";

/** Validated watermarks for `total` frames (defaults derived from the size, like Linux's). */
export function watermarks(total: number, options: WatermarkOptions = {}): Watermarks {
  if (!Number.isSafeInteger(total) || total < 4)
    throw new InvalidArgumentError("frames", total, "must be an integer >= 4");
  const min = options.min ?? Math.max(2, Math.floor(total / 64));
  const low = options.low ?? Math.max(min + 1, Math.floor((min * 5) / 4));
  const high = options.high ?? Math.max(low + 1, Math.floor((min * 3) / 2));
  for (const [name, v] of [
    ["min", min],
    ["low", low],
    ["high", high],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0)
      throw new InvalidArgumentError(name, v, "must be a non-negative integer");
  }
  if (!(min < low)) throw new InvalidArgumentError("low", low, `must be above min (${min})`);
  if (!(low < high)) throw new InvalidArgumentError("high", high, `must be above low (${low})`);
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
