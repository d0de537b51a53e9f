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
import { NIL } from "./lists.js";
import { OneListPolicy } from "./one-list.js";
import { NO_VICTIM } from "./policy.js";

export class SievePolicy extends OneListPolicy {
  readonly name = "sieve";
  /** Node the next sweep starts at; NIL = the tail. */
  private hand = NIL;

  hit(key: number): void {
    const n = this.l.find(key);
    if (n !== NIL) this.l.bits[n] = 1;
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

  override forget(key: number): void {
    const l = this.l;
    const n = l.find(key);
    if (n === NIL) return;
    if (this.hand === n) this.hand = l.newer[n];
    l.delete(n);
  }

  override check(): void {
    super.check();
    if (this.hand !== NIL && this.l.list[this.hand] !== 0)
      throw new CorruptionError("sieve: hand on a free node");
  }
}
