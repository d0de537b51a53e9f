/**
 * Recovery of the page layer after a thread of a shared arena died, perhaps in the middle of
 * changing the free lists (the caller holds the lock, perhaps stolen from the dead thread).
 *
 * The free lists and counters are rebuilt from the state and run maps. Allocations are trusted
 * (their first page's state is written last, see PageAllocator.markUsed); the pages of the dead
 * threads' hot stacks become free, and so does every page no allocation covers.
 *
 * Live threads keep running their hot-stack fast paths meanwhile, without the lock: they only
 * turn their own pages S_SINGLE <-> S_HOT, and both states are kept here, so their stacks need
 * not be read (a snapshot of them would be stale at once). The hot-stack code orders its writes
 * so that a thread killed at any point leaves every S_HOT page inside its stack's count:
 *
 *     push: entry, count + 1, then S_HOT        pop: S_SINGLE, then count - 1
 *     refill: entry, count + 1, then S_HOT      drain: S_NONE and free, then count - 1
 *
 * so a dead stack's entries below its count are S_HOT (cached: free them), S_SINGLE (a push or
 * pop cut short: free it, the caller never got it or gave it up) or already free (a drain cut
 * short, or a duplicate of a batch move cut short: skip).
 */
import type { HotStack, PageAllocator } from "./buddy.js";
import {
  M_FREE_COUNT,
  M_FREE_HEAD,
  M_FREE_PAGES,
  S_HEADER,
  S_HOT,
  S_NONE,
  S_SINGLE,
  S_USED,
} from "./layout.js";

/** PageAllocator.repair: rebuilds the free lists; the pages of `deadStacks` become free. */
export function repairPages(pages: PageAllocator, deadStacks: HotStack[]): void {
  const { state, run, w, mb, pageCount, firstPage, maxOrder } = pages;
  for (const h of deadStacks) {
    for (let i = 0; i < h.count; i++) {
      const page = h.pages[i];
      if (page >= firstPage && page < pageCount && (state[page] === S_HOT || state[page] === S_SINGLE))
        state[page] = S_NONE;
    }
  }
  for (let o = 0; o <= maxOrder; o++) {
    w[mb + M_FREE_HEAD + o] = 0;
    w[mb + M_FREE_COUNT + o] = 0;
  }
  w[mb + M_FREE_PAGES] = 0;
  let freeStart = -1;
  let p = firstPage;
  while (p < pageCount) {
    const s = state[p];
    let used = 0;
    if ((s === S_USED || s === S_HEADER) && run[p] >= 1 && p + run[p] <= pageCount) used = run[p];
    else if (s === S_SINGLE || s === S_HOT) used = 1;
    if (used > 0) {
      if (freeStart >= 0) pages.releaseRange(freeStart, p - freeStart);
      freeStart = -1;
      p += used;
    } else {
      state[p] = S_NONE;
      if (freeStart < 0) freeStart = p;
      p++;
    }
  }
  if (freeStart >= 0) pages.releaseRange(freeStart, pageCount - freeStart);
}
