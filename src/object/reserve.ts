/**
 * The metadata reserve (Barrelfish's memory-service invariant): blocks of the sizes the heap's
 * own metadata needs — single pages and order-2 blocks (4 and 16 KiB with 4 KiB pages), the sizes
 * of vmalloc page tables of up to 1024 and 4096 entries — are kept aside and refilled after every
 * regular request. Metadata is served from the reserve without calling back into the allocator, so
 * it can neither fail half-way through a request nor recurse.
 *
 * The reserve's own blocks ("home" blocks) are part of the heap's root, laid out with it at
 * creation. When one is lent to a table, the refill borrows a block of the same size from the page
 * layer; when the home block comes back, it takes the borrowed block's place and the borrowed one
 * goes back to the page layer. So however requests interleave, once they are all undone the heap
 * holds exactly what it held at creation.
 *
 * Layout (Int32 words at the root's RESERVE_OFFSET):
 *
 * | word        | name        | meaning                                        |
 * |-------------|-------------|------------------------------------------------|
 * | 0           | COUNT0      | single pages held                              |
 * | 1           | TARGET0     | single pages to hold                           |
 * | 2           | COUNT2      | order-2 blocks held                            |
 * | 3           | TARGET2     | order-2 blocks to hold                         |
 * | 4           | HOME        | first home page: TARGET0 single pages, then TARGET2 order-2 blocks |
 * | 5..         | PAGES0      | TARGET0 page indices                           |
 * | 5+TARGET0.. | PAGES2      | TARGET2 page indices                           |
 */
import type { PageAllocator } from "../page/buddy.js";
import { OWNER_META } from "./layout.js";

export const RESERVE_TARGET0 = 2;
export const RESERVE_TARGET2 = 1;
export const SIZEOF_RESERVE = (5 + RESERVE_TARGET0 + RESERVE_TARGET2) * 4;
/** Pages of the home blocks, laid out after the root. */
export const RESERVE_HOME_PAGES = RESERVE_TARGET0 + 4 * RESERVE_TARGET2;

const COUNT0 = 0;
const TARGET0 = 1;
const COUNT2 = 2;
const TARGET2 = 3;
const HOME = 4;
const PAGES = 5;

export type ReserveOrder = 0 | 2;

export class Reserve {
  private readonly pages: PageAllocator;
  private readonly w: Int32Array;
  private readonly owner: Int32Array;
  private readonly base: number;
  private readonly account: (pages: number) => void;

  constructor(pages: PageAllocator, offset: number, owner: Int32Array, account: (pages: number) => void) {
    this.pages = pages;
    this.w = pages.w;
    this.owner = owner;
    this.base = offset >> 2;
    this.account = account;
  }

  /** Writes a full reserve of home blocks starting at page `home`. */
  static format(w: Int32Array, offset: number, home: number): void {
    const b = offset >> 2;
    w[b + COUNT0] = RESERVE_TARGET0;
    w[b + TARGET0] = RESERVE_TARGET0;
    w[b + COUNT2] = RESERVE_TARGET2;
    w[b + TARGET2] = RESERVE_TARGET2;
    w[b + HOME] = home;
    for (let i = 0; i < RESERVE_TARGET0; i++) w[b + PAGES + i] = home + i;
    for (let i = 0; i < RESERVE_TARGET2; i++)
      w[b + PAGES + RESERVE_TARGET0 + i] = home + RESERVE_TARGET0 + 4 * i;
  }

  /** True if `page` starts one of the reserve's home blocks (part of the root). */
  isHome(page: number): boolean {
    const home = this.w[this.base + HOME];
    return page >= home && page < home + RESERVE_HOME_PAGES;
  }

  /** Tops the reserve up by borrowing from the page layer; stops quietly when that is short. */
  refill(): void {
    const w = this.w;
    const b = this.base;
    while (w[b + COUNT0] < w[b + TARGET0]) {
      const page = this.borrow(0);
      if (page === 0) break;
      w[b + PAGES + w[b + COUNT0]++] = page;
    }
    while (w[b + COUNT2] < w[b + TARGET2]) {
      const page = this.borrow(2);
      if (page === 0) break;
      w[b + PAGES + w[b + TARGET0] + w[b + COUNT2]++] = page;
    }
  }

  /** Whether the reserve holds a block of 2^order pages (take() would not borrow one). */
  holds(order: ReserveOrder): boolean {
    return this.w[this.base + (order === 0 ? COUNT0 : COUNT2)] > 0;
  }

  /**
   * A metadata block of 2^order pages: from the reserve, or, if the reserve has none of that size
   * (the page layer was short at the last refill), borrowed now; 0 if neither can be had.
   */
  take(order: ReserveOrder): number {
    const w = this.w;
    const b = this.base;
    const count = order === 0 ? COUNT0 : COUNT2;
    const slots = PAGES + (order === 0 ? 0 : w[b + TARGET0]);
    if (w[b + count] === 0) return this.borrow(order);
    return w[b + slots + --w[b + count]];
  }

  /** Takes a metadata block back (see the file comment for where it goes). */
  give(page: number, order: ReserveOrder): void {
    const w = this.w;
    const b = this.base;
    const count = order === 0 ? COUNT0 : COUNT2;
    const target = order === 0 ? TARGET0 : TARGET2;
    const slots = PAGES + (order === 0 ? 0 : w[b + TARGET0]);
    if (w[b + count] < w[b + target]) {
      w[b + slots + w[b + count]++] = page;
      return;
    }
    if (this.isHome(page)) {
      // Full, yet a home block was out: a borrowed one stands in for it. Swap them.
      for (let i = 0; i < w[b + count]; i++) {
        const held = w[b + slots + i];
        if (!this.isHome(held)) {
          w[b + slots + i] = page;
          this.giveBack(held, order);
          return;
        }
      }
    }
    this.giveBack(page, order);
  }

  /** Pages held by the reserve that were borrowed from the page layer. */
  borrowedPages(): number {
    let n = 0;
    for (const h of this.held()) if (!this.isHome(h.page)) n += 2 ** h.order;
    return n;
  }

  /** Blocks held now, with their order. */
  held(): Array<{ page: number; order: number }> {
    const w = this.w;
    const b = this.base;
    const out: Array<{ page: number; order: number }> = [];
    for (let i = 0; i < w[b + COUNT0]; i++) out.push({ page: w[b + PAGES + i], order: 0 });
    for (let i = 0; i < w[b + COUNT2]; i++) out.push({ page: w[b + PAGES + w[b + TARGET0] + i], order: 2 });
    return out;
  }

  private borrow(order: ReserveOrder): number {
    if (this.pages.freeBytes < this.pages.pageSize * 2 ** order) return 0;
    let address: number;
    try {
      address = this.pages.allocPages(order);
    } catch {
      return 0;
    }
    const page = address / this.pages.pageSize;
    this.owner.fill(OWNER_META, page, page + 2 ** order);
    this.account(2 ** order);
    return page;
  }

  /** Returns a block take() borrowed to the page layer (for a request that failed after it). */
  giveBack(page: number, order: ReserveOrder): void {
    const n = 2 ** order;
    this.owner.fill(0, page, page + n);
    this.account(-n);
    this.pages.free(page * this.pages.pageSize);
  }
}
