/**
 * CLOCK (second chance): LRU approximated with one reference bit per page, as kernels do when
 * they cannot see every access.
 *
 *            hand
 *             v
 *      ... [p4:0] [p8:1] [p2:1] [p6:0] ...      the hand sweeps from the oldest page: a set bit
 *                                               is cleared and the page goes round again (to the
 *      hit: set the bit (no list move)          head); the first clear bit is the victim.
 *
 * The ring is kept as a list whose tail is the hand: a page that gets its second chance moves to
 * the head, which is exactly where the hand reaches it last. A hit costs one byte write; the
 * sweep costs amortized O(1) per eviction. Pages vetoed by the address space (pinned, in I/O)
 * are passed over like referenced pages but keep their bit.
 */
import { NIL } from "./lists.js";
import { OneListPolicy } from "./one-list.js";
import { NO_VICTIM } from "./policy.js";

export class ClockPolicy extends OneListPolicy {
  readonly name = "clock";

  hit(key: number): void {
    const n = this.l.find(key);
    if (n !== NIL) this.l.bits[n] = 1;
  }

  victim(_incoming: number, evictable?: (key: number) => boolean): number {
    const l = this.l;
    // Two full turns at most: the first clears every bit, the second finds a clear one unless
    // every page is vetoed.
    for (let steps = 2 * l.size[0] + 1; steps > 0; steps--) {
      const n = l.tail[0];
      if (n === NIL) break;
      if (l.bits[n] === 0 && (!evictable || evictable(l.key[n]))) return l.key[n];
      l.bits[n] = 0;
      l.moveToHead(n, 0);
    }
    return NO_VICTIM;
  }
}
