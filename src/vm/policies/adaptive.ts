/**
 * ADAPTIVE: a weighted vote of expert policies simulated on keys alone.
 *
 * No single policy wins every workload (BENCHMARKS.md, "VM layer"): LIRS is near-optimal on
 * loops and scans where LRU and ARC miss on every reference, S3-FIFO leads on skewed database and
 * web traces, W-TinyLFU's frequency sketch turns away pages that are touched twice and never
 * again (which ARC, LIRS and S3-FIFO take for reuse), ARC is the safe middle, and plain LRU is
 * best right after a working-set change, when every frequency-minded policy still holds the old
 * phase's pages. So the default runs five experts side by side, each a complete policy fed every
 * reference but holding keys only (no frames, no data), scores each by its recent misses, and
 * lets the real frames keep the pages the well-scoring experts agree on:
 *
 *     reference x ──> arc      shadow ─┐ misses, decayed (half-life: 16x the capacity)
 *                 ├─> lru      shadow ─┤ disagreements of each pair, decayed alike
 *                 ├─> lirs     shadow ─┼──> weight_i = exp(-(score_i - best) / (2·√disagree(i, best) + 1))
 *                 ├─> s3fifo   shadow ─┤
 *                 └─> wtinylfu shadow ─┘
 *
 *     real resident keys, filed by which experts hold them (a bit per expert: 32 "masks"):
 *
 *       mask 00000 00100 00010 ... 10111 11111     weight(mask) = Σ weight_i over its bits;
 *            [..]  [..]  [.]       [...] [......]  the victim is the oldest evictable key of
 *            ^ no expert holds these: evicted first the lightest non-empty mask
 *
 * Why a vote and not "follow the leader": the previous default made the frames follow the
 * expert with the fewest recent misses (2% hysteresis). Its losses were switches: after one,
 * the frames hold the old leader's pages, and the misses until they match the new leader's cost
 * up to a frame each (tens of thousands on the large traces). The weights here move continuously
 * instead: an expert whose lead over another is within about two standard deviations of noise
 * (the deviation of a difference of misses is about √(references where exactly one of the two
 * missed)) weighs nearly as much as the best one, so pages both hold outrank pages only one
 * holds and a near-tie does not flip the frames back and forth; an expert that is clearly behind
 * weighs ~0 and the frames do what the best expert does. When one expert dominates, the keys
 * it holds outweigh all others: a key it drops becomes the lightest and is evicted next, so the
 * frames make that expert's decisions exactly (the resident sets converge at one key per miss,
 * as before).
 *
 * Cost: one policy update per expert per reference (five instead of one), ten decayed pair
 * counters, and a list move when an expert drops a key the frames hold. The order in which the
 * experts are listed matters only for ties: equal mask weights (lower mask first), equal scores
 * (the first expert is the best), and keys that change lists during one reference (in expert
 * order).
 */
import { CorruptionError, InvalidArgumentError } from "../../errors.js";
import { NIL, NodeLists } from "./lists.js";
import { checkCapacity, NO_VICTIM, type ReplacementPolicy } from "./policy.js";

export interface AdaptiveOptions {
  /** Score half-life in references, as a multiple of the capacity (default 16, at least 1024 refs). */
  halfLife?: number;
  /**
   * How many standard deviations of noise a score difference is measured in (default 2): an
   * expert behind the best by `confidence`·σ + 1 misses weighs 1/e of the best one.
   */
  confidence?: number;
}

/** At most 7 experts: masks are list numbers of a NodeLists (0..254). */
const MAX_EXPERTS = 7;

export class AdaptivePolicy implements ReplacementPolicy {
  readonly name = "adaptive";
  readonly capacity: number;
  readonly experts: readonly ReplacementPolicy[];
  /**
   * Decayed misses of each expert, times `gain`. Decaying every score and pair count on every
   * reference cost a multiply each (15 with five experts) even on the common reference that
   * every expert hits; instead each new miss counts `gain`, which grows by 1/decay per reference,
   * and the stored sums are divided by `gain` where they are read (weights, stats).
   */
  private readonly scores: Float64Array;
  /** Decayed count times `gain`, per pair of experts (i * k + j, both orders), of references only one missed. */
  private readonly disagree: Float64Array;
  /** Whether each expert missed the current reference. */
  private readonly missed: Uint8Array;
  /** What one event of the current reference counts: decay^-(references so far), renormalized. */
  private gain = 1;
  private readonly growth: number;
  private readonly confidence: number;
  /** Real resident keys, on the list numbered by the mask of experts that hold them. */
  private readonly real: NodeLists;
  /** Masks, lightest first: the order victim() searches. */
  private order: Int32Array;
  private readonly full: number;
  private best = 0;
  private reorders = 0;
  /** The key victim() already fed to the experts, so that insert() does not feed it twice. */
  private fedKey = Number.NaN;
  private sinceReorder = 0;
  private readonly reorderEvery: number;

  constructor(capacity: number, experts: readonly ReplacementPolicy[], options: AdaptiveOptions = {}) {
    checkCapacity(capacity);
    const k = experts?.length;
    if (!(k >= 1 && k <= MAX_EXPERTS)) {
      throw new InvalidArgumentError("experts", k, `must be 1 to ${MAX_EXPERTS} policies`);
    }
    const confidence = options.confidence ?? 2;
    if (!(confidence >= 0)) throw new InvalidArgumentError("confidence", confidence, "must be >= 0");
    const multiple = options.halfLife ?? 16;
    if (!(multiple > 0 && multiple < Number.POSITIVE_INFINITY)) {
      throw new InvalidArgumentError("halfLife", multiple, "must be a positive finite number");
    }
    this.capacity = capacity;
    this.experts = experts;
    this.scores = new Float64Array(k);
    this.disagree = new Float64Array(k * k);
    this.missed = new Uint8Array(k);
    const halfLife = Math.max(1024, multiple * capacity);
    this.growth = 2 ** (1 / halfLife);
    this.confidence = confidence;
    this.full = (1 << k) - 1;
    this.real = new NodeLists(1 << k, Math.min(capacity, 1 << 16));
    this.order = new Int32Array(1 << k);
    this.reorderEvery = Math.max(64, capacity >> 3);
    this.reorder();
  }

  get size(): number {
    return this.real.count;
  }

  /** The expert with the fewest recent misses. */
  get leaderName(): string {
    return this.experts[this.best].name;
  }

  has(key: number): boolean {
    return this.real.has(key);
  }

  hit(key: number): void {
    this.feed(key);
  }

  /** Weight of each expert, from the scores and the disagreements with the best one. */
  weights(): number[] {
    const k = this.experts.length;
    const s = this.scores;
    const b = this.best;
    const g = this.gain;
    const w: number[] = [];
    for (let i = 0; i < k; i++) {
      const sigma = Math.sqrt(this.disagree[b * k + i] / g);
      w.push(Math.exp(-(s[i] - s[b]) / g / (this.confidence * sigma + 1)));
    }
    return w;
  }

  /** Recomputes the best expert, the weights and the search order of the masks. */
  private reorder(): void {
    const s = this.scores;
    let b = 0;
    for (let i = 1; i < s.length; i++) if (s[i] < s[b]) b = i;
    this.best = b;
    const w = this.weights();
    const masks = this.order.length;
    const mw = new Float64Array(masks);
    for (let m = 0; m < masks; m++) {
      let t = 0;
      for (let i = 0; i < w.length; i++) if (m & (1 << i)) t += w[i];
      mw[m] = t;
    }
    this.order = Int32Array.from({ length: masks }, (_, m) => m).sort((a, c) => mw[a] - mw[c] || a - c);
    this.reorders++;
  }

  /** Runs one reference through every expert and updates scores, disagreements and masks. */
  private feed(key: number): void {
    const experts = this.experts;
    const k = experts.length;
    const scores = this.scores;
    const missed = this.missed;
    const real = this.real;
    let g = this.gain * this.growth;
    if (g > 2 ** 500) g = this.renormalize(g);
    this.gain = g;
    let misses = 0;
    for (let i = 0; i < k; i++) {
      const e = experts[i];
      if (e.has(key)) {
        e.hit(key);
        missed[i] = 0;
        continue;
      }
      missed[i] = 1;
      misses++;
      scores[i] += g;
      if (e.size >= e.capacity) {
        const v = e.victim(key);
        e.evict(v);
        const n = real.find(v);
        if (n !== NIL) real.moveToHead(n, real.list[n] & ~(1 << i));
      }
      e.insert(key);
    }
    if (misses !== 0 && misses !== k) {
      const dis = this.disagree;
      for (let i = 0; i < k; i++) {
        for (let j = i + 1; j < k; j++) {
          if (missed[i] === missed[j]) continue;
          dis[i * k + j] += g;
          dis[j * k + i] += g;
        }
      }
    }
    // Every expert holds `key` now.
    const n = real.find(key);
    if (n !== NIL && real.list[n] !== this.full) real.moveToHead(n, this.full);
    if (++this.sinceReorder >= this.reorderEvery) {
      this.sinceReorder = 0;
      this.reorder();
    }
  }

  /** Scales every sum down by `g` before the gain overflows; returns the new gain, 1. */
  private renormalize(g: number): number {
    const s = this.scores;
    const dis = this.disagree;
    for (let i = 0; i < s.length; i++) s[i] /= g;
    for (let i = 0; i < dis.length; i++) dis[i] /= g;
    return 1;
  }

  victim(incoming: number, evictable?: (key: number) => boolean): number {
    const real = this.real;
    if (evictable) {
      // Nothing evictable: answer before feeding the experts, so a failed fault changes nothing.
      let any = false;
      for (const k of real.keys()) {
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
    const order = this.order;
    for (let o = 0; o < order.length; o++) {
      for (let n = real.tail[order[o]]; n !== NIL; n = real.newer[n]) {
        const k = real.key[n];
        if (k !== incoming && (!evictable || evictable(k))) return k;
      }
    }
    return NO_VICTIM;
  }

  evict(key: number): void {
    const n = this.real.find(key);
    if (n !== NIL) this.real.delete(n);
  }

  insert(key: number): void {
    if (this.fedKey !== key) this.feed(key);
    this.fedKey = Number.NaN;
    if (this.real.find(key) !== NIL) return; // already resident: protocol misuse
    let mask = 0;
    for (let i = 0; i < this.experts.length; i++) if (this.experts[i].has(key)) mask |= 1 << i;
    this.real.add(key, mask);
  }

  forget(key: number): void {
    this.evict(key);
    for (const e of this.experts) e.forget(key);
  }

  stats(): Record<string, number> {
    const out: Record<string, number> = { leader: this.best, reorders: this.reorders };
    const w = this.weights();
    this.experts.forEach((e, i) => {
      out[`score_${e.name}`] = Math.round((this.scores[i] / this.gain) * 100) / 100;
      out[`weight_${e.name}`] = Math.round(w[i] * 1000) / 1000;
    });
    return out;
  }

  check(): void {
    for (const e of this.experts) e.check();
    const real = this.real;
    real.check("adaptive");
    if (real.count > this.capacity) throw new CorruptionError(`adaptive: ${real.count} over capacity`);
    for (const k of real.keys()) {
      const n = real.find(k);
      let mask = 0;
      for (let i = 0; i < this.experts.length; i++) if (this.experts[i].has(k)) mask |= 1 << i;
      if (real.list[n] !== mask)
        throw new CorruptionError(`adaptive: key ${k} filed under mask ${real.list[n]}, experts say ${mask}`);
    }
  }
}
