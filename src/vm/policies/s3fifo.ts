/**
 * S3-FIFO (Yang et al., SOSP 2023): three FIFO queues, no list move on a hit.
 *
 *      insert ──> S (small, 10%) ──tail: freq >= 1 ──> M (main, 90%) ──tail: freq > 0 ──┐
 *                    │ tail: freq 0                       ^ re-insert with freq - 1 ───┘
 *                    v                                    │ tail: freq 0 -> evicted
 *                    G (ghost keys, |G| <= c) ──miss found in G──> straight into M
 *
 * Most pages are touched once ("one-hit wonders"); S holds them briefly and evicts them without
 * ever disturbing M, so a scan passes through S alone. A page referenced while in S graduates to
 * M, where a 2-bit frequency counter gives it up to three extra trips round the queue. A hit is a
 * saturating increment of that counter: no pointer moves, which is why FIFO-based policies scale.
 */
import { CorruptionError } from "../../errors.js";
import { NIL, NodeLists } from "./lists.js";
import { checkCapacity, checkRatio, NO_VICTIM, type ReplacementPolicy } from "./policy.js";

const S = 0;
const M = 1;
const G = 2;

export class S3FifoPolicy implements ReplacementPolicy {
  readonly name = "s3fifo";
  readonly capacity: number;
  /** Target size of S. */
  readonly small: number;
  private readonly l: NodeLists;

  constructor(capacity: number, smallRatio = 0.1) {
    checkCapacity(capacity);
    checkRatio("smallRatio", smallRatio);
    this.capacity = capacity;
    this.small = Math.max(1, Math.round(capacity * smallRatio));
    this.l = new NodeLists(3, Math.min(2 * capacity, 1 << 16));
  }

  get size(): number {
    return this.l.size[S] + this.l.size[M];
  }

  has(key: number): boolean {
    const n = this.l.find(key);
    return n !== NIL && this.l.list[n] !== G;
  }

  hit(key: number): void {
    const l = this.l;
    const n = l.find(key);
    if (n !== NIL && l.list[n] !== G && l.bits[n] < 3) l.bits[n]++;
  }

  insert(key: number): void {
    const l = this.l;
    const n = l.find(key);
    if (n !== NIL) {
      if (l.list[n] !== G) return;
      l.bits[n] = 0;
      l.moveToHead(n, M);
      return;
    }
    l.add(key, S, 0);
  }

  victim(_incoming: number, evictable?: (key: number) => boolean): number {
    const l = this.l;
    // Each step either returns or moves one page; a page can be moved at most 4 times (3 frequency
    // decrements and S -> M) before it is a candidate again, so 5 turns bound the search.
    // Vetoed pages are passed over (moved to their queue's head); once every page of S has been
    // passed over, the search goes on in M, and the other way round.
    let skippedS = 0;
    let skippedM = 0;
    for (let steps = 5 * this.size + 5; steps > 0; steps--) {
      const sOpen = l.size[S] > 0 && skippedS < l.size[S];
      const mOpen = l.size[M] > 0 && skippedM < l.size[M];
      if (!sOpen && !mOpen) break;
      const fromSmall = sOpen && (l.size[S] >= this.small || !mOpen);
      const q = fromSmall ? S : M;
      const n = l.tail[q];
      if (fromSmall) {
        if (l.bits[n] >= 1) {
          l.bits[n] = 0;
          l.moveToHead(n, M);
        } else if (!evictable || evictable(l.key[n])) return l.key[n];
        else {
          skippedS++;
          l.moveToHead(n, S);
        }
      } else if (l.bits[n] > 0) {
        l.bits[n]--;
        l.moveToHead(n, M);
      } else if (!evictable || evictable(l.key[n])) return l.key[n];
      else {
        skippedM++;
        l.moveToHead(n, M);
      }
    }
    return NO_VICTIM;
  }

  evict(key: number): void {
    const l = this.l;
    const n = l.find(key);
    if (n === NIL) return;
    if (l.list[n] === S) {
      l.moveToHead(n, G);
      if (l.size[G] > this.capacity) l.delete(l.tail[G]);
    } else if (l.list[n] === M) l.delete(n);
  }

  forget(key: number): void {
    const n = this.l.find(key);
    if (n !== NIL) this.l.delete(n);
  }

  stats(): Record<string, number> {
    const s = this.l.size;
    return { small: s[S], main: s[M], ghost: s[G] };
  }

  check(): void {
    this.l.check("s3fifo");
    const s = this.l.size;
    if (s[S] + s[M] > this.capacity)
      throw new CorruptionError(`s3fifo: ${s[S] + s[M]} resident over capacity`);
    if (s[G] > this.capacity) throw new CorruptionError(`s3fifo: ${s[G]} ghosts over ${this.capacity}`);
  }
}
