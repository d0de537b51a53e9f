/**
 * The default policy, `adaptive` (src/vm/policies/adaptive.ts): a weighted vote of key-only
 * experts. Checked against a naive model of the same rule (resident keys filed by which experts
 * hold them, the oldest key of the lightest mask goes, weights from decayed misses and pairwise
 * disagreements), and for the two behaviours the rule is for: an expert that is clearly better
 * is followed exactly, and a workload whose best expert is plain LRU gets LRU's misses (the
 * previous default, following ARC, LIRS or S3-FIFO, could not).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  AdaptivePolicy,
  ArcPolicy,
  InvalidArgumentError,
  LirsPolicy,
  LruPolicy,
  type ReplacementPolicy,
  replay,
  S3FifoPolicy,
} from "../../src/index.js";
import { reference } from "../../src/vm/policies/policy.js";
import { rng } from "../helpers/rng.js";

const experts = (c: number): ReplacementPolicy[] => [
  new ArcPolicy(c),
  new LruPolicy(c),
  new LirsPolicy(c),
  new S3FifoPolicy(c),
];

/**
 * The vote, written as plainly as possible: masks recomputed from every expert's has() after
 * each expert's step, a stamp per key for when it entered its mask, a full sort for the victim.
 */
class NaiveVote {
  readonly ex: ReplacementPolicy[];
  readonly resident = new Map<number, { mask: number; stamp: number }>();
  private scores: number[];
  private dis: number[][];
  private order: number[] = [];
  private clock = 0;
  private fed = 0;
  private readonly decay: number;
  private readonly every: number;

  constructor(readonly capacity: number) {
    this.ex = experts(capacity);
    const k = this.ex.length;
    this.scores = new Array(k).fill(0);
    this.dis = Array.from({ length: k }, () => new Array(k).fill(0));
    this.decay = 0.5 ** (1 / Math.max(1024, 16 * capacity));
    this.every = Math.max(64, capacity >> 3);
    this.reorder();
  }

  private maskOf(key: number): number {
    let m = 0;
    this.ex.forEach((e, i) => {
      if (e.has(key)) m |= 1 << i;
    });
    return m;
  }

  private refile(): void {
    for (const [key, r] of this.resident) {
      const m = this.maskOf(key);
      if (m !== r.mask) this.resident.set(key, { mask: m, stamp: this.clock++ });
    }
  }

  private reorder(): void {
    const k = this.ex.length;
    let b = 0;
    for (let i = 1; i < k; i++) if (this.scores[i] < this.scores[b]) b = i;
    const w = this.scores.map((s, i) =>
      Math.exp(-(s - this.scores[b]) / (2 * Math.sqrt(this.dis[b][i]) + 1)),
    );
    const weight = (m: number) => {
      let t = 0;
      for (let i = 0; i < k; i++) if (m & (1 << i)) t += w[i];
      return t;
    };
    this.order = [...Array(1 << k).keys()].sort((a, c) => weight(a) - weight(c) || a - c);
  }

  /** One reference; returns true on a hit. */
  ref(key: number): boolean {
    const hit = this.resident.has(key);
    const missed = this.ex.map((e) => {
      if (e.has(key)) {
        e.hit(key);
        return 0;
      }
      if (e.size >= e.capacity) e.evict(e.victim(key));
      this.refile();
      e.insert(key);
      return 1;
    });
    const k = this.ex.length;
    for (let i = 0; i < k; i++) this.scores[i] = this.scores[i] * this.decay + missed[i];
    for (let i = 0; i < k; i++)
      for (let j = i + 1; j < k; j++) {
        const x = this.dis[i][j] * this.decay + (missed[i] !== missed[j] ? 1 : 0);
        this.dis[i][j] = x;
        this.dis[j][i] = x;
      }
    this.refile();
    if (++this.fed % this.every === 0) this.reorder();
    if (hit) return true;
    if (this.resident.size >= this.capacity) {
      const rank = (m: number) => this.order.indexOf(m);
      const victim = [...this.resident].sort(
        (a, c) => rank(a[1].mask) - rank(c[1].mask) || a[1].stamp - c[1].stamp,
      )[0][0];
      this.resident.delete(victim);
    }
    this.resident.set(key, { mask: this.maskOf(key), stamp: this.clock++ });
    return false;
  }
}

/** Traces with phases: a hot set, a loop, a shift to a new hot set, random noise. */
const traceArb = fc
  .tuple(
    fc.integer({ min: 1, max: 2 ** 30 }),
    fc.integer({ min: 50, max: 700 }),
    fc.integer({ min: 8, max: 40 }),
  )
  .map(([seed, n, keys]) => {
    const r = rng(seed);
    const out: number[] = [];
    let phase = 0;
    for (let i = 0; i < n; i++) {
      if (r() < 0.01) phase = (phase + 1) % 4;
      if (phase === 0) out.push(Math.floor(r() ** 3 * keys));
      else if (phase === 1) out.push(i % keys);
      else if (phase === 2) out.push(keys - 1 - Math.floor(r() ** 3 * keys));
      else out.push(Math.floor(r() * keys));
    }
    return out;
  });

describe("adaptive: the weighted vote", () => {
  it("makes exactly the decisions of a naive model of the vote", () => {
    fc.assert(
      fc.property(traceArb, fc.integer({ min: 1, max: 12 }), (trace, capacity) => {
        const p = new AdaptivePolicy(capacity, experts(capacity));
        const model = new NaiveVote(capacity);
        for (const key of trace) {
          expect(reference(p, key)).toBe(model.ref(key));
          for (const k of model.resident.keys()) expect(p.has(k)).toBe(true);
        }
        expect(p.size).toBe(model.resident.size);
        p.check();
      }),
      { numRuns: 60 },
    );
  });

  it("follows a clearly better expert exactly: on a loop, the frames end up holding what lirs holds", () => {
    const frames = 100;
    const p = new AdaptivePolicy(frames, experts(frames));
    for (let i = 0; i < 101 * 60; i++) reference(p, i % 101);
    const lirs = p.experts[2];
    for (let k = 0; k < 101; k++) expect(p.has(k), `key ${k}`).toBe(lirs.has(k));
    expect(p.leaderName).toBe("lirs");
    const s = p.stats();
    expect(s.weight_lirs).toBe(1);
    expect(s.weight_lru).toBeLessThan(0.001);
  });

  it("gets plain LRU's misses on a workload LRU is best at (the previous default's experts could not)", () => {
    // The LRU stack model: each reference takes the page at a geometric depth (mean 30) of the
    // recency stack, or a new page (5%). LRU is the best online policy for it; ARC, LIRS and
    // S3-FIFO, the previous default's only experts, all miss 14-43% more than LRU here.
    const r = rng(7);
    const stack: number[] = [];
    const refs: number[] = [];
    let fresh = 0;
    for (let i = 0; i < 40_000; i++) {
      let k: number;
      if (stack.length === 0 || r() < 0.05) k = fresh++;
      else {
        const d = Math.min(stack.length - 1, Math.floor(-Math.log(1 - r()) * 30));
        k = stack[d];
        stack.splice(d, 1);
      }
      stack.unshift(k);
      if (stack.length > 2000) stack.pop();
      refs.push(k);
    }
    const t = { refs: Int32Array.from(refs), distinct: fresh };
    const frames = 64;
    const lru = replay(t, "lru", frames).misses;
    const others = ["arc", "lirs", "s3fifo"].map((p) => replay(t, p, frames).misses);
    expect(Math.min(...others)).toBeGreaterThan(lru * 1.1);
    expect(replay(t, "adaptive", frames).misses).toBeLessThanOrEqual(lru);
  });

  it("gets W-TinyLFU's misses where pages touched twice and never again fool the other experts", () => {
    // A skewed working set (Zipf 0.8 over 3,000 pages) interleaved with pages read and at once
    // written back, then never used again (30% of the steps; a scan that updates in place).
    // The second touch makes such a page look reused to ARC, LIRS and S3-FIFO, which keep it over
    // warm pages; W-TinyLFU's frequency sketch turns it away. The default, which runs wtinylfu as
    // its fifth expert, must follow it (with the other four alone it misses about 10% more).
    const r = rng(11);
    const n = 3000;
    const cdf: number[] = [];
    let total = 0;
    for (let i = 0; i < n; i++) {
      total += 1 / (i + 1) ** 0.8;
      cdf.push(total);
    }
    const refs: number[] = [];
    let fresh = n;
    for (let i = 0; i < 100_000; i++) {
      if (r() < 0.3) {
        refs.push(fresh, fresh);
        fresh++;
        continue;
      }
      const u = r() * total;
      let lo = 0;
      let hi = n - 1;
      while (lo < hi) {
        const m = (lo + hi) >> 1;
        if (cdf[m] < u) lo = m + 1;
        else hi = m;
      }
      refs.push(lo);
    }
    const t = { refs: Int32Array.from(refs), distinct: fresh };
    const frames = 200;
    const wtinylfu = replay(t, "wtinylfu", frames).misses;
    const others = ["lru", "arc", "lirs", "s3fifo"].map((p) => replay(t, p, frames).misses);
    expect(Math.min(...others)).toBeGreaterThan(wtinylfu * 1.05);
    expect(replay(t, "adaptive", frames).misses).toBeLessThan(Math.min(...others));
    expect(replay(t, "adaptive", frames).misses).toBeLessThanOrEqual(wtinylfu * 1.01);
  });

  it("keeps finite scores and the same leader past 2^1024 of score gain (about 1,100 half-lives)", () => {
    // Misses count a gain that grows by 2^(1/half-life) a reference; it is renormalized before it
    // overflows. 1.2 million references at the shortest half-life (1,024) would overflow it.
    const p = new AdaptivePolicy(8, experts(8));
    for (let i = 0; i < 1_200_000; i++) reference(p, i % 9);
    const s = p.stats();
    for (const [name, v] of Object.entries(s)) expect(Number.isFinite(v), name).toBe(true);
    expect(p.leaderName).toBe("lirs");
    expect(s.weight_lirs).toBe(1);
    expect(s.weight_lru).toBeLessThan(0.001);
    p.check();
  });

  it("refuses no experts or more than seven, a negative confidence, and a half-life that is not a positive number", () => {
    expect(() => new AdaptivePolicy(4, [])).toThrow(InvalidArgumentError);
    expect(
      () =>
        new AdaptivePolicy(
          4,
          Array.from({ length: 8 }, () => new LruPolicy(4)),
        ),
    ).toThrow(InvalidArgumentError);
    expect(() => new AdaptivePolicy(4, experts(4), { confidence: -1 })).toThrow(InvalidArgumentError);
    for (const halfLife of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new AdaptivePolicy(4, experts(4), { halfLife })).toThrow(InvalidArgumentError);
    }
  });
});
