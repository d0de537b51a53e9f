/**
 * Intrusive doubly linked lists over typed arrays, the one data structure every replacement
 * policy here is built from.
 *
 * A node is an index into parallel arrays; each node belongs to at most one of a small number of
 * lists (ARC's T1/T2/B1/B2, S3-FIFO's S/M/G, ...). A hash table from page key to node gives O(1)
 * lookup. Lists run from head (most recent insertion) to tail (oldest):
 *
 *     head                                tail
 *      [n7] <-> [n2] <-> [n9] <-> ... <-> [n4]        older[n] points toward the tail,
 *                                                     newer[n] toward the head; NIL ends both.
 *
 * Why typed arrays and not objects: the trace benchmark replays millions of references per policy,
 * and a node per reference as a JS object costs a hidden-class allocation and GC pressure; the
 * arrays grow by doubling and freed nodes are recycled through a free list.
 *
 * Why not a `Map` for the key index: it was over half of the time of the default policy (a CPU
 * profile of `adaptive` on random references: Map get/set/delete 57%), the address space's keys
 * (store id * 2^32 + page) are not small integers, so every lookup hashed a heap number. The
 * index here is open addressing over an Int32Array of node numbers, linear probing, at most half
 * full, with backward-shift deletion (no tombstones); the keys it compares are the nodes' own.
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
  /** Hash slots holding node numbers (NIL = empty); only nodes on a list are here. */
  private slots: Int32Array;
  private slotMask: number;
  private live = 0;
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
    let slots = 32;
    while (slots < 2 * n) slots *= 2;
    this.slots = new Int32Array(slots).fill(NIL);
    this.slotMask = slots - 1;
  }

  /** Keys are integers below 2^53 in practice; any number hashes, equal numbers alike. */
  private static hash(key: number): number {
    let h = Math.imul((key >>> 0) ^ Math.imul((key / 4294967296) | 0, 0x9e3779b1), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return h ^ (h >>> 16);
  }

  /** How many keys have a node. */
  get count(): number {
    return this.live;
  }

  /** Node of `key`, or NIL. */
  find(key: number): number {
    const slots = this.slots;
    const mask = this.slotMask;
    const keys = this.key;
    for (let i = NodeLists.hash(key) & mask; ; i = (i + 1) & mask) {
      const n = slots[i];
      if (n === NIL || keys[n] === key) return n;
    }
  }

  has(key: number): boolean {
    return this.find(key) !== NIL;
  }

  /** Every key with a node, in node order. */
  *keys(): Generator<number> {
    for (let n = 0; n < this.used; n++) if (this.list[n] !== 255) yield this.key[n];
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
    if (2 * ++this.live > this.slots.length) this.rehash(this.slots.length * 2);
    const slots = this.slots;
    const mask = this.slotMask;
    let i = NodeLists.hash(key) & mask;
    while (slots[i] !== NIL) i = (i + 1) & mask;
    slots[i] = n;
    this.linkHead(n, l);
    return n;
  }

  /** Takes node `n` off its list and frees it. */
  delete(n: number): void {
    this.unlink(n);
    this.unindex(n);
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

  /** Removes node `n` from the hash slots, shifting back the entries its slot displaced. */
  private unindex(n: number): void {
    const slots = this.slots;
    const mask = this.slotMask;
    const keys = this.key;
    let i = NodeLists.hash(keys[n]) & mask;
    while (slots[i] !== n) i = (i + 1) & mask;
    // Backward shift: move later entries of the probe run into the hole when their home slot
    // does not lie cyclically in (hole, their slot].
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const m = slots[j];
      if (m === NIL) break;
      const home = NodeLists.hash(keys[m]) & mask;
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        slots[i] = m;
        i = j;
      }
    }
    slots[i] = NIL;
    this.live--;
  }

  private rehash(size: number): void {
    const slots = new Int32Array(size).fill(NIL);
    const mask = size - 1;
    for (let n = 0; n < this.used; n++) {
      if (this.list[n] === 255) continue;
      let i = NodeLists.hash(this.key[n]) & mask;
      while (slots[i] !== NIL) i = (i + 1) & mask;
      slots[i] = n;
    }
    this.slots = slots;
    this.slotMask = mask;
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
        if (this.find(this.key[n]) !== n) throw new CorruptionError(`${name}: key ${this.key[n]} unindexed`);
        prev = n;
        if (++count > this.size[l]) break;
      }
      if (prev !== this.tail[l] || count !== this.size[l]) {
        throw new CorruptionError(`${name}: list ${l} holds ${count} nodes, size says ${this.size[l]}`);
      }
      total += count;
    }
    let indexed = 0;
    for (let i = 0; i < this.slots.length; i++) if (this.slots[i] !== NIL) indexed++;
    if (total !== indexed || total !== this.live) {
      throw new CorruptionError(
        `${name}: ${total} listed nodes but ${indexed} indexed keys (count ${this.live})`,
      );
    }
  }
}
