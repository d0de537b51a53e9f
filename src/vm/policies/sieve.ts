/**
 * SIEVE (Zhang et al., NSDI 2024): a FIFO queue with one visited bit and a hand that remembers
 * where it stopped.
 *
 *      head (newest)                          tail (oldest)
 *       [a:0] [b:1] [c:0] [d:1] [e:1] [f:0]
 *                           ^ hand moves toward the head, wrapping to the tail:
 *                             visited -> clear and pass; not visited -> victim
 *
 * Unlike CLOCK, a survivor is not moved to the head: it stays where it is, so new pages sit
 * between the hand and the head and are examined before old survivors, which "sieves" one-hit
 * wonders out quickly. A hit is one byte write, as in CLOCK.
 */
import { CorruptionError } from "../../errors.js";
import { NIL, NodeLists } from "./lists.js";
import { NO_VICTIM, type ReplacementPolicy } from "./policy.js";

export class SievePolicy implements ReplacementPolicy {
  readonly name = "sieve";
  readonly capacity: number;
  private readonly l: NodeLists;
  /** Node the next sweep starts at; NIL = the tail. */
  private hand = NIL;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.l = new NodeLists(1, Math.min(capacity, 1 << 16));
  }

  get size(): number {
    return this.l.size[0];
  }

  has(key: number): boolean {
    return this.l.index.has(key);
  }

  hit(key: number): void {
    const n = this.l.find(key);
    if (n !== NIL) this.l.bits[n] = 1;
  }

  insert(key: number): void {
    this.l.add(key, 0, 0);
  }

  victim(_incoming: number, evictable?: (key: number) => boolean): number {
    const l = this.l;
    let n = this.hand === NIL ? l.tail[0] : this.hand;
    for (let steps = 2 * l.size[0] + 1; steps > 0 && n !== NIL; steps--) {
      if (l.bits[n] === 0 && (!evictable || evictable(l.key[n]))) {
        this.hand = n;
        return l.key[n];
      }
      l.bits[n] = 0;
      n = l.newer[n];
      if (n === NIL) n = l.tail[0];
    }
    return NO_VICTIM;
  }

  evict(key: number): void {
    this.forget(key);
  }

  forget(key: number): void {
    const l = this.l;
    const n = l.find(key);
    if (n === NIL) return;
    if (this.hand === n) this.hand = l.newer[n];
    l.delete(n);
  }

  stats(): Record<string, number> {
    return { resident: this.size };
  }

  check(): void {
    this.l.check("sieve");
    if (this.size > this.capacity) throw new CorruptionError(`sieve: ${this.size} keys over capacity`);
    if (this.hand !== NIL && this.l.list[this.hand] !== 0)
      throw new CorruptionError("sieve: hand on a free node");
  }
}
