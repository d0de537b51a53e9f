/**
 * Mappings: regions of the virtual address space, each a window onto a backing store, kept in a
 * B+ tree keyed by start address (sorted-btree), as the seed's `struct as` keeps its `struct map`s.
 *
 *     virtual space:  0 [guard] 4K [ mapping A ........ ] [guard] [ mapping B .. ] [guard] ...
 *                                   \ offset 0 of store S1         \ offset 64K of store S2
 *
 * Lookup of an address is the entry with the greatest start <= address (O(log n)), then a bounds
 * check. Addresses are page aligned and handed out upward, one guard page apart, so an overrun
 * of one mapping faults instead of reading the next; address 0 is never handed out. When the top
 * of the space (2^47) is reached, the lowest gap that fits is used.
 */
import BTreeModule from "sorted-btree";
import type { HintRanges } from "./hints.js";
import type { Store } from "./stores/store.js";

// sorted-btree is CommonJS with a default export; under NodeNext the class is `.default`.
// Node gives the exports object (class at .default), bundlers (vitest) may give the class itself.
type BTreeCtor = typeof BTreeModule.default;
const BTree: BTreeCtor = ((BTreeModule as unknown as { default?: BTreeCtor }).default ??
  BTreeModule) as unknown as BTreeCtor;

/** Highest virtual address + 1. */
export const VA_LIMIT = 2 ** 47;

export interface Mapping {
  readonly id: number;
  /** First virtual address. */
  readonly start: number;
  /** Bytes of the mapping (accesses must stay below start + length). */
  readonly length: number;
  /** Pages the mapping spans. */
  readonly pages: number;
  readonly store: Store;
  /** The store's id in this space (the high part of page keys). */
  readonly storeId: number;
  /** Byte offset in the store of the mapping's first page. */
  readonly offset: number;
  readonly writable: boolean;
  readonly hints: HintRanges;
  /** Read-ahead state: the last page accessed and the current window in pages. */
  lastPage: number;
  window: number;
  /** Set by unmap, so that calls in flight stop at their next page. */
  removed: boolean;
}

export class MappingTree {
  private readonly tree = new BTree<number, Mapping>();
  private next: number;
  readonly pageSize: number;

  constructor(pageSize: number) {
    this.pageSize = pageSize;
    this.next = pageSize;
  }

  get size(): number {
    return this.tree.size;
  }

  /** The mapping containing `address` (inside its length), if any. */
  find(address: number): Mapping | undefined {
    const pair = this.tree.getPairOrNextLower(address);
    if (pair === undefined) return undefined;
    const m = pair[1];
    return address < m.start + m.length ? m : undefined;
  }

  /** The mapping that starts exactly at `address`. */
  at(address: number): Mapping | undefined {
    return this.tree.get(address);
  }

  /** A free, page-aligned range of `pages` pages (plus a guard page after it), or -1. */
  place(pages: number): number {
    const ps = this.pageSize;
    const bytes = (pages + 1) * ps;
    if (this.next + bytes <= VA_LIMIT) return this.next;
    let candidate = ps;
    for (const [start, m] of this.tree.entries()) {
      if (candidate + bytes <= start) return candidate;
      candidate = start + (m.pages + 1) * ps;
    }
    return candidate + bytes <= VA_LIMIT ? candidate : -1;
  }

  insert(m: Mapping): void {
    this.tree.set(m.start, m);
    const end = m.start + (m.pages + 1) * this.pageSize;
    if (end > this.next) this.next = end;
  }

  remove(m: Mapping): void {
    this.tree.delete(m.start);
  }

  all(): Mapping[] {
    return this.tree.valuesArray();
  }

  /** Mappings of store `storeId`, other than `except`. */
  ofStore(storeId: number, except?: Mapping): Mapping[] {
    return this.all().filter((m) => m.storeId === storeId && m !== except);
  }
}
