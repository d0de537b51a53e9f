/**
 * Rebuilding the object layer's derived structures after a thread died while changing them (the
 * pool calls this holding the lock it stole from the dead thread). What is trusted: the owner map
 * (written before a slab is linked and after it is unlinked; a large block's entry is dropped if
 * the page layer no longer has the block) and the slab bitmaps (one bit per object, each flipped
 * by a single store). What is rebuilt: each cache's PARTIAL and EMPTY lists,
 * the slab counts, every slab's INUSE and HINT, the large-run cache's lists (large-runs.ts
 * rebuild) and the footprint counter.
 */
import type { Heap } from "./heap.js";
import * as L from "./layout.js";

export function repairSlabs(heap: Heap): void {
  const s = heap.slabs;
  s.load();
  const w = s.w;
  const wpp = heap.pages.pageSize >> 2;
  for (let c = 0; c < s.cacheCount; c++) {
    const cd = s.dw + c * L.CACHE_WORDS;
    w[cd + L.C_PARTIAL] = 0;
    w[cd + L.C_EMPTY] = 0;
    w[cd + L.C_EMPTY_COUNT] = 0;
    w[cd + L.C_SLABS] = 0;
    w[cd + L.C_PAGES] = 0;
  }
  let slabPages = 0;
  for (let p = 1; p < heap.owner.length; p++) {
    const o = heap.owner[p];
    if (o <= 0 || (o & 63) !== 1) continue;
    const c = L.ownerCache(o);
    const h = p * wpp;
    const per = s.gPerSlab[L.ownerGeometry(o)];
    const words = s.gWords[L.ownerGeometry(o)];
    let used = 0;
    for (let i = 0; i < words; i++) {
      let word = w[h + L.S_BITMAP + i];
      if (i === words - 1 && (per & 31) !== 0) {
        const pad = ~((1 << (per & 31)) - 1);
        w[h + L.S_BITMAP + i] = word | pad;
        word &= ~pad;
      }
      used += popcount(word);
    }
    w[h + L.S_CACHE] = c;
    w[h + L.S_INUSE] = used;
    w[h + L.S_HINT] = 0;
    const cd = s.dw + c * L.CACHE_WORDS;
    w[cd + L.C_SLABS]++;
    w[cd + L.C_PAGES] += 2 ** L.ownerOrder(o);
    slabPages += 2 ** L.ownerOrder(o);
    if (used === per) {
      w[h + L.S_LIST] = L.LIST_FULL;
      continue;
    }
    const list = used === 0 ? L.LIST_EMPTY : L.LIST_PARTIAL;
    const head = cd + (list === L.LIST_EMPTY ? L.C_EMPTY : L.C_PARTIAL);
    const next = w[head];
    w[h + L.S_LIST] = list;
    w[h + L.S_NEXT] = next;
    w[h + L.S_PREV] = 0;
    if (next !== 0) w[next * wpp + L.S_PREV] = p;
    w[head] = p;
    if (list === L.LIST_EMPTY) w[cd + L.C_EMPTY_COUNT]++;
  }
  const cachedRuns = s.runs.rebuild();
  let large = 0;
  let largeCount = 0;
  let vmPages = 0;
  for (let p = 0; p < heap.owner.length; p++) {
    const o = heap.owner[p];
    if (o === L.OWNER_LARGE) {
      let bytes = 0;
      try {
        bytes = heap.pages.sizeOf(p * heap.pages.pageSize);
      } catch {
        // The thread died in freeLarge between the page layer's free and clearing the owner.
        heap.owner[p] = 0;
        continue;
      }
      largeCount++;
      large += bytes / heap.pages.pageSize;
    } else if (o === L.OWNER_VMALLOC) vmPages++;
  }
  let tables = 0;
  for (const a of heap.vm.areas()) if (!heap.reserve.isHome(a.table)) tables += a.tablePages;
  w[heap.rw + L.R_LARGE_COUNT] = largeCount;
  w[heap.rw + L.R_LARGE_PAGES] = large;
  const footprint =
    w[heap.rw + L.R_ROOT_PAGES] +
    heap.reserve.borrowedPages() +
    tables +
    slabPages +
    large +
    vmPages +
    cachedRuns;
  w[heap.rw + L.R_FOOTPRINT] = footprint;
  if (footprint > w[heap.rw + L.R_PEAK]) w[heap.rw + L.R_PEAK] = footprint;
}

function popcount(x: number): number {
  let v = x - ((x >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}
