/**
 * The metadata reserve (Barrelfish's memory-service invariant): a few blocks of the sizes the
 * heap's own metadata needs — single pages and order-2 blocks (4 and 16 KiB with 4 KiB pages), the
 * sizes of vmalloc page tables up to 1024 and 4096 entries — are kept aside and refilled after
 * every regular request. Metadata is then served from the reserve without calling back into the
 * allocator, so it can neither fail half-way through a request nor recurse; a regular request
 * that finds the reserve short and cannot refill it fails cleanly, before it changes anything.
 *
 * Layout (Int32 words at the root's RESERVE_OFFSET):
 *
 * | word        | name        | meaning                                   |
 * |-------------|-------------|-------------------------------------------|
 * | 0           | COUNT0      | single pages held                         |
 * | 1           | TARGET0     | single pages to hold                      |
 * | 2           | COUNT2      | order-2 blocks held                       |
 * | 3           | TARGET2     | order-2 blocks to hold                    |
 * | 4..         | PAGES0      | TARGET0 page indices                      |
 * | 4+TARGET0.. | PAGES2      | TARGET2 page indices                      |
 */
import type { PageAllocator } from "../page/buddy.js";
import { OWNER_META } from "./layout.js";

export const RESERVE_TARGET0 = 2;
export const RESERVE_TARGET2 = 1;
export const SIZEOF_RESERVE = (4 + RESERVE_TARGET0 + RESERVE_TARGET2) * 4;

const COUNT0 = 0;
const TARGET0 = 1;
const COUNT2 = 2;
const TARGET2 = 3;
const PAGES = 4;

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

  /** Writes an empty reserve with the default targets. */
  static format(w: Int32Array, offset: number): void {
    const b = offset >> 2;
    w[b + COUNT0] = 0;
    w[b + TARGET0] = RESERVE_TARGET0;
    w[b + COUNT2] = 0;
    w[b + TARGET2] = RESERVE_TARGET2;
  }

  /** True when every target is met (after trying to refill). */
  ready(): boolean {
    this.refill();
    return this.short() === 0;
  }

  /** Blocks missing from the targets. */
  short(): number {
    const w = this.w;
    const b = this.base;
    return w[b + TARGET0] - w[b + COUNT0] + (w[b + TARGET2] - w[b + COUNT2]);
  }

  /** Tops the reserve up from the page layer; silently stops when the page layer is short. */
  refill(): void {
    const w = this.w;
    const b = this.base;
    while (w[b + COUNT0] < w[b + TARGET0]) {
      if (this.pages.freeBytes < this.pages.pageSize) return;
      const page = this.pages.allocPages(0) / this.pages.pageSize;
      this.owner[page] = OWNER_META;
      this.account(1);
      w[b + PAGES + w[b + COUNT0]++] = page;
    }
    while (w[b + COUNT2] < w[b + TARGET2]) {
      let address: number;
      try {
        address = this.pages.allocPages(2);
      } catch {
        return;
      }
      const page = address / this.pages.pageSize;
      this.owner.fill(OWNER_META, page, page + 4);
      this.account(4);
      w[b + PAGES + w[b + TARGET0] + w[b + COUNT2]++] = page;
    }
  }

  /** A metadata block of 2^order pages (order 0 or 2) from the reserve; 0 if it is empty. */
  take(order: 0 | 2): number {
    const w = this.w;
    const b = this.base;
    if (order === 0) {
      if (w[b + COUNT0] === 0) return 0;
      return w[b + PAGES + --w[b + COUNT0]];
    }
    if (w[b + COUNT2] === 0) return 0;
    return w[b + PAGES + w[b + TARGET0] + --w[b + COUNT2]];
  }

  /** Takes a metadata block back: into the reserve if it is short, else to the page layer. */
  give(page: number, order: 0 | 2): void {
    const w = this.w;
    const b = this.base;
    if (order === 0 && w[b + COUNT0] < w[b + TARGET0]) {
      w[b + PAGES + w[b + COUNT0]++] = page;
      return;
    }
    if (order === 2 && w[b + COUNT2] < w[b + TARGET2]) {
      w[b + PAGES + w[b + TARGET0] + w[b + COUNT2]++] = page;
      return;
    }
    const n = 2 ** order;
    this.owner.fill(0, page, page + n);
    this.account(-n);
    this.pages.free(page * this.pages.pageSize);
  }

  /** Pages held, for accounting checks. */
  heldPages(): number {
    return this.w[this.base + COUNT0] + 4 * this.w[this.base + COUNT2];
  }

  /** Page indices held, with their order, for the checker and the dashboard. */
  held(): Array<{ page: number; order: number }> {
    const w = this.w;
    const b = this.base;
    const out: Array<{ page: number; order: number }> = [];
    for (let i = 0; i < w[b + COUNT0]; i++) out.push({ page: w[b + PAGES + i], order: 0 });
    for (let i = 0; i < w[b + COUNT2]; i++) out.push({ page: w[b + PAGES + w[b + TARGET0] + i], order: 2 });
    return out;
  }
}
