/**
 * Why an address is not one the page layer can take: the errors that free(), sizeOf() and
 * resize() throw, built off the fast paths (which only test that a page starts a live
 * allocation) and without changing anything.
 */
import { DoubleFreeError, InvalidAddressError } from "../errors.js";
import type { PageAllocator } from "./buddy.js";
import { S_FREE_BASE, S_HEADER, S_HOT, S_NONE, S_USED } from "./layout.js";

/** The error for an address that is not a number, not page-aligned or not a usable page. */
export function badPage(pages: PageAllocator, address: number): never {
  if (typeof address !== "number") throw new InvalidAddressError(address, "not a number");
  const page = address / pages.pageSize;
  if (!Number.isInteger(page)) throw new InvalidAddressError(address, "not the start of a page");
  const where = page < pages.firstPage && page >= 0 ? "inside the arena header" : "outside the arena";
  throw new InvalidAddressError(address, where);
}

/** Explains why a page is not a live allocation's first page. */
export function badAddress(pages: PageAllocator, address: number, page: number): Error {
  const state = pages.state;
  if (pageIsFree(pages, page)) {
    const s = state[page];
    const first = s === S_HOT || (s >= S_FREE_BASE && s < S_USED);
    return new DoubleFreeError(address, first ? "already free" : "inside a free block (already freed)");
  }
  for (let p = page - 1; p >= 0; p--) {
    const ps = state[p];
    if (ps === S_USED || ps === S_HEADER) {
      if (p + pages.run[p] > page) return new InvalidAddressError(address, "interior of an allocation");
      break;
    }
    if (ps !== S_NONE) break;
  }
  return new InvalidAddressError(address, "not the start of an allocation");
}

/** Whether a page lies in a free block or on the hot stack: O(maxOrder). */
export function pageIsFree(pages: PageAllocator, page: number): boolean {
  const state = pages.state;
  const s = state[page];
  if (s === S_HOT || (s >= S_FREE_BASE && s < S_USED)) return true;
  if (s !== S_NONE) return false;
  for (let o = 1; o <= pages.maxOrder; o++) {
    const head = page & ~((1 << o) - 1);
    const hs = state[head];
    if (hs >= S_FREE_BASE && hs < S_USED) return hs - S_FREE_BASE >= o;
    if (hs !== S_NONE) return false;
  }
  return false;
}
