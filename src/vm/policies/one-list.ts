/**
 * What LRU, CLOCK and SIEVE share: one list of resident keys (lists.ts) with a referenced bit per
 * node, capacity checks and the bookkeeping calls of the policy protocol. Each subclass says how a
 * hit is recorded and how a victim is found; nothing else differs.
 */
import { CorruptionError } from "../../errors.js";
import { NIL, NodeLists } from "./lists.js";
import { checkCapacity, type ReplacementPolicy } from "./policy.js";

export abstract class OneListPolicy implements ReplacementPolicy {
  abstract readonly name: string;
  readonly capacity: number;
  protected readonly l: NodeLists;

  constructor(capacity: number) {
    checkCapacity(capacity);
    this.capacity = capacity;
    this.l = new NodeLists(1, Math.min(capacity, 1 << 16));
  }

  get size(): number {
    return this.l.size[0];
  }

  has(key: number): boolean {
    return this.l.has(key);
  }

  abstract hit(key: number): void;

  abstract victim(incoming: number, evictable?: (key: number) => boolean): number;

  /** New keys go to the head with a clear referenced bit. */
  insert(key: number): void {
    this.l.add(key, 0, 0);
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
    this.l.check(this.name);
    if (this.size > this.capacity) throw new CorruptionError(`${this.name}: ${this.size} keys over capacity`);
  }
}
