/**
 * `GET /metrics`: every layer's figures in the Prometheus text format, through a prom-client
 * Registry. The figures come from `Service.stats()` (one call per scrape, DESIGN.md principle 6),
 * the pool's block map (used blocks per order), the event log and the per-command timings; nothing
 * is counted twice and nothing is read from a layer's internals.
 *
 * Each family is a collector object of the shape prom-client's Registry consumes (name, help,
 * type, get()), computed from the scrape's snapshot, so series appear as layers report them (a
 * `maps` figure the page cache starts to report becomes `mneme_pagecache_<name>` at once) and the
 * request path never touches prom-client. Process figures (CPU, heap, event loop) are prom-client's
 * default metrics.
 *
 * The service's and replication's families are in service-metrics.ts.
 *
 * | family prefix            | from                                   |
 * |--------------------------|----------------------------------------|
 * | mneme_pool_*             | stats().pool                           |
 * | mneme_page_*             | stats().heap.pageLayer, pool.blockMap() |
 * | mneme_heap_*, mneme_slab_* | stats().heap (caches, large, vmalloc, reserve) |
 * | mneme_pagecache_*        | stats().maps (every numeric key)       |
 * | mneme_service_*, mneme_command_* | counters, reply buffers, timings |
 * | mneme_identity_*         | capabilities and quota limits          |
 * | mneme_events_total       | the event log, per kind                |
 * | mneme_replication_*      | stats().replication                    |
 */
import { collectDefaultMetrics, Registry } from "prom-client";
import type { HeapStats } from "../object/inspect.js";
import { usedBlocksPerOrder } from "../page/inspect.js";
import type { Service, ServiceStats } from "../service/server.js";
import { serviceFamilies, snake } from "./service-metrics.js";

export type Labels = Record<string, string | number>;
export type Sample = { labels?: Labels; value: number; metricName?: string };
export type MetricType = "gauge" | "counter" | "histogram";

/** What one scrape reads: taken once, shared by every family. */
export interface Scrape {
  stats: ServiceStats;
  heaps: HeapStats[];
  usedPerOrder: number[];
}

/** Page-cache figures that only ever grow (the rest of `maps` are levels). */
const PAGECACHE_COUNTERS = new Set([
  "faults",
  "hits",
  "evictions",
  "writebacks",
  "throttled",
  "flushed",
  "reclaims",
  "directReclaims",
  "reclaimedFrames",
  "oomKills",
  "closeErrors",
  "orphaned",
]);

/**
 * prom-client's process metrics, one registry for the process: each collectDefaultMetrics() call
 * starts a GC observer and an event-loop-delay monitor that nothing ever stops, so a registry per
 * Metrics (per ObserveServer, per Service) added both again for every service a process started.
 */
let processMetrics: Registry | null = null;

function processRegistry(): Registry {
  if (processMetrics === null) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics, prefix: "mneme_process_" });
  }
  return processMetrics;
}

export class Metrics {
  readonly registry = new Registry();
  private current: Scrape | null = null;
  private readonly pagecacheSeen = new Set<string>();
  private readonly process: Registry;

  constructor(private readonly svc: Service) {
    this.process = processRegistry();
    this.register();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text of one scrape. */
  async text(): Promise<string> {
    const stats = this.svc.stats();
    const heaps = "segments" in stats.heap ? stats.heap.segments : [stats.heap];
    this.current = { stats, heaps, usedPerOrder: this.usedPerOrder() };
    for (const k of Object.keys(stats.maps)) {
      if (!this.pagecacheSeen.has(k) && typeof stats.maps[k] === "number") this.pagecacheFamily(k);
    }
    try {
      const [own, proc] = await Promise.all([this.registry.metrics(), this.process.metrics()]);
      return `${own}\n${proc}`;
    } finally {
      this.current = null;
    }
  }

  /** Used blocks per order, summed over the segments. */
  private usedPerOrder(): number[] {
    const out: number[] = [];
    for (const seg of this.svc.pool.segments) {
      usedBlocksPerOrder(seg.pages).forEach((n, o) => {
        out[o] = (out[o] ?? 0) + n;
      });
    }
    return out;
  }

  private family(name: string, help: string, type: MetricType, read: (s: Scrape) => Sample[]): void {
    const metric = {
      name,
      help,
      type,
      aggregator: "sum" as const,
      get: async () => ({
        name,
        help,
        type,
        aggregator: "sum" as const,
        values: this.current === null ? [] : read(this.current),
      }),
    };
    // The Registry accepts any object with this shape (it only reads name and calls get()).
    this.registry.registerMetric(metric as unknown as Parameters<Registry["registerMetric"]>[0]);
  }

  private one(name: string, help: string, type: MetricType, read: (s: Scrape) => number): void {
    this.family(name, help, type, (s) => [{ value: read(s) }]);
  }

  private pagecacheFamily(key: string): void {
    this.pagecacheSeen.add(key);
    const counter = PAGECACHE_COUNTERS.has(key);
    this.family(
      `mneme_pagecache_${snake(key)}${counter ? "_total" : ""}`,
      `MAP page cache: ${key} (Service.stats().maps.${key}; pages unless the name says otherwise)`,
      counter ? "counter" : "gauge",
      (s) => (typeof s.stats.maps[key] === "number" ? [{ value: s.stats.maps[key] }] : []),
    );
  }

  private register(): void {
    // pool
    this.family("mneme_pool_bytes", "Shared pool bytes by state", "gauge", (s) => [
      { labels: { state: "total" }, value: s.stats.pool.total },
      { labels: { state: "free" }, value: s.stats.pool.free },
      { labels: { state: "used" }, value: s.stats.pool.total - s.stats.pool.free },
    ]);
    this.one(
      "mneme_pool_contiguous_bytes",
      "Largest free block of the pool",
      "gauge",
      (s) => s.stats.pool.contiguous,
    );
    this.one(
      "mneme_pool_segments",
      "Segments (SharedArrayBuffers) of the pool",
      "gauge",
      (s) => s.stats.pool.segments,
    );
    this.one(
      "mneme_pool_recoveries_total",
      "Dead worker threads recovered",
      "counter",
      (s) => s.stats.pool.recoveries,
    );

    // page layer
    this.family("mneme_page_free_blocks", "Free blocks on each buddy order's list", "gauge", (s) =>
      s.heaps.flatMap((h, seg) =>
        h.pageLayer.freeBlocksPerOrder.map((n, order) => ({ labels: { segment: seg, order }, value: n })),
      ),
    );
    this.family("mneme_page_free_pages", "Free pages held in blocks of each order", "gauge", (s) =>
      s.heaps.flatMap((h, seg) =>
        h.pageLayer.freeBlocksPerOrder.map((n, order) => ({
          labels: { segment: seg, order },
          value: n * 2 ** order,
        })),
      ),
    );
    this.family(
      "mneme_page_used_blocks",
      "Allocated blocks by order (pages rounded up to a power of two)",
      "gauge",
      (s) => s.usedPerOrder.map((n, order) => ({ labels: { order }, value: n })),
    );
    this.family(
      "mneme_page_fragmentation",
      "Unusable free space index at the largest order (0 none, 1 all free memory in small blocks)",
      "gauge",
      (s) => s.heaps.map((h, seg) => ({ labels: { segment: seg }, value: h.pageLayer.fragmentation })),
    );
    this.family("mneme_page_allocations", "Live page-layer allocations", "gauge", (s) =>
      s.heaps.map((h, seg) => ({ labels: { segment: seg }, value: h.pageLayer.allocations })),
    );

    // object layer
    const heapSum = (read: (h: HeapStats) => number) => (s: Scrape) =>
      s.heaps.reduce((n, h) => n + read(h), 0);
    this.one(
      "mneme_heap_footprint_bytes",
      "Bytes the heap holds from the page layer",
      "gauge",
      heapSum((h) => h.footprint),
    );
    this.one(
      "mneme_heap_peak_footprint_bytes",
      "High-water mark of the heap footprint",
      "gauge",
      heapSum((h) => h.peakFootprint),
    );
    this.one(
      "mneme_heap_objects",
      "Slab objects in use, all caches",
      "gauge",
      heapSum((h) => h.objects),
    );
    this.one(
      "mneme_heap_large_allocations",
      "Live large allocations",
      "gauge",
      heapSum((h) => h.large.count),
    );
    this.one(
      "mneme_heap_large_bytes",
      "Bytes of live large allocations",
      "gauge",
      heapSum((h) => h.large.bytes),
    );
    this.one(
      "mneme_heap_vmalloc_areas",
      "Live vmalloc areas",
      "gauge",
      heapSum((h) => h.vmalloc.areas),
    );
    this.one(
      "mneme_heap_vmalloc_bytes",
      "Bytes of live vmalloc areas",
      "gauge",
      heapSum((h) => h.vmalloc.bytes),
    );
    this.one(
      "mneme_heap_reserve_pages",
      "Pages the metadata reserve holds",
      "gauge",
      heapSum((h) => h.reserve.pages),
    );
    const perCache = (read: (c: HeapStats["caches"][number]) => number) => (s: Scrape) =>
      s.heaps.flatMap((h, seg) =>
        h.caches.map((c) => ({
          labels: { segment: seg, cache: c.name, kmalloc: c.kmalloc ? 1 : 0 },
          value: read(c),
        })),
      );
    this.family(
      "mneme_slab_objects_in_use",
      "Objects allocated from each slab cache",
      "gauge",
      perCache((c) => c.inUse),
    );
    this.family(
      "mneme_slab_objects_cached",
      "Free objects on each cache's array caches",
      "gauge",
      perCache((c) => c.cached),
    );
    this.family(
      "mneme_slab_capacity",
      "Objects each cache's slabs can hold",
      "gauge",
      perCache((c) => c.capacity),
    );
    this.family(
      "mneme_slab_object_size_bytes",
      "Object size of each cache",
      "gauge",
      perCache((c) => c.objectSize),
    );
    this.family(
      "mneme_slab_waste_bytes",
      "Slab bytes holding no object (headers, tails, padding)",
      "gauge",
      perCache((c) => c.headerBytes + c.tailBytes + c.paddingBytes),
    );
    this.family("mneme_slab_slabs", "Slabs of each cache by list", "gauge", (s) =>
      s.heaps.flatMap((h, seg) =>
        h.caches.flatMap((c) =>
          (
            [
              ["partial", c.partialSlabs],
              ["full", c.fullSlabs],
              ["empty", c.emptySlabs],
            ] as const
          ).map(([list, n]) => ({ labels: { segment: seg, cache: c.name, list }, value: n })),
        ),
      ),
    );

    serviceFamilies(this.svc, (n, h, t, r) => this.family(n, h, t, r));
  }
}
