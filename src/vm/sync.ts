/**
 * sync(range?): write dirty pages back, wait, then flush the stores.
 *
 *     pages of the range (or every resident and pending page)   32 cleans in flight at a time;
 *        settle ─> dirty, or another clean's write in flight? ─> clean() (writeback.ts)
 *     stores written since their last flush (evictions, the flusher and dontneed included;
 *        only the range's store with a range) ─> store.flush()
 *
 * Anonymous stores are skipped: their bytes need not outlive the space. Every page is tried;
 * the first failure is thrown at the end, and a store whose flush failed stays unflushed.
 */
import { KEY_STRIDE } from "./frames.js";
import type { SpaceState } from "./space-state.js";
import type { Store } from "./stores/store.js";
import { clean, flushStore } from "./writeback.js";

/**
 * Writes dirty pages back and waits, then flushes every store written since its last flush
 * (also by evictions, the flusher or dontneed: their bytes are durable only from a flush on).
 * With a range, only pages of [v, v + length) and their store; without, every page and store.
 */
export async function syncRange(s: SpaceState, v?: number, length?: number): Promise<void> {
  s.open();
  const pager = s.pager;
  let keys: number[];
  let only: Store | undefined;
  if (v === undefined && length === undefined) {
    keys = [...pager.index.keys(), ...pager.pending.keys()];
  } else {
    const m = s.range(v as number, length as number, false);
    only = m.store;
    const ps = s.pageSize;
    keys = s.keysOf(
      m,
      Math.floor(((v as number) - m.start) / ps),
      Math.floor(((v as number) + (length as number) - 1 - m.start) / ps) + 1,
    );
  }
  let failure: unknown;
  const jobs: Promise<void>[] = [];
  const run = async (key: number) => {
    // Unmapped since the keys were listed (another caller's unmap, during an earlier await):
    // the unmap wrote its pages back itself.
    const store = s.stores.get(Math.floor(key / KEY_STRIDE));
    if (store === undefined || typeof store.discard === "function") return;
    try {
      await s.settle(key);
      const f = pager.index.get(key);
      if (f === undefined) return;
      // A page whose write another clean has in flight (the flusher's, dontneed's) reads as
      // clean, but its bytes are not in the store yet: clean() waits for that write (and writes
      // the page itself if it failed or the page was dirtied again).
      if (pager.frames.dirtyEnd[f] === 0 && !pager.cleaning.has(key)) return;
      await clean(pager, key);
    } catch (e) {
      failure ??= e;
    }
  };
  for (const key of keys) {
    jobs.push(run(key));
    if (jobs.length >= 32) await Promise.all(jobs.splice(0));
  }
  await Promise.all(jobs);
  const unflushed = pager.unflushed;
  for (const st of only ? [only] : [...unflushed]) {
    if (!unflushed.has(st)) continue;
    try {
      await flushStore(pager, st);
    } catch (e) {
      failure ??= e;
    }
  }
  if (failure !== undefined) throw failure;
}
