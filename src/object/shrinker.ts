/**
 * Shrinkers: callbacks that give memory back when an allocation would otherwise fail (Linux's
 * register_shrinker). Each reports how much it could free (`count`) and frees up to a target
 * (`scan`); reclaim asks them in priority order (lowest value first) and stops once the target is
 * met. The heap registers its own (empty slabs); the reclaim layer and users add theirs.
 */
import { InvalidArgumentError } from "../errors.js";

export interface Shrinker {
  name: string;
  /** Bytes this shrinker could free now. */
  count(): number;
  /** Frees up to `bytes` bytes; returns the bytes actually freed. */
  scan(bytes: number): number;
  /** Lower runs first. Default 100. */
  priority?: number;
}

export interface ShrinkResult {
  target: number;
  freed: number;
  asked: string[];
}

/**
 * Run after a shrink in which any shrinker but `own` was asked (see ShrinkerRegistry): the heap's,
 * whose array caches and partly used slabs take what user shrinkers free, so the memory they
 * report is not back in the page layer until the heap drains them.
 */
export interface Settle {
  own: string;
  run(bytes: number): void;
}

export class ShrinkerRegistry {
  private list: Shrinker[] = [];
  private readonly settle: Settle | null;
  /** A shrink is under way (see shrink). */
  private running = false;

  constructor(settle: Settle | null = null) {
    this.settle = settle;
  }

  register(shrinker: Shrinker): () => void {
    if (!shrinker || typeof shrinker.name !== "string" || typeof shrinker.count !== "function") {
      throw new InvalidArgumentError("shrinker", shrinker, "needs name, count() and scan()");
    }
    if (typeof shrinker.scan !== "function")
      throw new InvalidArgumentError("shrinker", shrinker.name, "needs scan()");
    const p = shrinker.priority ?? 100;
    if (!Number.isFinite(p)) throw new InvalidArgumentError("priority", p, "must be a finite number");
    // A new array, never the one a round iterates: sorted in place under a running round, a
    // shrinker that a scan registered shifted the others, so one was asked twice.
    this.list = [...this.list, shrinker].sort((a, b) => (a.priority ?? 100) - (b.priority ?? 100));
    return () => {
      this.list = this.list.filter((s) => s !== shrinker);
    };
  }

  get names(): string[] {
    return this.list.map((s) => s.name);
  }

  /**
   * Bytes all shrinkers could free now. A count that is no finite number (undefined from a count()
   * that forgot to return, NaN) counts as nothing, as a scan's answer does: summed, it made the
   * total NaN.
   */
  count(): number {
    let n = 0;
    for (const s of this.list) {
      const c: unknown = s.count();
      if (typeof c === "number" && Number.isFinite(c) && c > 0) n += c;
    }
    return n;
  }

  /**
   * Asks each shrinker in priority order until `bytes` have been freed. A shrink asked for while
   * one runs (a shrinker's own allocation that came up short) frees nothing: as Linux's
   * PF_MEMALLOC, reclaim does not recurse into itself, so that allocation fails with its own
   * OutOfMemoryError instead of asking the same shrinkers again until the stack overflows.
   */
  shrink(bytes: number): ShrinkResult {
    // A shrinker's scan gets what is left of the target: never NaN or a string to do sums with.
    if (typeof bytes !== "number" || Number.isNaN(bytes) || bytes < 0) {
      throw new InvalidArgumentError("bytes", bytes, "must be a non-negative number (Infinity: all)");
    }
    const result: ShrinkResult = { target: bytes, freed: 0, asked: [] };
    if (this.running) return result;
    this.running = true;
    try {
      const list = this.list;
      for (const s of list) {
        if (result.freed >= bytes) break;
        // Unregistered by an earlier scan of this round: no longer asked.
        if (this.list !== list && !this.list.includes(s)) continue;
        if (s.count() <= 0) continue;
        result.asked.push(s.name);
        // A scan that answers no finite count (undefined, NaN, Infinity) freed nothing it can show:
        // summed, it made the round's total NaN, and every later target with it.
        const got = s.scan(bytes - result.freed);
        if (typeof got === "number" && Number.isFinite(got) && got > 0) result.freed += got;
      }
      const settle = this.settle;
      if (settle !== null && result.asked.some((name) => name !== settle.own)) settle.run(bytes);
    } finally {
      this.running = false;
    }
    return result;
  }
}
