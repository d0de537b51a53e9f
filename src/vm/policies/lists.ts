/**
 * Intrusive doubly linked lists over typed arrays, the one data structure every replacement
 * policy here is built from.
 *
 * A node is an index into parallel arrays; each node belongs to at most one of a small number of
 * lists (ARC's T1/T2/B1/B2, S3-FIFO's S/M/G, ...). A `Map` from page key to node gives O(1)
 * lookup. Lists run from head (most recent insertion) to tail (oldest):
 *
 *     head                                tail
 *      [n7] <-> [n2] <-> [n9] <-> ... <-> [n4]        older[n] points toward the tail,
 *                                                     newer[n] toward the head; NIL ends both.
 *
 * Why typed arrays and not objects: the trace benchmark replays millions of references per policy,
 * and a node per reference as a JS object costs a hidden-class allocation and GC pressure; the
 * arrays grow by doubling and freed nodes are recycled through a free list.
 */
import { CorruptionError } from "../../errors.js";

/** The "no node" index. */
export const NIL = -1;

export class NodeLists {
  /** page key of each node */
  key: Float64Array;
  /** link toward the tail (older) */
  older: Int32Array;
  /** link toward the head (newer) */
  newer: Int32Array;
  /** list each node is on (255 = free node) */
  list: Uint8Array;
  /** policy-specific small counter or flags (reference bit, frequency, LIRS state, ...) */
  bits: Uint8Array;
  readonly head: Int32Array;
  readonly tail: Int32Array;
  readonly size: Int32Array;
  /** key -> node; only nodes on a list are here */
  readonly index = new Map<number, number>();
  private freeHead = NIL;
  private used = 0;

  constructor(lists: number, initial = 64) {
    const n = Math.max(16, initial);
    this.key = new Float64Array(n);
    this.older = new Int32Array(n);
    this.newer = new Int32Array(n);
    this.list = new Uint8Array(n).fill(255);
    this.bits = new Uint8Array(n);
    this.head = new Int32Array(lists).fill(NIL);
    this.tail = new Int32Array(lists).fill(NIL);
    this.size = new Int32Array(lists);
  }

  /** Node of `key`, or NIL. */
  find(key: number): number {
    const n = this.index.get(key);
    return n === undefined ? NIL : n;
  }

  /** A new node for `key` at the head of list `l`. The key must not have a node yet. */
  add(key: number, l: number, bits = 0): number {
    let n = this.freeHead;
    if (n !== NIL) this.freeHead = this.older[n];
    else {
      if (this.used === this.key.length) this.grow();
      n = this.used++;
    }
    this.key[n] = key;
    this.bits[n] = bits;
    this.index.set(key, n);
    this.linkHead(n, l);
    return n;
  }

  /** Takes node `n` off its list and frees it. */
  delete(n: number): void {
    this.unlink(n);
    this.index.delete(this.key[n]);
    this.list[n] = 255;
    this.older[n] = this.freeHead;
    this.freeHead = n;
  }

  /** Moves node `n` to the head of list `l` (which may be the list it is on). */
  moveToHead(n: number, l: number): void {
    this.unlink(n);
    this.linkHead(n, l);
  }

  private linkHead(n: number, l: number): void {
    const h = this.head[l];
    this.older[n] = h;
    this.newer[n] = NIL;
    if (h !== NIL) this.newer[h] = n;
    else this.tail[l] = n;
    this.head[l] = n;
    this.list[n] = l;
    this.size[l]++;
  }

  private unlink(n: number): void {
    const l = this.list[n];
    const o = this.older[n];
    const w = this.newer[n];
    if (o !== NIL) this.newer[o] = w;
    else this.tail[l] = w;
    if (w !== NIL) this.older[w] = o;
    else this.head[l] = o;
    this.size[l]--;
  }

  private grow(): void {
    const n = this.key.length * 2;
    const key = new Float64Array(n);
    key.set(this.key);
    this.key = key;
    const older = new Int32Array(n);
    older.set(this.older);
    this.older = older;
    const newer = new Int32Array(n);
    newer.set(this.newer);
    this.newer = newer;
    const list = new Uint8Array(n).fill(255);
    list.set(this.list);
    this.list = list;
    const bits = new Uint8Array(n);
    bits.set(this.bits);
    this.bits = bits;
  }

  /**
   * Walks every list both ways and checks: sizes match the links, every node on a list is in the
   * index under its key, and the index holds nothing else.
   */
  check(name: string): void {
    let total = 0;
    for (let l = 0; l < this.head.length; l++) {
      let count = 0;
      let prev = NIL;
      for (let n = this.head[l]; n !== NIL; n = this.older[n]) {
        if (this.list[n] !== l)
          throw new CorruptionError(`${name}: node ${n} on list ${l} says ${this.list[n]}`);
        if (this.newer[n] !== prev) throw new CorruptionError(`${name}: broken back link at node ${n}`);
        if (this.index.get(this.key[n]) !== n)
          throw new CorruptionError(`${name}: key ${this.key[n]} unindexed`);
        prev = n;
        if (++count > this.size[l]) break;
      }
      if (prev !== this.tail[l] || count !== this.size[l]) {
        throw new CorruptionError(`${name}: list ${l} holds ${count} nodes, size says ${this.size[l]}`);
      }
      total += count;
    }
    if (total !== this.index.size) {
      throw new CorruptionError(`${name}: ${total} listed nodes but ${this.index.size} indexed keys`);
    }
  }
}
