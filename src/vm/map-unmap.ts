/**
 * map() and unmap(): adding a mapping to the tree (mappings.ts) with its store registered in the
 * space, and taking it out again once its pages are written back or discarded.
 *
 *     map:    validate everything ─> place a gap ─> store.attach ─> (nothing fails from here)
 *             register the store (id, owner, count) ─> insert ─> willneed: prefetch in background
 *     unmap:  refuse if pinned ─> out of the tree (calls in flight stop at their next page)
 *             ─> per resident page no other mapping of the store covers: settle, write back
 *                (persistent stores), drop ─> the store's last mapping: flush it if written
 *                since its last flush ─> anonymous: discard the uncovered store ranges
 *             ─> on failure the mapping goes back, consistent
 *
 * A store belongs to one address space at a time (`storeOwner`): its pages are keyed by the
 * space's store id, so two spaces caching one store would each write back a stale copy.
 */
import { InvalidAddressError, InvalidArgumentError, OutOfMemoryError } from "../errors.js";
import { prefetch } from "./advise.js";
import { KEY_STRIDE } from "./frames.js";
import { hint as checkHint, type Hint, HintRanges, isKeptHint } from "./hints.js";
import type { Mapping } from "./mappings.js";
import type { SpaceState } from "./space-state.js";
import type { Store } from "./stores/store.js";
import { clean, flushStore } from "./writeback.js";

export interface MapOptions {
  length: number;
  store: Store;
  /** Byte offset in the store, a multiple of the page size. Default 0. */
  offset?: number;
  /** Kept hint for the whole mapping, or willneed (prefetch now). Default normal. */
  hint?: Hint;
  /** Default true, or false for a read-only store (which refuses true). */
  writable?: boolean;
}

/** Which address space a store is mapped in (a store's frames belong to one space). */
const storeOwner = new WeakMap<Store, SpaceState>();
/**
 * The address spaces mapping a store of each Store.identity. Two spaces caching one file through
 * two store objects would each write back their stale copy of the other's pages (as two objects
 * in one space would: byIdentity), and read stale bytes after the other's writes; so spaces may
 * share an identity only while none of them maps it writable.
 */
const identitySpaces = new Map<string, Set<WeakRef<SpaceState>>>();
/**
 * Each space's one WeakRef in identitySpaces: a space dropped without close() must not be kept
 * alive (arena and all) by the registry; once collected, it maps nothing.
 */
const selfRefs = new WeakMap<SpaceState, WeakRef<SpaceState>>();

function refOf(s: SpaceState): WeakRef<SpaceState> {
  let r = selfRefs.get(s);
  if (r === undefined) {
    r = new WeakRef(s);
    selfRefs.set(s, r);
  }
  return r;
}

/** The live spaces mapping a store of `identity`. */
function spacesOf(identity: string): SpaceState[] {
  const refs = identitySpaces.get(identity);
  if (refs === undefined) return [];
  const out: SpaceState[] = [];
  for (const r of refs) {
    const t = r.deref();
    if (t === undefined) refs.delete(r);
    else out.push(t);
  }
  if (refs.size === 0) identitySpaces.delete(identity);
  return out;
}

/** Whether `s` maps (or is still unmapping) a writable mapping of a store of `identity`. */
function mapsWritable(s: SpaceState, identity: string): boolean {
  for (const m of [...s.tree.all(), ...s.unmapping])
    if (m.writable && m.store.identity === identity) return true;
  return false;
}

function leaveIdentity(s: SpaceState, identity: string): void {
  const refs = identitySpaces.get(identity);
  if (refs?.delete(refOf(s)) && refs.size === 0) identitySpaces.delete(identity);
}

/** Maps `length` bytes of `store` from `offset`; returns the virtual address. */
export function mapRegion(s: SpaceState, options: MapOptions): number {
  s.open();
  if (options === null || typeof options !== "object") {
    throw new InvalidArgumentError("options", options, "must be an object with length and store");
  }
  const { length, store, offset = 0, hint = "normal" } = options;
  const ps = s.pageSize;
  if (!Number.isSafeInteger(length) || length <= 0) {
    throw new InvalidArgumentError("length", length, "must be a positive integer");
  }
  const st = store as Partial<Store> | null;
  if (
    st === null ||
    typeof st !== "object" ||
    typeof st.readPage !== "function" ||
    typeof st.writePage !== "function" ||
    typeof st.close !== "function"
  ) {
    throw new InvalidArgumentError(
      "store",
      store,
      "must implement the Store interface (readPage, writePage, close)",
    );
  }
  if (!Number.isSafeInteger(offset) || offset < 0 || offset % ps !== 0) {
    throw new InvalidArgumentError(
      "offset",
      offset,
      `must be a non-negative multiple of the page size ${ps}`,
    );
  }
  const h = checkHint("hint", hint);
  if (h === "dontneed")
    throw new InvalidArgumentError("hint", hint, "dontneed is an action for advise(), not a mapping hint");
  const readOnlyStore = store.readOnly === true;
  const writable = options.writable ?? !readOnlyStore;
  if (typeof writable !== "boolean")
    throw new InvalidArgumentError("writable", writable, "must be a boolean");
  if (writable && readOnlyStore) {
    throw new InvalidArgumentError("writable", writable, `${store.description} is read-only`);
  }
  const pages = Math.ceil(length / ps);
  if (offset / ps + pages > KEY_STRIDE) {
    throw new InvalidArgumentError(
      "length",
      length,
      `offset + length must stay below ${KEY_STRIDE} pages of the store`,
    );
  }
  const owner = storeOwner.get(store);
  if (owner !== undefined && owner !== s) {
    throw new InvalidArgumentError("store", store.description, "is mapped in another address space");
  }
  const identity = typeof store.identity === "string" ? store.identity : undefined;
  for (const t of identity === undefined ? [] : spacesOf(identity)) {
    if (t !== s && (writable || mapsWritable(t, identity!))) {
      throw new InvalidArgumentError(
        "store",
        store.description,
        "shows the same bytes as a store another address space maps, and one of them writable (each would cache them apart): unmap it there first",
      );
    }
  }
  const start = s.tree.place(pages);
  if (start < 0) {
    throw new OutOfMemoryError(
      length,
      0,
      0,
      "exhausted",
      "no gap in the virtual address space is large enough",
    );
  }
  let storeId = s.storeIds.get(store);
  const same = identity === undefined ? undefined : s.byIdentity.get(identity);
  if (same !== undefined && same !== store) {
    throw new InvalidArgumentError(
      "store",
      store.description,
      "shows the same bytes as another store object mapped here (map that object again: two would cache them apart)",
    );
  }
  if (storeId === undefined && !s.ids.available) {
    throw new OutOfMemoryError(
      length,
      0,
      0,
      "exhausted",
      `the space maps ${s.ids.used} stores, as many as page keys can name`,
    );
  }
  store.attach?.(ps);
  // From here on nothing can fail.
  if (storeId === undefined) {
    storeId = s.ids.take();
    s.storeIds.set(store, storeId);
    s.stores.set(storeId, store);
    if (identity !== undefined) {
      s.byIdentity.set(identity, store);
      const refs = identitySpaces.get(identity);
      if (refs) refs.add(refOf(s));
      else identitySpaces.set(identity, new Set([refOf(s)]));
    }
  }
  storeOwner.set(store, s);
  s.mapCount.set(storeId, (s.mapCount.get(storeId) ?? 0) + 1);
  const m: Mapping = {
    id: s.nextMappingId++,
    start,
    length,
    pages,
    store,
    storeId,
    offset,
    writable,
    hints: new HintRanges(isKeptHint(h) ? h : "normal", pages),
    lastPage: -2,
    window: 0,
    removed: false,
  };
  s.tree.insert(m);
  s.mapEpoch++;
  if (h === "willneed") {
    prefetch(s, m, 0, pages).catch(() => {}); // best effort: failures show as storeErrors
  }
  return start;
}

/**
 * Removes the mapping that starts at `v`. Dirty pages of persistent stores are written back; the
 * pages of an anonymous store that no other mapping covers are discarded with their swap slots.
 */
export async function unmapRegion(s: SpaceState, v: number): Promise<void> {
  s.open();
  const m = typeof v === "number" ? s.tree.at(v) : undefined;
  if (m === undefined) throw new InvalidAddressError(v, "is not the start of a mapping");
  s.refusePinned(m, 0, m.pages);
  s.tree.remove(m);
  m.removed = true;
  s.unmapping.add(m);
  const ps = s.pageSize;
  const first = m.offset / ps;
  // A map() of the same store while this waits covers pages too: they are shared with it and
  // must stay (its writes are acknowledged). So coverage is looked up again after a mapping came.
  let others: Mapping[] = [];
  let seen = -1;
  const current = () => {
    if (seen !== s.mapEpoch) {
      others = s.tree.ofStore(m.storeId);
      seen = s.mapEpoch;
    }
    return others;
  };
  const covered = (page: number) =>
    current().some((o) => page >= o.offset / ps && page < o.offset / ps + o.pages);
  const anonymous = typeof m.store.discard === "function";
  try {
    for (const key of s.keysOf(m, 0, m.pages)) {
      if (covered(key % KEY_STRIDE)) continue;
      // While this waits, a fault elsewhere may pick the page as its victim and start writing it
      // back (for an anonymous store, a write finishing after the discard below would bring the
      // old bytes back), and a write that began before the unmap may still land in it (for a
      // persistent store, acknowledged, so it must reach the store). Drop it only when settled.
      do {
        await s.settle(key);
        if (!anonymous) await clean(s.pager, key);
        await s.unrefWait(key);
      } while (s.unsettled(key, !anonymous));
      if (covered(key % KEY_STRIDE)) continue;
      s.refusePinnedPage(key);
      s.pager.drop(key);
    }
    if (!anonymous && s.mapCount.get(m.storeId) === 1 && s.pager.unflushed.has(m.store)) {
      // The store leaves the space with this mapping, and what was written to it (here or by
      // evictions, the flusher, dontneed) would be durable only from a sync() that flushes it:
      // flushed now, since the caller may close the store next (a FileStore closes its file
      // without fsync).
      await flushStore(s.pager, m.store);
    }
    if (anonymous) {
      // Run by run, not page by page: a sparse mapping may span 2^32 pages.
      const end = first + m.pages;
      for (let gap = uncovered(current(), ps, first, end); gap !== null; ) {
        await m.store.discard!(gap[0] * ps, (gap[1] - gap[0]) * ps);
        gap = uncovered(current(), ps, gap[1], end);
      }
    }
  } catch (e) {
    // Put the mapping back: what was written or dropped is consistent, the rest is as it was.
    m.removed = false;
    s.tree.insert(m);
    s.mapEpoch++;
    throw e;
  } finally {
    s.unmapping.delete(m);
  }
  const left = (s.mapCount.get(m.storeId) ?? 1) - 1;
  if (left === 0) {
    // The store's last mapping: none of its pages is resident or in I/O now (each was settled
    // and dropped above), so its id may name another store's pages (store-ids.ts).
    s.mapCount.delete(m.storeId);
    storeOwner.delete(m.store);
    s.storeIds.delete(m.store);
    s.stores.delete(m.storeId);
    if (typeof m.store.identity === "string") {
      s.byIdentity.delete(m.store.identity);
      leaveIdentity(s, m.store.identity);
    }
    s.ids.release(m.storeId);
  } else s.mapCount.set(m.storeId, left);
}

/** The first run of store pages in [from, end) that none of `others` covers, or null. */
function uncovered(
  others: readonly Mapping[],
  ps: number,
  from: number,
  end: number,
): [number, number] | null {
  let a = from;
  for (let moved = true; moved && a < end; ) {
    moved = false;
    for (const o of others) {
      const lo = o.offset / ps;
      if (a >= lo && a < lo + o.pages) {
        a = lo + o.pages;
        moved = true;
      }
    }
  }
  if (a >= end) return null;
  let b = end;
  for (const o of others) {
    const lo = o.offset / ps;
    if (lo > a && lo < b) b = lo;
  }
  return [a, b];
}

/**
 * The stores mapped in this space now, given up by it (terminate): another space may map them
 * afterwards. A store the space mapped once and unmapped since is not among them; it may be
 * another space's by now.
 */
export function disownStores(s: SpaceState): Store[] {
  const out: Store[] = [];
  for (const id of s.mapCount.keys()) {
    const store = s.stores.get(id)!;
    if (storeOwner.get(store) === s) storeOwner.delete(store);
    if (typeof store.identity === "string") leaveIdentity(s, store.identity);
    out.push(store);
  }
  return out;
}
