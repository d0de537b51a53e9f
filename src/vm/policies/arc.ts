/**
 * ARC, the Adaptive Replacement Cache (Megiddo & Modha, FAST 2003).
 *
 * Two LRU lists of resident pages and two of ghosts (keys only, no data):
 *
 *       B1 ghosts  <-  T1 seen once  |  T2 seen twice+  ->  B2 ghosts
 *      [.. .. ..]     [p p p p p p p | P P P P P P P P]     [.. .. ..]
 *                     <------ p ---->|                      |T1|+|T2| <= c, |T1|+|B1| <= c,
 *                                                           all four <= 2c
 *
 * A page referenced once lives in T1; a second reference promotes it to T2. Evicting from T1
 * leaves a ghost in B1, from T2 one in B2. A miss that finds its key in B1 says "T1 was too
 * small": the target size p of T1 grows (by |B2|/|B1|, at least 1); a hit in B2 shrinks it. The
 * victim comes from T1 while |T1| exceeds p, else from T2. So ARC moves between recency (LRU)
 * and frequency by itself, and one scan can only flush T1, never T2.
 *
 * Split into the victim()/evict()/insert() protocol of policy.ts: victim() computes the adapted p
 * for the incoming key without committing it (the address space may still fail to write the victim
 * back), insert() commits it. Evicting before the ghost trim of case IV gives the same lists as the
 * paper's order (checked against its OLTP table by the trace benchmark).
 */
import { CorruptionError } from "../../errors.js";
import { NIL, NodeLists } from "./lists.js";
import { checkCapacity, NO_VICTIM, type ReplacementPolicy } from "./policy.js";

const T1 = 0;
const T2 = 1;
const B1 = 2;
const B2 = 3;

export class ArcPolicy implements ReplacementPolicy {
  readonly name: string = "arc";
  readonly capacity: number;
  /** Target size of T1. */
  private p = 0;
  private pendingKey = Number.NaN;
  private pendingP = 0;
  private readonly l: NodeLists;

  constructor(capacity: number) {
    checkCapacity(capacity);
    this.capacity = capacity;
    this.l = new NodeLists(4, Math.min(2 * capacity, 1 << 16));
  }

  get size(): number {
    return this.l.size[T1] + this.l.size[T2];
  }

  has(key: number): boolean {
    const n = this.l.find(key);
    return n !== NIL && this.l.list[n] <= T2;
  }

  hit(key: number): void {
    const n = this.l.find(key);
    if (n !== NIL && this.l.list[n] <= T2) this.l.moveToHead(n, T2);
  }

  /** p after a miss on `key` (unchanged unless the key is a ghost). */
  private adapted(key: number): number {
    const l = this.l;
    const n = l.find(key);
    if (n === NIL) return this.p;
    const b1 = l.size[B1];
    const b2 = l.size[B2];
    if (l.list[n] === B1) return Math.min(this.capacity, this.p + (b1 >= b2 ? 1 : b2 / b1));
    if (l.list[n] === B2) return Math.max(0, this.p - (b2 >= b1 ? 1 : b1 / b2));
    return this.p;
  }

  victim(incoming: number, evictable?: (key: number) => boolean): number {
    const l = this.l;
    const p = this.adapted(incoming);
    this.pendingKey = incoming;
    this.pendingP = p;
    const n = l.find(incoming);
    const inB2 = n !== NIL && l.list[n] === B2;
    const t1 = l.size[T1];
    const first = t1 > 0 && (t1 > p || (inB2 && t1 === p)) ? T1 : T2;
    const k = this.lruOf(first, evictable);
    return k !== NO_VICTIM ? k : this.lruOf(first === T1 ? T2 : T1, evictable);
  }

  private lruOf(list: number, evictable?: (key: number) => boolean): number {
    const l = this.l;
    for (let n = l.tail[list]; n !== NIL; n = l.newer[n]) {
      if (!evictable || evictable(l.key[n])) return l.key[n];
    }
    return NO_VICTIM;
  }

  evict(key: number): void {
    const l = this.l;
    const n = l.find(key);
    if (n === NIL) return;
    const list = l.list[n];
    if (list === T1) l.moveToHead(n, B1);
    else if (list === T2) l.moveToHead(n, B2);
  }

  insert(key: number): void {
    const l = this.l;
    const c = this.capacity;
    const n = l.find(key);
    if (n !== NIL && (l.list[n] === B1 || l.list[n] === B2)) {
      this.p = this.pendingKey === key ? this.pendingP : this.adapted(key);
      this.pendingKey = Number.NaN;
      l.moveToHead(n, T2);
      return;
    }
    this.pendingKey = Number.NaN;
    if (n !== NIL) return; // already resident: protocol misuse, keep the lists consistent
    if (l.size[T1] + l.size[B1] >= c) {
      if (l.size[B1] > 0) l.delete(l.tail[B1]);
    } else if (l.size[T1] + l.size[T2] + l.size[B1] + l.size[B2] >= 2 * c && l.size[B2] > 0) {
      l.delete(l.tail[B2]);
    }
    l.add(key, T1);
  }

  forget(key: number): void {
    const n = this.l.find(key);
    if (n !== NIL) this.l.delete(n);
  }

  stats(): Record<string, number> {
    const s = this.l.size;
    return { t1: s[T1], t2: s[T2], b1: s[B1], b2: s[B2], target: Math.round(this.p * 100) / 100 };
  }

  check(): void {
    const l = this.l;
    l.check("arc");
    const c = this.capacity;
    const s = l.size;
    if (s[T1] + s[T2] > c) throw new CorruptionError(`arc: ${s[T1] + s[T2]} resident over capacity ${c}`);
    if (s[T1] + s[B1] > c) throw new CorruptionError(`arc: |T1|+|B1| = ${s[T1] + s[B1]} over ${c}`);
    if (s[T1] + s[T2] + s[B1] + s[B2] > 2 * c) throw new CorruptionError("arc: directory over 2c");
    if (!(this.p >= 0 && this.p <= c)) throw new CorruptionError(`arc: target ${this.p} outside 0..${c}`);
  }
}
