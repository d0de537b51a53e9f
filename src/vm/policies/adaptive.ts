/**
 * ADAPTIVE: follow the leader among expert policies simulated on keys alone.
 *
 * No single policy wins every workload (BENCHMARKS.md, "VM layer"): LIRS is near-optimal on
 * loops and scans where LRU and ARC miss on every reference, S3-FIFO leads on skewed database and
 * web traces, ARC is the safe middle. So the default runs several experts side by side, each a
 * complete policy fed every reference but holding keys only (no frames, no data), scores each by
 * its recent misses, and makes the real frames follow the expert with the fewest:
 *
 *     reference x ──> arc    shadow ─┐ misses, decayed (half-life: 4x the capacity)
 *                 ├─> lirs   shadow ─┼──> leader = fewest recent misses (2% hysteresis);
 *                 └─> s3fifo shadow ─┘    the first expert (arc) leads at the start
 *     real frames: evict first the "orphans", resident keys the leader no longer holds
 *
 * (LRU as a fourth expert was measured too: it wins a few recency-heavy sizes but costs more in
 * switching than it gains, 58 against 60 of 72 trace sizes at or below min(LRU, ARC).)
 *
 * Why this converges to the leader: the real resident set R starts as a subset of the leader's
 * set L (or is made one by evicting orphans R \ L). While R ⊆ L and both are full, R = L; a miss
 * is then a miss for the leader too, the leader evicts some v ∈ R, and v is the one orphan the
 * real eviction picks. So once converged, the real frames make exactly the leader's decisions,
 * and after a switch they converge at one orphan per miss. The cost is one policy update per
 * expert per reference (three instead of one); the benefit is being at or near the best expert on
 * every workload, which is what a general-purpose default needs.
 */
import { CorruptionError } from "../../errors.js";
import { NO_VICTIM, type ReplacementPolicy } from "./policy.js";

export interface AdaptiveOptions {
  /** Score half-life in references, as a multiple of the capacity (default 4, at least 1024 refs). */
  halfLife?: number;
  /** A challenger leads once its score is below the leader's by this fraction (default 0.02). */
  margin?: number;
}

export class AdaptivePolicy implements ReplacementPolicy {
  readonly name = "adaptive";
  readonly capacity: number;
  readonly experts: readonly ReplacementPolicy[];
  private readonly scores: Float64Array;
  private readonly decay: number;
  private readonly margin: number;
  private leader = 0;
  private switches = 0;
  /** Real resident keys. */
  private readonly real = new Set<number>();
  /** Real resident keys the leader does not hold, oldest first. */
  private orphans = new Set<number>();
  /** The key victim() already fed to the experts, so that insert() does not feed it twice. */
  private fedKey = Number.NaN;
  private sinceCheck = 0;
  private readonly checkEvery: number;

  constructor(capacity: number, experts: readonly ReplacementPolicy[], options: AdaptiveOptions = {}) {
    this.capacity = capacity;
    this.experts = experts;
    this.scores = new Float64Array(experts.length);
    const halfLife = Math.max(1024, (options.halfLife ?? 4) * capacity);
    this.decay = 0.5 ** (1 / halfLife);
    this.margin = options.margin ?? 0.02;
    this.checkEvery = Math.max(64, capacity >> 3);
  }

  get size(): number {
    return this.real.size;
  }

  get leaderName(): string {
    return this.experts[this.leader].name;
  }

  has(key: number): boolean {
    return this.real.has(key);
  }

  hit(key: number): void {
    this.feed(key);
  }

  /** Runs one reference through every expert and updates the scores and the orphans. */
  private feed(key: number): void {
    const experts = this.experts;
    const scores = this.scores;
    const d = this.decay;
    for (let i = 0; i < experts.length; i++) {
      const e = experts[i];
      scores[i] *= d;
      if (e.has(key)) {
        e.hit(key);
        continue;
      }
      scores[i] += 1;
      if (e.size >= e.capacity) {
        const v = e.victim(key);
        e.evict(v);
        if (i === this.leader && this.real.has(v)) this.orphans.add(v);
      }
      e.insert(key);
    }
    this.orphans.delete(key);
    if (++this.sinceCheck >= this.checkEvery) {
      this.sinceCheck = 0;
      this.elect();
    }
  }

  private elect(): void {
    const scores = this.scores;
    let best = this.leader;
    for (let i = 0; i < scores.length; i++) if (scores[i] < scores[best]) best = i;
    if (best === this.leader || scores[best] >= scores[this.leader] * (1 - this.margin)) return;
    this.leader = best;
    this.switches++;
    const l = this.experts[best];
    const orphans = new Set<number>();
    for (const k of this.real) if (!l.has(k)) orphans.add(k);
    this.orphans = orphans;
  }

  victim(incoming: number, evictable?: (key: number) => boolean): number {
    if (evictable) {
      // Nothing evictable: answer before feeding the experts, so a failed fault changes nothing.
      let any = false;
      for (const k of this.real) {
        if (k !== incoming && evictable(k)) {
          any = true;
          break;
        }
      }
      if (!any) return NO_VICTIM;
    }
    if (this.fedKey !== incoming) {
      this.feed(incoming);
      this.fedKey = incoming;
    }
    for (const k of this.orphans) {
      if (k !== incoming && (!evictable || evictable(k))) return k;
    }
    // No evictable orphan (pins, or frames freed by hand): the oldest evictable resident key.
    for (const k of this.real) {
      if (k !== incoming && (!evictable || evictable(k))) return k;
    }
    return NO_VICTIM;
  }

  evict(key: number): void {
    this.real.delete(key);
    this.orphans.delete(key);
  }

  insert(key: number): void {
    if (this.fedKey !== key) this.feed(key);
    this.fedKey = Number.NaN;
    this.real.add(key);
    if (!this.experts[this.leader].has(key)) this.orphans.add(key);
  }

  forget(key: number): void {
    this.real.delete(key);
    this.orphans.delete(key);
    for (const e of this.experts) e.forget(key);
  }

  stats(): Record<string, number> {
    const out: Record<string, number> = {
      leader: this.leader,
      switches: this.switches,
      orphans: this.orphans.size,
    };
    this.experts.forEach((e, i) => {
      out[`score_${e.name}`] = Math.round(this.scores[i] * 100) / 100;
    });
    return out;
  }

  check(): void {
    for (const e of this.experts) e.check();
    if (this.real.size > this.capacity)
      throw new CorruptionError(`adaptive: ${this.real.size} over capacity`);
    const l = this.experts[this.leader];
    for (const k of this.real) {
      if (!l.has(k) !== this.orphans.has(k)) throw new CorruptionError(`adaptive: orphan set wrong for ${k}`);
    }
    for (const k of this.orphans) {
      if (!this.real.has(k)) throw new CorruptionError(`adaptive: orphan ${k} not resident`);
    }
  }
}
