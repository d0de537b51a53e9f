/**
 * Eviction: finding a frame for a fault, and giving clean frames back to the page layer.
 *
 *     obtainNow (synchronous)     a free slot with a fresh arena page, or a clean victim's frame
 *          │ -1: needs more
 *          v
 *     obtainFrame (may wait)      the same, plus: a dirty victim written back first; waiting for
 *                                 frames in I/O or in a caller's hands; failing at once when
 *                                 nothing will change (OutOfMemoryError, fault.ts invariant 4)
 *
 * Victims come from the eviction front first (keys hinted to go first: readOnce, drop-behind,
 * oldest first), then from the replacement policy, asked with the pager's `evictable` filter
 * (no pins, no refs, not vetoed, clean or writable to its store now).
 *
 * Outcomes of evicting a victim (Linux's pageout_t): clean -> dropped without I/O; dirty ->
 * written, then dropped; dirty and the store refuses for lack of space (swap cap, no swap) -> kept,
 * another victim is tried (the page is vetoed for the rest of this fault); dirty and the store
 * fails -> kept, the fault fails with StoreError. A victim is detached (index, front, policy) and
 * its frame claimed BUSY in one synchronous step (fault.ts invariant 2).
 */
import { OutOfMemoryError } from "../errors.js";
import type { Pager } from "./fault.js";
import { BUSY, RESIDENT } from "./frames.js";
import { PendingIO } from "./pending-io.js";
import { NO_VICTIM } from "./policies/policy.js";
import { writeBack } from "./writeback.js";

/**
 * The synchronous fast path of obtainFrame: a free slot with its arena page, or the frame of a
 * clean victim, detached. -1 when that needs more (a writeback, waiting, an error to report).
 */
export function obtainNow(p: Pager, incoming: number, fresh: boolean): number {
  const fr = p.frames;
  if (fr.hasFree) {
    const f = fr.take();
    if (!fresh) fr.release(f);
    else {
      try {
        fr.addr[f] = p.pages.alloc(p.pageSize);
        return f;
      } catch {
        fr.release(f);
        return -1;
      }
    }
  }
  const v = chooseVictim(p, incoming);
  if (v === NO_VICTIM) return -1;
  const f = p.index.get(v)!;
  if (fr.dirtyEnd[f] !== 0) return -1;
  p.index.delete(v);
  p.front.delete(v);
  p.policy.evict(v);
  fr.state[f] = BUSY;
  fr.key[f] = -1;
  fr.flags[f] = 0;
  p.stats.evictions++;
  return f;
}

/**
 * A frame for `incoming`, BUSY and owned by the caller: a free slot, or a victim's (written
 * back first if dirty). Waits while frames in I/O or in a caller's hands may free up; fails at
 * once when nothing will.
 */
export async function obtainFrame(p: Pager, incoming: number, freshAtStart: boolean): Promise<number> {
  const fr = p.frames;
  let fresh = freshAtStart;
  let refusal: OutOfMemoryError | undefined;
  // The page layer's refusal of a fresh frame (shared with other spaces, or a pool): when nothing
  // here can be evicted either, that is why the fault fails, not that every frame is pinned.
  let layer: OutOfMemoryError | undefined;
  try {
    for (;;) {
      if (p.killed !== null) throw p.killed;
      layer = undefined;
      if (fr.hasFree) {
        const f = fr.take();
        if (!fresh) fr.release(f);
        else
          try {
            fr.addr[f] = p.pages.alloc(p.pageSize);
            return f;
          } catch (e) {
            // The page layer is out of pages (shared with others): reuse one of ours instead.
            fr.release(f);
            if (e instanceof OutOfMemoryError) layer = layerRefusal(p, e);
            if (!(e instanceof OutOfMemoryError) || p.index.size === 0) {
              if (busyFrames(p) > 0) {
                await p.changed();
                continue;
              }
              throw e instanceof OutOfMemoryError ? layerRefusal(p, e) : e;
            }
          }
      }
      const v = chooseVictim(p, incoming);
      if (v === NO_VICTIM) {
        if (busyFrames(p) > 0 || hasRefs(p)) {
          await p.changed();
          continue;
        }
        if (!fresh && p.index.size === 0) {
          // The gate refused a fresh frame when the fault began, counting frames other faults
          // held; they may have gone since (their pages unmapped, dropped or reclaimed), leaving
          // nothing to reuse and every frame free: ask again before failing.
          const wait = p.frameGate?.() ?? null;
          if (wait === null || (await wait) !== false) {
            fresh = true;
            continue;
          }
          throw atMin(p);
        }
        const stored = refusal ?? storeRefusal(p);
        throw layer ?? (stored && withFigures(p, stored)) ?? allPinned(p);
      }
      const f = p.index.get(v)!;
      // Detach synchronously (invariant 2). The policy learns of the eviction only once it has
      // happened: a dirty victim whose writeback fails stays as it was there (see reinstate).
      p.index.delete(v);
      const hinted = p.front.delete(v);
      fr.state[f] = BUSY;
      if (fr.dirtyEnd[f] === 0) {
        p.policy.evict(v);
        p.stats.evictions++;
        fr.key[f] = -1;
        fr.flags[f] = 0;
        return f;
      }
      const io = new PendingIO("writeback");
      p.pending.set(v, io);
      p.busy++;
      try {
        await writeBack(p, v, f);
        p.policy.evict(v);
        p.stats.evictions++;
        p.dirty--;
        fr.dirtyEnd[f] = 0;
        fr.key[f] = -1;
        fr.flags[f] = 0;
        return f;
      } catch (e) {
        reinstate(p, v, f, hinted);
        if (p.killed !== null) throw p.killed;
        if (e instanceof OutOfMemoryError) {
          // No room in the store (swap cap, no swap): keep the page, try another victim.
          refusal = e;
          p.vetoed.add(v);
          continue;
        }
        throw e;
      } finally {
        p.pending.delete(v);
        p.busy--;
        io.finish();
        p.notify();
      }
    }
  } finally {
    p.vetoed.clear();
  }
}

/**
 * Puts a victim whose writeback failed back, resident and on the eviction front if it was there
 * (dropped if killed meanwhile). The policy still holds it: evict() was never called, since
 * telling the policy "evicted" and then insert() again would have made the failure a reference
 * (ARC, LIRS and S3-FIFO take a key coming back from their ghosts as reused and promote it,
 * plain LRU moves it to the most recent end), so the page the policy had chosen would be kept.
 */
function reinstate(p: Pager, v: number, f: number, hinted: boolean): void {
  if (p.killed !== null) {
    p.policy.forget(v);
    if (p.frames.dirtyEnd[f] !== 0) p.dirty--;
    p.releaseFrame(f);
    return;
  }
  p.frames.state[f] = RESIDENT;
  p.index.set(v, f);
  if (hinted) p.front.add(v);
}

/** Frames in I/O (being filled or written out): they will change state by themselves. */
function busyFrames(p: Pager): number {
  const fr = p.frames;
  let n = 0;
  for (let f = 0; f < fr.touched; f++) if (fr.state[f] === BUSY) n++;
  return n;
}

function hasRefs(p: Pager): boolean {
  const fr = p.frames;
  for (const f of p.index.values()) if (fr.refs[f] > 0) return true;
  return false;
}

/** Eviction front first (oldest first), then the policy. */
function chooseVictim(p: Pager, incoming: number): number {
  if (p.front.size > 0) {
    for (const k of p.front) {
      if (!p.index.has(k)) {
        p.front.delete(k);
        continue;
      }
      if (p.evictable(k)) return k;
    }
  }
  return p.policy.victim(incoming, p.evictable);
}

/**
 * The page-cache shrinker: drops up to `count` clean, unpinned, idle resident pages in the
 * policy's eviction order (the front queue first) and gives their arena pages back to the page
 * layer. Dirty pages are never dropped here. Returns how many went.
 */
export function shrinkClean(p: Pager, count: number): number {
  const fr = p.frames;
  const clean = (key: number): boolean => {
    const f = p.index.get(key);
    return f !== undefined && fr.dirtyEnd[f] === 0 && p.evictable(key);
  };
  let n = 0;
  while (n < count) {
    let v = NO_VICTIM;
    for (const k of p.front) {
      if (clean(k)) {
        v = k;
        break;
      }
    }
    if (v === NO_VICTIM) v = p.policy.victim(-1, clean);
    if (v === NO_VICTIM) break;
    const f = p.index.get(v)!;
    p.index.delete(v);
    p.front.delete(v);
    p.policy.evict(v);
    p.releaseFrame(f);
    p.stats.evictions++;
    n++;
  }
  if (n > 0) p.notify();
  return n;
}

/** Idle, unpinned, clean resident pages: what shrinkClean could drop now. */
export function cleanCount(p: Pager): number {
  const fr = p.frames;
  let n = 0;
  for (const [key, f] of p.index) if (fr.dirtyEnd[f] === 0 && p.evictable(key)) n++;
  return n;
}

/** A store's refusal of some unpinned dirty resident page: why nothing could be evicted. */
function storeRefusal(p: Pager): OutOfMemoryError | undefined {
  const fr = p.frames;
  for (const [key, f] of p.index) {
    if (fr.pins[f] === 0 && fr.refs[f] === 0 && fr.dirtyEnd[f] !== 0) {
      const r = p.refusal(key);
      if (r) return r;
    }
  }
  return undefined;
}

/** Free frames are at the min watermark, reclaim freed none, and this space has none to reuse. */
function atMin(p: Pager): OutOfMemoryError {
  return new OutOfMemoryError(
    p.pageSize,
    0,
    0,
    "watermark",
    "free frames are at the min watermark (the reserve for critical allocations) and reclaim freed none",
  );
}

/**
 * The page layer (or pool) had no page for a free frame slot and none of this space's pages could
 * be evicted: its error, with this space's share of the figures.
 */
function layerRefusal(p: Pager, e: OutOfMemoryError): OutOfMemoryError {
  const fr = p.frames;
  return restated(
    e,
    `the page layer frames come from has no page left, and this space uses ${fr.used} of its ${fr.limit} frames (${p.pinnedCount()} pages pinned), none of them evictable now`,
  );
}

/** `e` (same class, request, figures and reason) with `message` as its explanation. */
function restated(e: OutOfMemoryError, message: string): OutOfMemoryError {
  const Kind = e.constructor as typeof OutOfMemoryError;
  return new Kind(e.requested, e.largestFree, e.free, e.reason, message);
}

/**
 * A store's refusal (no swap, swap cap) as the fault's failure: the store's own words say why a
 * page could not go, this space's figures say why no other page could go instead.
 */
function withFigures(p: Pager, e: OutOfMemoryError): OutOfMemoryError {
  const fr = p.frames;
  let refused = 0;
  let pinned = 0;
  for (const [key, f] of p.index) {
    if (fr.pins[f] > 0) pinned++;
    else if (fr.dirtyEnd[f] !== 0 && p.refusal(key)) refused++;
  }
  const own = e.message.slice(e.message.indexOf(`(${e.reason})`) + e.reason.length + 2).replace(/^: /, "");
  return restated(
    e,
    `${own}; ${fr.used} of ${fr.limit} frames in use: ${refused} hold dirty pages their store cannot take now and ${pinned} hold pinned pages, none can be evicted`,
  );
}

/** The all-pinned failure, with the figures that explain it. */
export function allPinned(p: Pager): OutOfMemoryError {
  const fr = p.frames;
  let pinned = 0;
  for (const f of p.index.values()) if (fr.pins[f] > 0) pinned++;
  return new OutOfMemoryError(
    p.pageSize,
    0,
    0,
    "all-pinned",
    `all ${fr.limit} frames are in use and ${pinned} resident pages are pinned, none can be evicted (see debugInfo() for the pins)`,
  );
}
