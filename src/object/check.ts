/**
 * The object layer's structural check (Heap.check): every slab, list, array cache, cached run,
 * vmalloc area and reserve block walked, and every invariant slab.ts and layout.ts state verified;
 * the first broken one throws CorruptionError. Tests run it after every operation.
 */
import { CorruptionError } from "../errors.js";
import type { Heap } from "./heap.js";
import { census } from "./inspect.js";
import {
  C_AC_LIMIT,
  C_EMPTY,
  C_EMPTY_COUNT,
  C_PAGES,
  C_PARTIAL,
  C_SLABS,
  CACHE_WORDS,
  cachedNext,
  FREE_TAG,
  HOLDER_SHIFT,
  LIST_CURRENT,
  LIST_EMPTY,
  LIST_FULL,
  LIST_MASK,
  LIST_PARTIAL,
  OWNER_CACHED_END,
  OWNER_LARGE,
  OWNER_META,
  OWNER_VMALLOC,
  ownerCache,
  ownerGeometry,
  ownerOrder,
  ownerSlab,
  R_FOOTPRINT,
  R_LARGE_COUNT,
  R_LARGE_PAGES,
  R_ROOT_PAGES,
  R_RUN_HEAD,
  R_RUN_PAGES,
  RUN_CACHE_PAGES,
  S_BITMAP,
  S_CACHE,
  S_HINT,
  S_INUSE,
  S_LIST,
  S_NEXT,
  S_PREV,
  slabOwner,
} from "./layout.js";

function fail(what: string): never {
  throw new CorruptionError(what);
}

function popcount(x: number): number {
  let v = x - ((x >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

function checkSlab(heap: Heap, c: number, slab: number, list: number, prev: number): void {
  const s = heap.slabs;
  const w = s.w;
  const ps = heap.pages.pageSize;
  const h = slab * (ps >> 2);
  const name = s.name(c);
  if (w[h + S_CACHE] !== c) fail(`slab ${slab} of cache ${name} names cache ${w[h + S_CACHE]}`);
  const v = w[h + S_LIST];
  const current = (v & LIST_CURRENT) !== 0;
  if (
    (v & LIST_MASK) !== list ||
    (list === LIST_EMPTY && v !== LIST_EMPTY) ||
    (current && v >> HOLDER_SHIFT === 0)
  )
    fail(`slab ${slab} of cache ${name} is on list ${list} but says ${v}`);
  if (prev >= 0 && w[h + S_PREV] !== prev) fail(`slab ${slab} of cache ${name} has a wrong back link`);
  const o = heap.owner[slab];
  const order = ownerOrder(o);
  if (!(o > 0) || ownerCache(o) !== c || order < s.order[c] || order > s.maxOrder[c])
    fail(`slab ${slab} of cache ${name} has owner ${o}, not an order from ${s.order[c]} to ${s.maxOrder[c]}`);
  const per = s.gPerSlab[ownerGeometry(o)];
  const words = s.gWords[ownerGeometry(o)];
  let used = 0;
  for (let i = 0; i < words; i++) {
    let word = w[h + S_BITMAP + i];
    if (i === words - 1 && (per & 31) !== 0) {
      const pad = ~((1 << (per & 31)) - 1);
      if ((word & pad) !== pad) fail(`slab ${slab} of cache ${name}: padding bits cleared`);
      word &= ~pad;
    }
    used += popcount(word);
    if (i < w[h + S_HINT] && w[h + S_BITMAP + i] !== -1)
      fail(`slab ${slab} of cache ${name}: free bit below the hint`);
  }
  const inuse = w[h + S_INUSE];
  if (used !== inuse) fail(`slab ${slab} of cache ${name}: ${used} bits set but INUSE says ${inuse}`);
  if (w[s.dw + c * CACHE_WORDS + C_AC_LIMIT] > 0) {
    // Free objects carry the free tag (layout.ts FREE_TAG): free() trusts it.
    const first = slab * ps + s.gData[ownerGeometry(o)];
    for (let i = 0; i < per; i++) {
      if ((w[h + S_BITMAP + (i >> 5)] & (1 << (i & 31))) !== 0) continue;
      const a = first + i * s.stride[c];
      for (let k = 0; k < 4; k++)
        if (heap.memory[a + k] !== FREE_TAG[k]) fail(`cache ${name}: free object ${a} lost its free tag`);
    }
  }
  if (list === LIST_PARTIAL && !((inuse > 0 || current) && inuse < per))
    fail(`partial slab ${slab} of ${name} holds ${inuse}`);
  if (list === LIST_FULL && inuse !== per) fail(`full slab ${slab} of ${name} holds ${inuse}`);
  if (list === LIST_EMPTY && inuse !== 0) fail(`empty slab ${slab} of ${name} holds ${inuse}`);
  const n = 2 ** order;
  if (heap.pages.allocationPages(slab) !== n) fail(`slab ${slab} of ${name} is not a ${n}-page block`);
  for (let p = slab; p < slab + n; p++) {
    if (heap.owner[p] !== slabOwner(c, order, p - slab))
      fail(`page ${p} of slab ${slab} has owner ${heap.owner[p]}`);
  }
}

/** Every object on cache c's array cache is a distinct object start whose bit is set and which carries the tag. */
function checkArrayCache(heap: Heap, c: number): void {
  const s = heap.slabs;
  const ps = heap.pages.pageSize;
  const seen = new Set<number>();
  for (let i = 0; i < s.cached(c); i++) {
    const a = s.cachedAt(c, i);
    const name = s.name(c);
    if (seen.has(a)) fail(`cache ${name}: object ${a} is twice on the array cache`);
    seen.add(a);
    const page = Math.floor(a / ps);
    const o = heap.owner[page];
    if (!(o > 0) || ownerCache(o) !== c)
      fail(`cache ${name}: array cache holds ${a}, not one of its objects`);
    const slab = ownerSlab(page, o);
    const off = a - slab * ps - s.gData[ownerGeometry(o)];
    const idx = off / s.stride[c];
    if (!Number.isInteger(idx) || idx < 0 || idx >= s.gPerSlab[ownerGeometry(o)])
      fail(`cache ${name}: array cache holds ${a}, not an object start`);
    if ((s.w[slab * (ps >> 2) + S_BITMAP + (idx >> 5)] & (1 << (idx & 31))) === 0) {
      fail(`cache ${name}: array cache object ${a} is clear in its bitmap`);
    }
    for (let k = 0; k < 4; k++)
      if (heap.memory[a + k] !== FREE_TAG[k])
        fail(`cache ${name}: array cache object ${a} lost its free tag`);
  }
}

/** Walks a linked list (partial or empty) of cache c, checking each slab; returns its length. */
function checkList(heap: Heap, c: number, list: number): number {
  const w = heap.slabs.w;
  const wpp = heap.pages.pageSize >> 2;
  const cd = heap.slabs.dw + c * CACHE_WORDS;
  const limit = w[cd + C_SLABS];
  let slab = w[cd + (list === LIST_PARTIAL ? C_PARTIAL : C_EMPTY)];
  let prev = 0;
  let n = 0;
  while (slab !== 0) {
    if (++n > limit) fail(`cache ${heap.slabs.name(c)}: list ${list} is longer than its slab count`);
    checkSlab(heap, c, slab, list, prev);
    prev = slab;
    slab = w[slab * wpp + S_NEXT];
  }
  return n;
}

/** Verifies the page layer, every slab, the owner map and the footprint accounting. */
export function heapCheck(heap: Heap): void {
  heap.pages.check();
  const s = heap.slabs;
  s.load();
  const w = s.w;
  const ps = heap.pages.pageSize;
  const wpp = ps >> 2;
  const counts = census(heap);
  let slabPages = 0;
  for (let c = 0; c < s.cacheCount; c++) {
    const cd = s.dw + c * CACHE_WORDS;
    const name = s.name(c);
    const n = counts[c];
    if (checkList(heap, c, LIST_PARTIAL) !== n.partial) fail(`cache ${name}: partial list misses slabs`);
    if (checkList(heap, c, LIST_EMPTY) !== n.empty) fail(`cache ${name}: empty list misses slabs`);
    if (n.empty !== w[cd + C_EMPTY_COUNT]) fail(`cache ${name}: empty count is wrong`);
    const slabs = n.partial + n.full + n.empty;
    if (slabs !== w[cd + C_SLABS])
      fail(`cache ${name}: ${slabs} slabs in the owner map, count says ${w[cd + C_SLABS]}`);
    if (n.pages !== w[cd + C_PAGES])
      fail(`cache ${name}: ${n.pages} pages in its slabs, PAGES says ${w[cd + C_PAGES]}`);
    slabPages += n.pages;
  }
  for (let p = 0; p < heap.owner.length; p++) {
    const o = heap.owner[p];
    if (o <= 0) continue;
    const slab = ownerSlab(p, o);
    if (w[slab * wpp + S_CACHE] !== ownerCache(o))
      fail(`page ${p}: owner map names another cache than its slab`);
    if (slab === p && (w[p * wpp + S_LIST] & LIST_MASK) === LIST_FULL)
      checkSlab(heap, ownerCache(o), p, LIST_FULL, -1);
  }
  for (let c = 0; c < s.cacheCount; c++) checkArrayCache(heap, c);
  let ownedSlab = 0;
  let largeCount = 0;
  let largePages = 0;
  let meta = 0;
  let vmPages = 0;
  let cachedRuns = 0;
  for (let p = 0; p < heap.owner.length; p++) {
    const o = heap.owner[p];
    if (o > 0) ownedSlab++;
    else if (o === OWNER_LARGE) {
      largeCount++;
      const n = heap.pages.allocationPages(p);
      if (n === 0) fail(`large allocation at page ${p} is not allocated in the page layer`);
      largePages += n;
    } else if (o === OWNER_META) meta++;
    else if (o === OWNER_VMALLOC) vmPages++;
    else if (o <= OWNER_CACHED_END) cachedRuns++;
    else if (o !== 0) fail(`page ${p} has an unknown owner ${o}`);
  }
  const cachedPages = checkCachedRuns(heap, cachedRuns);
  if (ownedSlab !== slabPages) fail(`owner map marks ${ownedSlab} slab pages, lists hold ${slabPages}`);
  if (largeCount !== w[heap.rw + R_LARGE_COUNT])
    fail(`large count ${w[heap.rw + R_LARGE_COUNT]} != ${largeCount}`);
  if (largePages !== w[heap.rw + R_LARGE_PAGES])
    fail(`large pages ${w[heap.rw + R_LARGE_PAGES]} != ${largePages}`);
  const areas = heap.vm.areas();
  let vmData = 0;
  let tables = 0;
  for (const a of areas) {
    vmData += a.pages;
    // A table lent from the reserve's home blocks is part of the root's pages already.
    if (!heap.reserve.isHome(a.table)) tables += a.tablePages;
    for (let i = 0; i < a.pages; i++) {
      const page = heap.vm.pageOf(a.vaddress, i);
      if (heap.owner[page] !== OWNER_VMALLOC || heap.pages.allocationPages(page) !== 1) {
        fail(`vmalloc area ${a.vaddress} page ${i} maps page ${page} which is not its own`);
      }
    }
  }
  if (vmData !== vmPages) fail(`owner map marks ${vmPages} vmalloc pages, areas map ${vmData}`);
  const rootPages = w[heap.rw + R_ROOT_PAGES];
  const borrowed = heap.reserve.borrowedPages();
  if (meta !== rootPages + borrowed + tables) {
    fail(
      `owner map marks ${meta} metadata pages, root+borrowed reserve+tables hold ${rootPages + borrowed + tables}`,
    );
  }
  const footprint = rootPages + borrowed + tables + slabPages + largePages + vmData + cachedPages;
  if (footprint !== w[heap.rw + R_FOOTPRINT])
    fail(`footprint ${w[heap.rw + R_FOOTPRINT]} pages, structures hold ${footprint}`);
}

/**
 * The large-run cache's lists against the owner map (large-runs.ts invariants): `marked` first
 * pages carry a cached-run entry, each must sit on the list of its run's length exactly once.
 * Returns the pages they hold.
 */
function checkCachedRuns(heap: Heap, marked: number): number {
  const w = heap.pages.w;
  let runs = 0;
  let pages = 0;
  if (w[heap.rw + R_RUN_HEAD] !== 0 || w[heap.rw + R_RUN_HEAD + 1] !== 0)
    fail("the large-run cache has a list of runs shorter than 2 pages");
  for (let n = 2; n <= RUN_CACHE_PAGES; n++) {
    for (let p = w[heap.rw + R_RUN_HEAD + n]; p !== 0; p = cachedNext(heap.owner[p])) {
      if (++runs > marked) fail(`large-run cache: list of ${n} pages holds unmarked page ${p} (or a cycle)`);
      if (p < 0 || p >= heap.owner.length || heap.owner[p] > OWNER_CACHED_END)
        fail(`large-run cache: list of ${n} pages holds page ${p}, whose owner is not a cached run`);
      if (heap.pages.allocationPages(p) !== n)
        fail(
          `large-run cache: page ${p} is on the list of ${n} pages, its run has ${heap.pages.allocationPages(p)}`,
        );
      pages += n;
    }
  }
  if (runs !== marked) fail(`large-run cache: ${marked} runs marked in the owner map, lists hold ${runs}`);
  if (pages !== w[heap.rw + R_RUN_PAGES])
    fail(`large-run cache: lists hold ${pages} pages, RUN_PAGES says ${w[heap.rw + R_RUN_PAGES]}`);
  return pages;
}
