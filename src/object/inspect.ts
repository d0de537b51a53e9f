/** Figures, a readable dump and the block map of the object layer (the structural check is in check.ts). */
import { CorruptionError } from "../errors.js";
import { pageStats } from "../page/inspect.js";
import { S_FREE_BASE, S_HEADER, S_HOT, S_SINGLE, S_USED } from "../page/layout.js";
import { formatBytes } from "../util/validate.js";
import type { Heap } from "./heap.js";
import {
  C_ALIGN,
  C_FLAGS,
  CACHE_WORDS,
  CF_KMALLOC,
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
  R_FOOTPRINT,
  R_LARGE_COUNT,
  R_LARGE_PAGES,
  R_PEAK,
  R_ROOT_PAGES,
  R_TRIMS,
  S_CACHE,
  S_INUSE,
  S_LIST,
} from "./layout.js";

export interface CacheStats {
  name: string;
  kmalloc: boolean;
  objectSize: number;
  stride: number;
  align: number;
  /** Objects per slab of the cache's first order (bigger slabs hold more, see slabPages). */
  objectsPerSlab: number;
  /** Bytes of a first-order slab; a cache that holds many pages takes bigger ones (slab.ts). */
  slabBytes: number;
  slabs: number;
  /** Pages of all the cache's slabs, whatever their order. */
  slabPages: number;
  partialSlabs: number;
  fullSlabs: number;
  emptySlabs: number;
  /** Objects allocated now. */
  inUse: number;
  /** Free objects held on the cache's array caches, every worker's in a pool (still marked used in their slabs). */
  cached: number;
  /** Objects the cache's slabs can hold. */
  capacity: number;
  /** Bytes of slab headers and bitmaps. */
  headerBytes: number;
  /** Bytes at slab ends too small for an object. */
  tailBytes: number;
  /** Bytes between objects (alignment, red zones). */
  paddingBytes: number;
}

export interface HeapStats {
  /** Usable bytes of the arena. */
  total: number;
  /** Free bytes in the page layer. */
  free: number;
  /** Largest free block of the page layer. */
  contiguous: number;
  /** Bytes the heap holds from the page layer now (root, slabs, large, vmalloc, reserve). */
  footprint: number;
  /** High-water mark of footprint. */
  peakFootprint: number;
  /** Bytes of the heap's fixed root (owner map and directories). */
  rootBytes: number;
  /** Times the heap returned its idle memory before setting a new peak footprint (slab.ts trim). */
  trims: number;
  /** Objects in use across all caches. */
  objects: number;
  large: { count: number; bytes: number };
  vmalloc: { areas: number; bytes: number; pages: number };
  /** Pages the metadata reserve holds, and how many of them it borrowed from the page layer. */
  reserve: { pages: number; borrowed: number };
  caches: CacheStats[];
  pageLayer: ReturnType<typeof pageStats>;
}

export interface Census {
  partial: number;
  full: number;
  empty: number;
  inUse: number;
  /** Sums over the cache's slabs, each of its own order. */
  pages: number;
  capacity: number;
  header: number;
  tail: number;
}

/** @internal Every slab of every cache, found through the owner map (full slabs are on no list). */
export function census(heap: Heap): Census[] {
  const s = heap.slabs;
  const wpp = heap.pages.pageSize >> 2;
  const out: Census[] = [];
  for (let c = 0; c < s.cacheCount; c++)
    out.push({ partial: 0, full: 0, empty: 0, inUse: 0, pages: 0, capacity: 0, header: 0, tail: 0 });
  const ps = heap.pages.pageSize;
  const owner = heap.owner;
  for (let p = 0; p < owner.length; p++) {
    if (owner[p] <= 0 || (owner[p] & 63) !== 1) continue;
    const h = p * wpp;
    const r = out[s.w[h + S_CACHE]];
    if (!r) throw new CorruptionError(`slab ${p} names cache ${s.w[h + S_CACHE]}, which does not exist`);
    const list = s.w[h + S_LIST] & LIST_MASK;
    if (list === LIST_PARTIAL) r.partial++;
    else if (list === LIST_FULL) r.full++;
    else if (list === LIST_EMPTY) r.empty++;
    else throw new CorruptionError(`slab ${p} is on unknown list ${list}`);
    r.inUse += s.w[h + S_INUSE];
    const g = ownerGeometry(owner[p]);
    const bytes = ps * 2 ** ownerOrder(owner[p]);
    r.pages += bytes / ps;
    r.capacity += s.gPerSlab[g];
    // Objects start their slots' left red zone (debug mode) after the first slot.
    const slots = s.gData[g] - s.redLeft[ownerCache(owner[p])];
    r.header += slots;
    r.tail += bytes - slots - s.gPerSlab[g] * s.stride[ownerCache(owner[p])];
  }
  return out;
}

function cacheFigures(heap: Heap, c: number, n: Census): CacheStats {
  const s = heap.slabs;
  const cd = s.dw + c * CACHE_WORDS;
  const slabs = n.partial + n.full + n.empty;
  const slabBytes = heap.pages.pageSize * 2 ** s.order[c];
  return {
    name: s.name(c),
    kmalloc: (s.w[cd + C_FLAGS] & CF_KMALLOC) !== 0,
    objectSize: s.size[c],
    stride: s.stride[c],
    align: s.w[cd + C_ALIGN],
    objectsPerSlab: s.perSlab[c],
    slabBytes,
    slabs,
    slabPages: n.pages,
    partialSlabs: n.partial,
    fullSlabs: n.full,
    emptySlabs: n.empty,
    inUse: n.inUse - s.cachedAll(c),
    cached: s.cachedAll(c),
    capacity: n.capacity,
    headerBytes: n.header,
    tailBytes: n.tail,
    paddingBytes: n.capacity * (s.stride[c] - s.size[c]),
  };
}

export function cacheStats(heap: Heap, c: number): CacheStats {
  heap.slabs.load();
  return cacheFigures(heap, c, census(heap)[c]);
}

export function heapStats(heap: Heap): HeapStats {
  heap.slabs.load();
  const p = pageStats(heap.pages);
  const w = heap.pages.w;
  const ps = heap.pages.pageSize;
  const caches: CacheStats[] = [];
  let objects = 0;
  const counts = census(heap);
  for (let c = 0; c < heap.slabs.cacheCount; c++) {
    const cs = cacheFigures(heap, c, counts[c]);
    caches.push(cs);
    objects += cs.inUse;
  }
  const areas = heap.vm.areas();
  return {
    total: p.total,
    free: p.free,
    contiguous: p.contiguous,
    footprint: w[heap.rw + R_FOOTPRINT] * ps,
    peakFootprint: w[heap.rw + R_PEAK] * ps,
    rootBytes: w[heap.rw + R_ROOT_PAGES] * ps,
    trims: w[heap.rw + R_TRIMS],
    objects,
    large: { count: w[heap.rw + R_LARGE_COUNT], bytes: w[heap.rw + R_LARGE_PAGES] * ps },
    vmalloc: {
      areas: areas.length,
      bytes: areas.reduce((n, a) => n + a.bytes, 0),
      pages: areas.reduce((n, a) => n + a.pages, 0),
    },
    reserve: {
      pages: heap.reserve.held().reduce((n, h) => n + 2 ** h.order, 0),
      borrowed: heap.reserve.borrowedPages(),
    },
    caches,
    pageLayer: p,
  };
}

export function heapDebugInfo(heap: Heap): string {
  const s = heapStats(heap);
  const lines = [
    `Heap: footprint ${formatBytes(s.footprint)} (peak ${formatBytes(s.peakFootprint)}, root ${formatBytes(s.rootBytes)}, ${s.trims} trims), ` +
      `${s.objects} objects, ${s.large.count} large allocations (${formatBytes(s.large.bytes)}), ` +
      `${heap.slabs.runs.count()} cached large runs (${formatBytes(heap.slabs.runs.heldPages * heap.pages.pageSize)}), ` +
      `${s.vmalloc.areas} vmalloc areas (${formatBytes(s.vmalloc.bytes)}), reserve ${s.reserve.pages} pages`,
    "caches with slabs (name, object size, per slab, slabs p/f/e, in use/capacity, waste):",
  ];
  for (const c of s.caches) {
    if (c.slabs === 0) continue;
    lines.push(
      `  ${c.name.padEnd(24)} ${String(c.objectSize).padStart(6)} B ${String(c.objectsPerSlab).padStart(4)}/slab ` +
        `${c.partialSlabs}/${c.fullSlabs}/${c.emptySlabs} ${c.inUse}/${c.capacity} ` +
        `waste ${formatBytes(c.headerBytes + c.tailBytes + c.paddingBytes)}`,
    );
  }
  lines.push(heap.pages.debugInfo());
  return lines.join("\n");
}

/**
 * What each block of the arena is, for pictures of it (the dashboard's memory map). Kinds, by
 * the number a run carries:
 *
 * | code | kind    | detail                | what the pages are                                  |
 * |------|---------|-----------------------|-----------------------------------------------------|
 * | 0    | header  | -1                    | arena header and page-layer metadata                |
 * | 1    | free    | order (hot pages: 0)  | a free buddy block, or a free page on a hot stack   |
 * | 2    | meta    | -1                    | heap root, owner map, directories, vmalloc tables   |
 * | 3    | reserve | -1                    | blocks the metadata reserve holds                   |
 * | 4    | slab    | cache index           | a slab of a named cache                             |
 * | 5    | kmalloc | cache index           | a slab of a kmalloc size class                      |
 * | 6    | large   | -1                    | a large allocation (above the largest class)        |
 * | 7    | vmalloc | -1                    | a page backing a vmalloc area                       |
 * | 8    | pages   | -1                    | pages taken from the page layer directly            |
 * | 9    | cached  | -1                    | a freed large run the heap keeps for reuse          |
 */
export const BLOCK_KINDS = [
  "header",
  "free",
  "meta",
  "reserve",
  "slab",
  "kmalloc",
  "large",
  "vmalloc",
  "pages",
  "cached",
] as const;
export type BlockKind = (typeof BLOCK_KINDS)[number];

/** The arena as runs of pages in address order, parallel arrays (one entry per block). */
export interface BlockMap {
  pageSize: number;
  pageCount: number;
  /** First page of each run. */
  start: number[];
  /** Pages in each run. */
  pages: number[];
  /** Index into BLOCK_KINDS. */
  kind: number[];
  /** Free order or cache index (see BLOCK_KINDS), else -1. */
  detail: number[];
  /** Cache names by index. */
  caches: string[];
}

const K_HEADER = 0;
const K_FREE = 1;
const K_META = 2;
const K_RESERVE = 3;
const K_SLAB = 4;
const K_KMALLOC = 5;
const K_LARGE = 6;
const K_VMALLOC = 7;
const K_PAGES = 8;
const K_CACHED = 9;

/**
 * One walk of the page states in address order (O(blocks)), classified through the owner map.
 * Reads only; a picture taken while another thread allocates may be slightly stale, never wrong
 * in shape (every run has at least one page).
 */
export function heapBlocks(heap: Heap): BlockMap {
  const pages = heap.pages;
  const { state, run, pageCount } = pages;
  const owner = heap.owner;
  const s = heap.slabs;
  s.load();
  const reserve = new Set<number>();
  for (const h of heap.reserve.held()) for (let i = 0; i < 2 ** h.order; i++) reserve.add(h.page + i);
  const map: BlockMap = {
    pageSize: pages.pageSize,
    pageCount,
    start: [],
    pages: [],
    kind: [],
    detail: [],
    caches: [],
  };
  for (let c = 0; c < s.cacheCount; c++) map.caches.push(s.name(c));
  const push = (p: number, n: number, kind: number, detail: number) => {
    map.start.push(p);
    map.pages.push(n);
    map.kind.push(kind);
    map.detail.push(detail);
  };
  let p = 0;
  while (p < pageCount) {
    const st = state[p];
    let n = 1;
    if (st === S_HEADER) {
      n = run[p];
      push(p, Math.max(1, n), K_HEADER, -1);
    } else if (st === S_HOT) {
      push(p, 1, K_FREE, 0);
    } else if (st >= S_FREE_BASE && st < S_USED) {
      n = 2 ** (st - S_FREE_BASE);
      push(p, n, K_FREE, st - S_FREE_BASE);
    } else if (st === S_USED || st === S_SINGLE) {
      n = st === S_SINGLE ? 1 : run[p];
      const o = owner[p];
      if (o > 0) {
        const c = ownerCache(o);
        const kmalloc = (s.w[s.dw + c * CACHE_WORDS + C_FLAGS] & CF_KMALLOC) !== 0;
        push(p, n, kmalloc ? K_KMALLOC : K_SLAB, c);
      } else if (o === OWNER_LARGE) push(p, n, K_LARGE, -1);
      else if (o <= OWNER_CACHED_END) push(p, n, K_CACHED, -1);
      else if (o === OWNER_VMALLOC) push(p, n, K_VMALLOC, -1);
      else if (o === OWNER_META) metaRuns(p, Math.max(1, n), reserve, push);
      else push(p, Math.max(1, n), K_PAGES, -1);
    } else {
      // Interior page of a block being changed by another thread: skip it as one page of its own.
      push(p, 1, K_PAGES, -1);
    }
    p += Math.max(1, n);
  }
  return map;
}

/** A metadata block, split where the reserve's pages begin and end (they live inside the root). */
function metaRuns(
  p: number,
  n: number,
  reserve: Set<number>,
  push: (p: number, n: number, kind: number, detail: number) => void,
): void {
  let from = p;
  let kind = reserve.has(p) ? K_RESERVE : K_META;
  for (let q = p + 1; q <= p + n; q++) {
    const k = q === p + n ? -1 : reserve.has(q) ? K_RESERVE : K_META;
    if (k !== kind) {
      push(from, q - from, kind, -1);
      from = q;
      kind = k;
    }
  }
}
