/**
 * The figures of a multi-segment pool's heap as one heap's (SegmentedHeap.stats): what Heap.stats()
 * says for one arena, said for all the segments together, so that `pool.heap.stats().free` means
 * the same whatever the pool's size. Amounts add up; the largest free block is the largest of any
 * segment (no block spans two); a cache's figures add up over the segments that have it (every
 * segment has the kmalloc caches, segment 0 the named ones), its geometry is the same in each.
 */
import type { CacheStats, HeapStats } from "../object/inspect.js";

type PageStats = HeapStats["pageLayer"];

/** The cache figures that are amounts (the rest describe the cache's geometry). */
const CACHE_AMOUNTS = [
  "slabs",
  "slabPages",
  "partialSlabs",
  "fullSlabs",
  "emptySlabs",
  "inUse",
  "cached",
  "capacity",
  "headerBytes",
  "tailBytes",
  "paddingBytes",
] as const satisfies readonly (keyof CacheStats)[];

export function combineHeapStats(parts: HeapStats[]): HeapStats {
  const sum = (read: (s: HeapStats) => number) => parts.reduce((n, s) => n + read(s), 0);
  return {
    total: sum((s) => s.total),
    free: sum((s) => s.free),
    contiguous: Math.max(...parts.map((s) => s.contiguous)),
    footprint: sum((s) => s.footprint),
    // Each segment's own high-water mark, added: an upper bound of the pool's (they need not
    // have peaked at once).
    peakFootprint: sum((s) => s.peakFootprint),
    rootBytes: sum((s) => s.rootBytes),
    trims: sum((s) => s.trims),
    objects: sum((s) => s.objects),
    large: { count: sum((s) => s.large.count), bytes: sum((s) => s.large.bytes) },
    vmalloc: {
      areas: sum((s) => s.vmalloc.areas),
      bytes: sum((s) => s.vmalloc.bytes),
      pages: sum((s) => s.vmalloc.pages),
    },
    reserve: { pages: sum((s) => s.reserve.pages), borrowed: sum((s) => s.reserve.borrowed) },
    caches: combineCaches(parts.flatMap((s) => s.caches)),
    pageLayer: combinePages(parts.map((s) => s.pageLayer)),
  };
}

function combineCaches(all: CacheStats[]): CacheStats[] {
  const byName = new Map<string, CacheStats>();
  for (const c of all) {
    const seen = byName.get(c.name);
    if (seen === undefined) byName.set(c.name, { ...c });
    else for (const k of CACHE_AMOUNTS) seen[k] += c[k];
  }
  return [...byName.values()];
}

function combinePages(parts: PageStats[]): PageStats {
  const sum = (read: (s: PageStats) => number) => parts.reduce((n, s) => n + read(s), 0);
  const free = sum((s) => s.free);
  const freeBlocksPerOrder: number[] = [];
  for (const s of parts) {
    s.freeBlocksPerOrder.forEach((n, o) => {
      freeBlocksPerOrder[o] = (freeBlocksPerOrder[o] ?? 0) + n;
    });
  }
  return {
    pageSize: parts[0].pageSize,
    total: sum((s) => s.total),
    free,
    used: sum((s) => s.used),
    contiguous: Math.max(...parts.map((s) => s.contiguous)),
    allocations: sum((s) => s.allocations),
    freeBlocksPerOrder,
    // The share of all free memory in blocks below the largest order: each segment's share,
    // weighted by its free bytes.
    fragmentation: free === 0 ? 0 : sum((s) => s.fragmentation * s.free) / free,
    maxOrder: parts[0].maxOrder,
    headerPages: sum((s) => s.headerPages),
    hotCapacity: sum((s) => s.hotCapacity),
  };
}
