/**
 * Slabs shared by a pool's threads (src/pool): each thread has its own array-cache region
 * (layout.ts acSlotWords) and holds the slabs it takes objects from, so two workers never refill
 * from the same slab and their objects share no cache line. Binding a region, detaching from it,
 * and returning a dead thread's region and holds all live here, off the single-thread fast paths.
 */
import { OutOfMemoryError } from "../errors.js";
import * as L from "./layout.js";
import type { Slabs } from "./slab.js";

const { C_EMPTY, C_PARTIAL, CACHE_WORDS, HOLDER_SHIFT, LIST_CURRENT, LIST_MASK, LIST_PARTIAL } = L;
const { S_BITMAP, S_INUSE, S_LIST, S_NEXT } = L;

/** acBase of a detached thread (detachArrayCaches). */
export const DETACHED = -2;

/**
 * For a pool thread that detached: every cache's array cache becomes an empty one of
 * limit 0 at `zeroWord` (a word nobody writes), so every alloc and free takes a slow path, whose
 * lock (the caller sets a refusing one) throws. Its region may be another thread's by then.
 */
export function detachArrayCaches(s: Slabs, zeroWord: number): void {
  s.holder = 0;
  s.acBase = DETACHED;
  s.zeroWord = zeroWord;
  s.known = 0;
  s.load();
}

/**
 * Uses the array-cache region at word `base` for this thread (a pool's per-worker
 * region, `entries` objects and `bytes` bytes per cache at most: layout.ts regionAcLimit); the
 * objects on the current array caches go back to their slabs first.
 */
export function bindArrayCaches(
  s: Slabs,
  base: number,
  entries: number,
  bytes: number,
  holder: number,
): void {
  s.withLock(() => drainAll(s));
  s.holder = holder;
  s.acBase = base;
  s.acSlotWords = L.acSlotWords(entries);
  s.acEntries = entries;
  s.acBytes = bytes;
  s.known = 0;
  s.load();
}

/**
 * Returns every object of the array-cache region at `base` (a dead thread's) to its
 * slab. The thread may have died in the middle of a flush (holding the lock), so an entry whose
 * object is already back in its slab (bit clear, or its slab given back) is skipped, and so is
 * a duplicate left by the flush's move. Called after repairSlabs, which dropped every hold
 * (`holder`'s current slabs included), so only the region's current-slab words are cleared.
 */
export function drainRegion(s: Slabs, base: number, holder: number): void {
  s.withLock(() => {
    s.load();
    const w = s.w;
    const ps = s.ps;
    for (let c = 0; c < s.known; c++) {
      const aw = base + c * s.acSlotWords;
      const e = (aw + L.AC_SLOT_ENTRIES) >> 1;
      const avail = Math.min(w[aw], s.acLimit[c]);
      w[aw] = 0;
      for (let i = 0; i < avail; i++) {
        const address = s.f64[e + i];
        const page = Math.floor(address / ps);
        if (!(page >= 0 && page < s.owner.length)) continue;
        const o = s.owner[page];
        if (o <= 0 || L.ownerCache(o) !== c) continue;
        const slab = L.ownerSlab(page, o);
        const g = L.ownerGeometry(o);
        const off = address - slab * ps - s.gData[g];
        const idx = Math.round(off * s.inv[c]);
        if (idx * s.stride[c] !== off || idx < 0 || idx >= s.gPerSlab[g]) continue;
        if ((w[slab * s.wpp + S_BITMAP + (idx >> 5)] & (1 << (idx & 31))) === 0) continue;
        s.freeToSlab(c, g, address, slab, idx);
      }
      unhold(s, c, aw + L.AC_SLOT_HELD, holder);
    }
  });
}

/** Under the lock: every array cache of this thread back to its slabs, and its held slabs let go. */
export function drainAll(s: Slabs): void {
  for (let c = 0; c < s.known; c++) {
    s.drain(c);
    if (s.holder !== 0) unhold(s, c, s.acWord[c] + L.AC_SLOT_HELD, s.holder);
  }
  if (s.holder !== 0) disown(s, s.holder);
}

/**
 * The slab this thread takes cache c's objects from in a pool: its current slab (SLUB's per-cpu
 * slab) while that has a free object, else the first partial slab it holds or nobody holds, else
 * an empty slab (or, with `create`, a new one); 0 if there is none and `create` is false. A
 * worker holds the slabs it took objects from until they empty, so two workers never refill
 * from the same slab and their objects share no cache line (a worker writes an object's first
 * word on every free and allocation). Holds are hints, not locks: repair drops them, another
 * thread's debug path may still take an object from a held slab, and so does a thread that
 * would otherwise fail for want of a new slab.
 */
export function heldSlab(s: Slabs, c: number, create: boolean, wait: boolean): number {
  const w = s.w;
  const wpp = s.wpp;
  const hw = s.acWord[c] + L.AC_SLOT_HELD;
  const me = s.holder << HOLDER_SHIFT;
  const cur = w[hw];
  if (cur !== 0 && isSlabOf(s, c, cur)) {
    const v = w[cur * wpp + S_LIST];
    if (v === (LIST_PARTIAL | LIST_CURRENT | me)) return cur;
    // It filled up: still held, no longer current.
    if ((v & ~LIST_MASK) === (LIST_CURRENT | me)) w[cur * wpp + S_LIST] = v & ~LIST_CURRENT;
  }
  w[hw] = 0;
  const cd = s.dw + c * CACHE_WORDS;
  let slab = w[cd + C_PARTIAL];
  while (slab !== 0) {
    const holder = w[slab * wpp + S_LIST] >> HOLDER_SHIFT;
    if (holder === 0 || holder === s.holder) break;
    slab = w[slab * wpp + S_NEXT];
  }
  if (slab === 0) {
    if (!create && w[cd + C_EMPTY] === 0) return 0;
    try {
      slab = s.refill(c, wait);
    } catch (e) {
      // Out of memory for a new slab: a slab another worker holds is better than failing.
      const any = w[cd + C_PARTIAL];
      if (!(e instanceof OutOfMemoryError) || any === 0) throw e;
      return any;
    }
  }
  w[slab * wpp + S_LIST] = LIST_PARTIAL | LIST_CURRENT | me;
  w[hw] = slab;
  return slab;
}

/**
 * Ends `holder`'s current slab of cache c, recorded at word `hw` of its region: an empty one then
 * goes where every emptied slab goes.
 */
export function unhold(s: Slabs, c: number, hw: number, holder: number): void {
  const w = s.w;
  const slab = w[hw];
  w[hw] = 0;
  if (slab === 0 || !isSlabOf(s, c, slab)) return;
  const h = slab * s.wpp;
  const v = w[h + S_LIST];
  if ((v & ~LIST_MASK) !== (LIST_CURRENT | (holder << HOLDER_SHIFT))) return;
  w[h + S_LIST] = v & ~LIST_CURRENT;
  if (w[h + S_INUSE] === 0) s.emptied(c, slab);
}

/** Drops every hold of `holder` (a thread that detaches or died), after unhold of its current slabs. */
function disown(s: Slabs, holder: number): void {
  const w = s.w;
  const owner = s.owner;
  for (let p = 1; p < owner.length; p++) {
    const o = owner[p];
    if (o <= 0 || (o & 63) !== 1) continue;
    const h = p * s.wpp;
    const v = w[h + S_LIST];
    if (v >> HOLDER_SHIFT !== holder) continue;
    w[h + S_LIST] = v & LIST_MASK;
    if ((v & LIST_MASK) === LIST_PARTIAL && w[h + S_INUSE] === 0) s.emptied(L.ownerCache(o), p);
  }
}

/** Whether page `page` is the first page of one of cache c's slabs (the owner map says so). */
function isSlabOf(s: Slabs, c: number, page: number): boolean {
  const o = page > 0 && page < s.owner.length ? s.owner[page] : 0;
  return o > 0 && (o & 63) === 1 && L.ownerCache(o) === c;
}
