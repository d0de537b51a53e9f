/**
 * advise(v, n, hint): madvise for a range of one mapping (the hint table is in hints.ts).
 *
 *     kept hints (normal, sequential, random, readOnce)  recorded for pages [from, to); the
 *                                                        mapping's read-ahead window restarts
 *     willneed   prefetch: read the absent pages in now, in read-ahead batches, at most as many
 *                as there are frames not pinned
 *     dontneed   per resident page: settle, write back if dirty, wait for refs, drop; refused
 *                (EBUSY) while any page of the range is pinned
 */
import { hint as checkHint, type Hint, isKeptHint, type KeptHint } from "./hints.js";
import type { Mapping } from "./mappings.js";
import type { SpaceState } from "./space-state.js";
import { clean } from "./writeback.js";

/** Applies `hint` to [v, v + length): kept hints change future faults, willneed/dontneed act now. */
export async function adviseRange(s: SpaceState, v: number, length: number, hint: Hint): Promise<void> {
  s.open();
  const m = s.range(v, length, false);
  const h = checkHint("hint", hint);
  const ps = s.pageSize;
  const from = Math.floor((v - m.start) / ps);
  const to = Math.floor((v + length - 1 - m.start) / ps) + 1;
  if (h === "dontneed") s.refusePinned(m, from, to);
  if (isKeptHint(h)) {
    m.hints.set(from, to, h as KeptHint);
    m.window = 0;
  } else if (h === "willneed") await prefetch(s, m, from, to);
  else await dropRange(s, m, from, to);
}

/** Reads pages [from, to) of `m` in (at most `frames` of them), in read-ahead batches. */
export async function prefetch(s: SpaceState, m: Mapping, from: number, to: number): Promise<void> {
  const ps = s.pageSize;
  const base = s.baseKey(m);
  // Pinned frames cannot take prefetched pages: reading more than the others hold would evict
  // the range's first pages for its last ones, the reads wasted and the first reads faulting.
  // The range's own pinned pages are resident already and cost nothing more.
  const pager = s.pager;
  let room = Math.max(1, s.frameLimit - pager.pinnedCount());
  let end = from;
  for (; end < to && room > 0; end++) {
    const f = pager.index.get(base + end);
    if (f === undefined || pager.frames.pins[f] === 0) room--;
  }
  for (let page = from; page < end; page++) {
    // unmap() drops the pages it has settled; reading one back in afterwards would leave a
    // frame holding bytes of a mapping that no longer exists.
    if (m.removed) return;
    const key = base + page;
    if (s.pager.index.has(key)) continue;
    const batch = Math.max(0, Math.min(end - page - 1, Math.max(s.raMax, 1) - 1));
    const f = await s.pager.acquire(
      key,
      { store: m.store, offset: m.offset + page * ps, readahead: batch, prefetch: true, mapping: m },
      false,
    );
    s.pager.unref(f);
  }
}

/** dontneed: write dirty pages of [from, to) back, then drop them. */
async function dropRange(s: SpaceState, m: Mapping, from: number, to: number): Promise<void> {
  const pager = s.pager;
  for (const key of s.keysOf(m, from, to)) {
    // The mapping stays usable meanwhile: a write acknowledged while this waited for a ref may
    // have dirtied the page again, and a fault may have started writing it back. Drop it only
    // at a moment when it is clean and has no I/O, or that write would be lost.
    do {
      await s.settle(key);
      await clean(pager, key);
      await s.unrefWait(key);
    } while (s.unsettled(key, true));
    s.refusePinnedPage(key);
    pager.drop(key);
  }
}
