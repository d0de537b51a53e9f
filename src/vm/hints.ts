/**
 * Access hints, madvise style, per mapping or per range of one.
 *
 * | hint       | kind   | effect                                                                  |
 * |------------|--------|-------------------------------------------------------------------------|
 * | normal     | kept   | read-ahead only once faults look sequential (fault at p after p - 1)    |
 * | sequential | kept   | read-ahead from the first fault, window doubling up to `readahead.max`; |
 * |            |        | drop-behind: the page before the one touched goes to the eviction front |
 * |            |        | (if that page is hinted sequential too)                                 |
 * | random     | kept   | no read-ahead at all, also none into it from a neighbour's faults       |
 * | readOnce   | kept   | a page goes to the eviction front right after each use                  |
 * | willneed   | action | read the range in now (at most `frames` pages), counted as prefetch     |
 * | dontneed   | action | write dirty pages of the range back, then drop them from memory        |
 *
 * "Eviction front" is a queue the fault path empties before it asks the replacement policy, so
 * these pages go first whatever the policy (eviction.ts). Kept hints live in HintRanges: sorted
 * segments of the mapping's pages, split as advise() changes parts of it.
 */
import { InvalidArgumentError } from "../errors.js";

export const HINTS = ["normal", "sequential", "random", "willneed", "dontneed", "readOnce"] as const;
export type Hint = (typeof HINTS)[number];
/** The hints that stay attached to pages (the others are one-off actions). */
export type KeptHint = "normal" | "sequential" | "random" | "readOnce";

export function isKeptHint(h: Hint): h is KeptHint {
  return h === "normal" || h === "sequential" || h === "random" || h === "readOnce";
}

/** Validates a hint name. */
export function hint(argument: string, value: unknown): Hint {
  if (typeof value !== "string" || !(HINTS as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(argument, value, `must be one of ${HINTS.join(", ")}`);
  }
  return value as Hint;
}

/** The kept hint of every page of a mapping, as sorted segments [start_i, start_{i+1}). */
export class HintRanges {
  private starts: number[] = [0];
  private hints: KeptHint[];
  /** Pages of the mapping: segments never start at or past it. */
  readonly pages: number;

  constructor(initial: KeptHint, pages: number) {
    this.hints = [initial];
    this.pages = pages;
  }

  /** Hint of page `p` (0-based within the mapping). */
  at(p: number): KeptHint {
    const s = this.starts;
    let lo = 0;
    let hi = s.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (s[mid] <= p) lo = mid;
      else hi = mid - 1;
    }
    return this.hints[lo];
  }

  /** Sets pages [from, to) to `h`, merging equal neighbours. */
  set(from: number, to: number, h: KeptHint): void {
    const starts: number[] = [];
    const hints: KeptHint[] = [];
    const push = (start: number, value: KeptHint) => {
      if (start >= this.pages) return;
      if (hints.length > 0 && hints[hints.length - 1] === value) return;
      if (starts.length > 0 && starts[starts.length - 1] === start) {
        hints[hints.length - 1] = value;
        if (hints.length > 1 && hints[hints.length - 2] === value) {
          starts.pop();
          hints.pop();
        }
        return;
      }
      starts.push(start);
      hints.push(value);
    };
    const n = this.starts.length;
    for (let i = 0; i < n; i++) {
      const a = this.starts[i];
      const b = i + 1 < n ? this.starts[i + 1] : Number.POSITIVE_INFINITY;
      const v = this.hints[i];
      if (a < from) push(a, v);
      if (a < to && b > from) push(Math.max(a, from), h);
      if (b > to && a < b) push(Math.max(a, to), v);
    }
    this.starts = starts;
    this.hints = hints;
  }

  /** Segments for debugInfo. */
  segments(): { start: number; hint: KeptHint }[] {
    return this.starts.map((start, i) => ({ start, hint: this.hints[i] }));
  }
}
