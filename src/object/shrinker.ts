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

export class ShrinkerRegistry {
  private list: Shrinker[] = [];

  register(shrinker: Shrinker): () => void {
    if (!shrinker || typeof shrinker.name !== "string" || typeof shrinker.count !== "function") {
      throw new InvalidArgumentError("shrinker", shrinker, "needs name, count() and scan()");
    }
    if (typeof shrinker.scan !== "function")
      throw new InvalidArgumentError("shrinker", shrinker.name, "needs scan()");
    const p = shrinker.priority ?? 100;
    if (!Number.isFinite(p)) throw new InvalidArgumentError("priority", p, "must be a finite number");
    this.list.push(shrinker);
    this.list.sort((a, b) => (a.priority ?? 100) - (b.priority ?? 100));
    return () => {
      this.list = this.list.filter((s) => s !== shrinker);
    };
  }

  get names(): string[] {
    return this.list.map((s) => s.name);
  }

  /** Bytes all shrinkers could free now. */
  count(): number {
    let n = 0;
    for (const s of this.list) n += Math.max(0, s.count());
    return n;
  }

  /** Asks each shrinker in priority order until `bytes` have been freed. */
  shrink(bytes: number): ShrinkResult {
    const result: ShrinkResult = { target: bytes, freed: 0, asked: [] };
    for (const s of this.list) {
      if (result.freed >= bytes) break;
      if (s.count() <= 0) continue;
      result.asked.push(s.name);
      result.freed += Math.max(0, s.scan(bytes - result.freed));
    }
    return result;
  }
}
