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
import { CorruptionError } from "../../errors.js";
import { NIL, NodeLists } from "./lists.js";
import { NO_VICTIM, type ReplacementPolicy } from "./policy.js";

export class LruPolicy implements ReplacementPolicy {
  readonly name = "lru";
  readonly capacity: number;
  private readonly l: NodeLists;

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
    if (n !== NIL) this.l.moveToHead(n, 0);
  }

  insert(key: number): void {
    this.l.add(key, 0);
  }

  victim(_incoming: number, evictable?: (key: number) => boolean): number {
    const l = this.l;
    for (let n = l.tail[0]; n !== NIL; n = l.newer[n]) {
      if (!evictable || evictable(l.key[n])) return l.key[n];
    }
    return NO_VICTIM;
  }

  evict(key: number): void {
    this.forget(key);
  }

  forget(key: number): void {
    const n = this.l.find(key);
    if (n !== NIL) this.l.delete(n);
  }

  stats(): Record<string, number> {
    return { resident: this.size };
  }

  check(): void {
    this.l.check("lru");
    if (this.size > this.capacity) throw new CorruptionError(`lru: ${this.size} keys over capacity`);
  }
}
