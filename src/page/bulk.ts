/**
 * Bulk single pages (allocBulk): `count` pages that need not be contiguous, for vmalloc and the
 * like. They come from the hot stack first, then from the smallest free blocks, so that large
 * blocks stay whole; all or nothing (the free-page count is checked before anything is taken).
 */
import { InvalidArgumentError } from "../errors.js";
import type { PageAllocator } from "./buddy.js";
import { M_FREE_HEAD, M_FREE_PAGES } from "./layout.js";

/** PageAllocator.allocBulk, under the caller's lock. */
export function takeBulk(pages: PageAllocator, count: number): number[] {
  if (!Number.isSafeInteger(count) || count <= 0) {
    throw new InvalidArgumentError("count", count, "must be a positive integer");
  }
  // Only the free lists and this thread's own hot stack can serve: other threads' hot pages count
  // as free (freePages) but are theirs to hand out, and the loop below must never run out of lists.
  const reachable = pages.w[pages.mb + M_FREE_PAGES] + pages.ownHotStack().count;
  if (count > reachable) throw pages.outOfMemory(count * pages.pageSize, `${count} single pages`);
  const out: number[] = new Array(count);
  let k = 0;
  const ps = pages.pageSize;
  while (k < count) {
    const page = pages.popHot();
    if (page === 0) break;
    pages.markUsed(page, 1);
    out[k++] = page * ps;
  }
  const w = pages.w;
  const heads = pages.mb + M_FREE_HEAD;
  if (k < count) pages.hotMiss();
  while (k < count) {
    let o = 0;
    while (w[heads + o] === 0) o++;
    const block = w[heads + o];
    pages.unlink(block, o);
    const size = 1 << o;
    const take = Math.min(size, count - k);
    for (let i = 0; i < take; i++) {
      pages.markUsed(block + i, 1);
      out[k++] = (block + i) * ps;
    }
    if (take < size) pages.releaseRange(block + take, size - take);
  }
  return out;
}
