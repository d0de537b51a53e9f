/**
 * LRU: evict the page whose last reference is oldest (the seed's default: libhurd-mm "primarily
 * uses LRU to determine which frames to evict").
 *
 *     head (most recent)                       tail (least recent) -> victim
 *      [p9] <-> [p3] <-> [p7] <-> ... <-> [p1]
 *      hit: move to head          insert: add at head
 *
 * Exact LRU costs a list move per hit, which a kernel avoids (it has no hook on every access) but
 * a user-space pager gets for free: every access goes through read()/write(). Its weakness is
 * scans and loops larger than memory, which flush the working set; `sequential` and `readOnce`
 * hints (hints.ts) and the scan-resistant policies address that.
 */
import { NIL } from "./lists.js";
import { OneListPolicy } from "./one-list.js";
import { NO_VICTIM } from "./policy.js";

export class LruPolicy extends OneListPolicy {
  readonly name = "lru";

  hit(key: number): void {
    const n = this.l.find(key);
    if (n !== NIL) this.l.moveToHead(n, 0);
  }

  victim(_incoming: number, evictable?: (key: number) => boolean): number {
    const l = this.l;
    for (let n = l.tail[0]; n !== NIL; n = l.newer[n]) {
      if (!evictable || evictable(l.key[n])) return l.key[n];
    }
    return NO_VICTIM;
  }
}
