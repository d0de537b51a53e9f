/**
 * W-TinyLFU (Einziger, Friedman & Manes, 2017; the policy of Caffeine): a small LRU window in
 * front of a segmented-LRU main space, and an admission filter between them that compares
 * frequencies kept in a count-min sketch, with a hill climber that sizes the window.
 *
 *     miss ──> window (LRU, 1% at first) ──tail: candidate──┐
 *                                                           v   admitted if its frequency beats
 *     main:  probation (LRU, 20%) <──> protected (LRU, 80%)     the probation tail's; else the
 *              tail: main victim ───────────────────────────┘   candidate itself is evicted
 *     sketch: 4 rows of 4-bit counters, halved every 10 x capacity references (aging)
 *
 * The sketch remembers the frequency of pages long gone, so a page that keeps coming back beats
 * the one-hit wonders of a scan, and in a loop larger than memory the newcomers (no more frequent
 * than the residents) are turned away, which keeps most of the loop resident instead of none.
 * The window lets bursts of new pages hit before they must prove their frequency; the climber
 * grows it on recency-biased workloads and shrinks it on frequency-biased ones: every sample of
 * 10 x capacity references it moves the window by a step in the direction that last improved the
 * hit ratio, and reverses when the hit ratio fell; the step decays so the size settles.
 */
import { CorruptionError } from "../../errors.js";
import { NIL, NodeLists } from "./lists.js";
import { checkCapacity, checkRatio, NO_VICTIM, type ReplacementPolicy } from "./policy.js";

const WINDOW = 0;
const PROBATION = 1;
const PROTECTED = 2;

/** A count-min sketch of 4-bit counters in 4 rows, with periodic halving. */
class FrequencySketch {
  private readonly table: Uint8Array;
  private readonly mask: number;
  private additions = 0;
  private readonly sampleSize: number;
  private readonly idx = new Int32Array(4);

  constructor(capacity: number) {
    let width = 16;
    while (width < capacity * 2 && width < 1 << 26) width <<= 1;
    this.table = new Uint8Array(width * 4);
    this.mask = width - 1;
    this.sampleSize = Math.max(64, 10 * capacity);
  }

  private static hash(key: number, seed: number): number {
    let h = Math.imul((key | 0) ^ seed, 0x9e3779b1) ^ Math.imul(Math.floor(key / 4294967296) | 0, 0x85ebca6b);
    h ^= h >>> 16;
    h = Math.imul(h, 0x7feb352d);
    h ^= h >>> 15;
    h = Math.imul(h, 0x846ca68b);
    return (h ^ (h >>> 16)) >>> 0;
  }

  frequency(key: number): number {
    const t = this.table;
    const w = this.mask + 1;
    let f = 15;
    for (let r = 0; r < 4; r++) {
      const c = t[r * w + (FrequencySketch.hash(key, r * 0x3c6ef372) & this.mask)];
      if (c < f) f = c;
    }
    return f;
  }

  increment(key: number): void {
    const t = this.table;
    const w = this.mask + 1;
    // Conservative update: raise only the counters at the current minimum.
    const idx = this.idx;
    let min = 15;
    for (let r = 0; r < 4; r++) {
      idx[r] = r * w + (FrequencySketch.hash(key, r * 0x3c6ef372) & this.mask);
      if (t[idx[r]] < min) min = t[idx[r]];
    }
    if (min === 15) return;
    for (let r = 0; r < 4; r++) if (t[idx[r]] === min) t[idx[r]]++;
    if (++this.additions >= this.sampleSize) {
      this.additions = 0;
      for (let i = 0; i < t.length; i++) t[i] >>= 1;
    }
  }
}

export class WTinyLfuPolicy implements ReplacementPolicy {
  readonly name = "wtinylfu";
  readonly capacity: number;
  private readonly l: NodeLists;
  private readonly sketch: FrequencySketch;
  /** Target sizes of the window and of the protected segment. */
  private maxWindow: number;
  private maxProtected: number;
  // Hill climber state.
  private readonly sample: number;
  private hits = 0;
  private misses = 0;
  private previousHitRate = 0;
  private step: number;
  private direction = 1;

  constructor(capacity: number, windowRatio = 0.01) {
    checkCapacity(capacity);
    checkRatio("windowRatio", windowRatio);
    this.capacity = capacity;
    this.l = new NodeLists(3, Math.min(capacity, 1 << 16));
    this.sketch = new FrequencySketch(capacity);
    this.maxWindow = Math.max(1, Math.round(capacity * windowRatio));
    this.maxProtected = Math.floor((capacity - this.maxWindow) * 0.8);
    this.sample = Math.max(256, 10 * capacity);
    this.step = Math.max(1, Math.round(capacity * 0.0625));
  }

  get size(): number {
    const s = this.l.size;
    return s[WINDOW] + s[PROBATION] + s[PROTECTED];
  }

  has(key: number): boolean {
    return this.l.has(key);
  }

  hit(key: number): void {
    const l = this.l;
    const n = l.find(key);
    if (n === NIL) return;
    this.sketch.increment(key);
    this.hits++;
    const list = l.list[n];
    if (list === PROBATION) {
      l.moveToHead(n, PROTECTED);
      while (l.size[PROTECTED] > this.maxProtected && l.tail[PROTECTED] !== NIL) {
        l.moveToHead(l.tail[PROTECTED], PROBATION);
      }
    } else l.moveToHead(n, list);
    this.climb();
  }

  insert(key: number): void {
    if (this.l.has(key)) return;
    this.sketch.increment(key);
    this.misses++;
    this.l.add(key, WINDOW);
    this.climb();
  }

  /** Every sample, moves the window size one step the way that last paid off. */
  private climb(): void {
    const total = this.hits + this.misses;
    if (total < this.sample) return;
    const rate = this.hits / total;
    if (rate < this.previousHitRate) this.direction = -this.direction;
    this.previousHitRate = rate;
    this.hits = 0;
    this.misses = 0;
    const c = this.capacity;
    const next = Math.min(
      Math.max(1, this.maxWindow + this.direction * this.step),
      Math.max(1, Math.floor(c * 0.8)),
    );
    this.maxWindow = next;
    this.maxProtected = Math.floor((c - next) * 0.8);
    this.step = Math.max(1, Math.round(this.step * 0.98));
  }

  victim(_incoming: number, evictable?: (key: number) => boolean): number {
    const l = this.l;
    // The incoming page will take a window slot: window pages beyond the window's size become
    // candidates for the main space (the newest of them is the one that duels the main victim).
    let candidate = NIL;
    while (l.size[WINDOW] > 0 && l.size[WINDOW] >= this.maxWindow) {
      candidate = l.tail[WINDOW];
      l.moveToHead(candidate, PROBATION);
    }
    let victim = this.oldest(PROBATION, candidate, evictable);
    if (victim === NIL) victim = this.oldest(PROTECTED, candidate, evictable);
    if (candidate !== NIL && (!evictable || evictable(l.key[candidate]))) {
      if (victim === NIL) return l.key[candidate];
      // Admission: the candidate must be more frequent than the page it would displace.
      return this.sketch.frequency(l.key[candidate]) > this.sketch.frequency(l.key[victim])
        ? l.key[victim]
        : l.key[candidate];
    }
    if (victim !== NIL) return l.key[victim];
    victim = this.oldest(WINDOW, NIL, evictable);
    return victim === NIL ? NO_VICTIM : l.key[victim];
  }

  /** The oldest evictable node of `list` other than `skip`, or NIL. */
  private oldest(list: number, skip: number, evictable?: (key: number) => boolean): number {
    const l = this.l;
    for (let n = l.tail[list]; n !== NIL; n = l.newer[n]) {
      if (n !== skip && (!evictable || evictable(l.key[n]))) return n;
    }
    return NIL;
  }

  evict(key: number): void {
    this.forget(key);
  }

  forget(key: number): void {
    const n = this.l.find(key);
    if (n !== NIL) this.l.delete(n);
  }

  stats(): Record<string, number> {
    const s = this.l.size;
    return {
      window: s[WINDOW],
      probation: s[PROBATION],
      protected: s[PROTECTED],
      windowTarget: this.maxWindow,
    };
  }

  check(): void {
    this.l.check("wtinylfu");
    if (this.size > this.capacity) throw new CorruptionError(`wtinylfu: ${this.size} resident over capacity`);
  }
}
