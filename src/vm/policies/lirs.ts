/**
 * LIRS, Low Inter-reference Recency Set (Jiang & Zhang, SIGMETRICS 2002): rank pages by reuse
 * distance (the number of distinct pages between their last two references), not by recency.
 *
 *      stack S (recency order, top = newest)        queue Q (resident HIR pages)
 *      top [x:LIR] [y:HIR] [g:ghost] [z:LIR] bottom     front [h1] [h2] [h3] end
 *            ^ every page referenced recently            ^ victims come from the front
 *      bottom is always LIR ("stack pruning" drops the HIR pages and ghosts below the last LIR)
 *
 * Most frames (99%) hold LIR pages, the ones with short reuse distance; the remaining 1% hold HIR
 * pages, newcomers and pages with long reuse distance, and absorb all evictions. A HIR page
 * referenced while it is still in S (its reuse distance beats the oldest LIR page's recency)
 * becomes LIR, and the bottom LIR page is demoted to Q. A scan or a loop larger than memory
 * therefore churns only the 1% HIR frames, which is where LRU and even ARC lose the most.
 *
 * Ghosts (non-resident HIR entries in S) are capped at twice the capacity, oldest first, so memory
 * stays bounded on traces with millions of distinct pages.
 */
import { CorruptionError, InvalidArgumentError } from "../../errors.js";
import { NIL, NodeLists } from "./lists.js";
import { checkCapacity, checkRatio, NO_VICTIM, type ReplacementPolicy } from "./policy.js";

/** Status of an entry of S, kept in its `bits`. */
const LIR = 0;
const HIR = 1;
const GHOST = 2;

export class LirsPolicy implements ReplacementPolicy {
  readonly name = "lirs";
  readonly capacity: number;
  /** Frames meant for LIR pages. */
  readonly lirTarget: number;
  readonly ghostLimit: number;
  private lirs = 0;
  /** The stack S. */
  private readonly s: NodeLists;
  /** The queue Q of resident HIR pages (head = end of queue, tail = front). */
  private readonly q: NodeLists;
  /** Ghosts in the order they became ghosts, to cap their number. */
  private readonly g: NodeLists;

  constructor(capacity: number, hirRatio = 0.01, ghostFactor = 2) {
    checkCapacity(capacity);
    checkRatio("hirRatio", hirRatio);
    if (!(ghostFactor > 0 && ghostFactor <= 64)) {
      throw new InvalidArgumentError("ghostFactor", ghostFactor, "must be above 0 and at most 64");
    }
    this.capacity = capacity;
    this.lirTarget = capacity - Math.max(1, Math.round(capacity * hirRatio));
    this.ghostLimit = Math.max(1, Math.round(capacity * ghostFactor));
    const initial = Math.min(capacity, 1 << 16);
    this.s = new NodeLists(1, 2 * initial);
    this.q = new NodeLists(1, initial);
    this.g = new NodeLists(1, initial);
  }

  get size(): number {
    return this.lirs + this.q.size[0];
  }

  has(key: number): boolean {
    if (this.q.has(key)) return true;
    const n = this.s.find(key);
    return n !== NIL && this.s.bits[n] === LIR;
  }

  hit(key: number): void {
    const s = this.s;
    const n = s.find(key);
    if (n !== NIL && s.bits[n] === LIR) {
      const bottom = s.tail[0] === n;
      s.moveToHead(n, 0);
      if (bottom) this.prune();
      return;
    }
    const qn = this.q.find(key);
    if (qn === NIL) return;
    if (n !== NIL) {
      // HIR page still in S: its reuse distance is short, promote it.
      s.bits[n] = LIR;
      s.moveToHead(n, 0);
      this.lirs++;
      this.q.delete(qn);
      this.demoteExcess();
    } else {
      s.add(key, 0, HIR);
      this.q.moveToHead(qn, 0);
    }
  }

  insert(key: number): void {
    const s = this.s;
    const n = s.find(key);
    if (n !== NIL && s.bits[n] !== GHOST) return; // resident: protocol misuse
    if (this.q.has(key)) return;
    if (n !== NIL) {
      // A ghost: referenced again within S's span, so its reuse distance qualifies it as LIR.
      this.g.delete(this.g.find(key));
      s.bits[n] = LIR;
      s.moveToHead(n, 0);
      this.lirs++;
      this.demoteExcess();
    } else if (this.lirs < this.lirTarget) {
      s.add(key, 0, LIR);
      this.lirs++;
      this.prune();
    } else {
      s.add(key, 0, HIR);
      this.q.add(key, 0);
    }
  }

  /** While there are more LIR pages than lirTarget, the bottom one becomes a resident HIR page. */
  private demoteExcess(): void {
    const s = this.s;
    while (this.lirs > this.lirTarget) {
      this.prune();
      const b = s.tail[0];
      if (b === NIL || s.bits[b] !== LIR) break;
      this.q.add(s.key[b], 0);
      s.delete(b);
      this.lirs--;
      this.prune();
    }
  }

  /** Stack pruning: drop HIR entries and ghosts below the bottom LIR page. */
  private prune(): void {
    const s = this.s;
    for (let b = s.tail[0]; b !== NIL && s.bits[b] !== LIR; b = s.tail[0]) {
      if (s.bits[b] === GHOST) this.g.delete(this.g.find(s.key[b]));
      s.delete(b);
    }
  }

  victim(_incoming: number, evictable?: (key: number) => boolean): number {
    const q = this.q;
    for (let n = q.tail[0]; n !== NIL; n = q.newer[n]) {
      if (!evictable || evictable(q.key[n])) return q.key[n];
    }
    // Every resident HIR page is vetoed (or there is none): fall back to the oldest LIR page.
    const s = this.s;
    for (let n = s.tail[0]; n !== NIL; n = s.newer[n]) {
      if (s.bits[n] === LIR && (!evictable || evictable(s.key[n]))) return s.key[n];
    }
    return NO_VICTIM;
  }

  evict(key: number): void {
    const s = this.s;
    const qn = this.q.find(key);
    const n = s.find(key);
    if (qn !== NIL) this.q.delete(qn);
    else if (n === NIL || s.bits[n] !== LIR) return;
    if (n === NIL) return;
    if (s.bits[n] === LIR) this.lirs--;
    s.bits[n] = GHOST;
    this.g.add(key, 0);
    if (this.g.size[0] > this.ghostLimit) {
      const old = this.g.tail[0];
      s.delete(s.find(this.g.key[old]));
      this.g.delete(old);
    }
    this.prune();
  }

  forget(key: number): void {
    const qn = this.q.find(key);
    if (qn !== NIL) this.q.delete(qn);
    const gn = this.g.find(key);
    if (gn !== NIL) this.g.delete(gn);
    const n = this.s.find(key);
    if (n !== NIL) {
      if (this.s.bits[n] === LIR) this.lirs--;
      this.s.delete(n);
      this.prune();
    }
  }

  stats(): Record<string, number> {
    return { lir: this.lirs, hir: this.q.size[0], ghosts: this.g.size[0], stack: this.s.size[0] };
  }

  check(): void {
    const { s, q, g } = this;
    s.check("lirs stack");
    q.check("lirs queue");
    g.check("lirs ghosts");
    let lirs = 0;
    let ghosts = 0;
    for (let n = s.head[0]; n !== NIL; n = s.older[n]) {
      const k = s.key[n];
      if (s.bits[n] === LIR) {
        lirs++;
        if (q.has(k)) throw new CorruptionError(`lirs: LIR page ${k} is in Q`);
      } else if (s.bits[n] === GHOST) {
        ghosts++;
        if (!g.has(k) || q.has(k)) throw new CorruptionError(`lirs: ghost ${k} misfiled`);
      } else if (!q.has(k)) throw new CorruptionError(`lirs: resident HIR ${k} not in Q`);
    }
    if (lirs !== this.lirs) throw new CorruptionError(`lirs: ${lirs} LIR entries, count says ${this.lirs}`);
    if (ghosts !== g.size[0]) throw new CorruptionError(`lirs: ${ghosts} ghosts in S, ${g.size[0]} listed`);
    if (this.lirs > 0 && s.bits[s.tail[0]] !== LIR) throw new CorruptionError("lirs: stack bottom not LIR");
    if (this.size > this.capacity) throw new CorruptionError(`lirs: ${this.size} resident over capacity`);
  }
}
