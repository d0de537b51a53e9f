/**
 * Runs of adjacent free blocks: what serves a request larger than a max-order block or aligned
 * beyond one, and what lets an allocation grow in place (resize).
 *
 *     blocks in address order:  [used][free o2   ][free o1][free o0][used]
 *     a 6-page run at a 2-page alignment:  ^ starts here, spans the three free blocks;
 *     the blocks are unlinked, the run is kept, the unused head and tail go back to the lists.
 *
 * A run walks every block in address order (O(pages / block size)), so it is only used where the
 * free lists cannot serve: past the max order, and for the pages right after an allocation.
 */
import type { PageAllocator } from "./buddy.js";
import { S_FREE_BASE, S_HOT, S_SINGLE, S_USED } from "./layout.js";
import { badAddress } from "./misuse.js";

/**
 * A run of n pages starting at a multiple of a, made of adjacent free blocks, taken; 0 if there is
 * none.
 */
export function takeRun(pages: PageAllocator, n: number, a: number): number {
  const state = pages.state;
  const end = pages.pageCount;
  let runStart = -1;
  let firstBlock = -1;
  let p = pages.firstPage;
  while (p < end) {
    const s = state[p];
    if (s >= S_FREE_BASE && s < S_USED) {
      const size = 1 << (s - S_FREE_BASE);
      if (runStart < 0) {
        const aligned = Math.ceil(p / a) * a;
        if (aligned < p + size) {
          runStart = aligned;
          firstBlock = p;
        }
      }
      p += size;
      if (runStart >= 0 && p - runStart >= n) return claimRun(pages, firstBlock, runStart, n, p);
    } else {
      runStart = -1;
      p += s === S_HOT || s === S_SINGLE ? 1 : pages.run[p];
    }
  }
  return 0;
}

/**
 * Grows or shrinks the allocation at `address` in place to hold `bytes` (PageAllocator.resize,
 * under the caller's lock). Shrinking always works (the tail goes back to the free lists); growing
 * works when the pages right after it are free, and otherwise returns false having changed nothing.
 */
export function resizeInPlace(pages: PageAllocator, address: number, bytes: number): boolean {
  const page = pages.pageOf(address);
  const s = pages.state[page];
  if (s !== S_USED && s !== S_SINGLE) throw badAddress(pages, address, page);
  const old = s === S_SINGLE ? 1 : pages.run[page];
  const n = pages.pagesFor(bytes);
  if (n <= old) {
    if (n < old) {
      pages.markUsed(page, n);
      pages.releaseRange(page + n, old - n);
    }
    return true;
  }
  let end = freeBlocksEnd(pages, page + old, page + n);
  if (end < 0) {
    pages.drainHot();
    end = freeBlocksEnd(pages, page + old, page + n);
    if (end < 0) return false;
    pages.hotReset();
  }
  unlinkBlocks(pages, page + old, end);
  pages.markUsed(page, n);
  if (page + n < end) pages.releaseRange(page + n, end - page - n);
  return true;
}

/**
 * If free blocks cover [from, to) without a gap, the end of the last of them (>= to); else -1.
 * `from` must start a block.
 */
function freeBlocksEnd(pages: PageAllocator, from: number, to: number): number {
  let p = from;
  while (p < to) {
    if (p >= pages.pageCount) return -1;
    const s = pages.state[p];
    if (s < S_FREE_BASE || s >= S_USED) return -1;
    p += 1 << (s - S_FREE_BASE);
  }
  return p;
}

/** Takes the free blocks that cover [from, to) off their lists. */
function unlinkBlocks(pages: PageAllocator, from: number, to: number): void {
  for (let p = from; p < to; ) {
    const o = pages.state[p] - S_FREE_BASE;
    pages.unlink(p, o);
    p += 1 << o;
  }
}

/** Unlinks the free blocks covering [firstBlock, blocksEnd) and keeps [start, start+n). */
function claimRun(
  pages: PageAllocator,
  firstBlock: number,
  start: number,
  n: number,
  blocksEnd: number,
): number {
  unlinkBlocks(pages, firstBlock, blocksEnd);
  pages.markUsed(start, n);
  if (start > firstBlock) pages.releaseRange(firstBlock, start - firstBlock);
  if (start + n < blocksEnd) pages.releaseRange(start + n, blocksEnd - start - n);
  return start;
}
