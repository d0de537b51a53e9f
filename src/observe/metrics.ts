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
import { identities } from "./identities.js";
import { LATENCY_BUCKETS, SAMPLE_EVERY } from "./timings.js";

type Labels = Record<string, string | number>;
type Sample = { labels?: Labels; value: number; metricName?: string };
type MetricType = "gauge" | "counter" | "histogram";

/** What one scrape reads: taken once, shared by every family. */
interface Scrape {
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
]);

function snake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
}

export class Metrics {
  readonly registry = new Registry();
  private current: Scrape | null = null;
  private readonly pagecacheSeen = new Set<string>();

  constructor(private readonly svc: Service) {
    collectDefaultMetrics({ register: this.registry, prefix: "mneme_process_" });
    this.register();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text of one scrape. */
  async text(): Promise<string> {
    const stats = this.svc.stats();
    const heaps = Array.isArray(stats.heap) ? stats.heap : [stats.heap];
    this.current = { stats, heaps, usedPerOrder: this.usedPerOrder() };
    for (const k of Object.keys(stats.maps)) {
      if (!this.pagecacheSeen.has(k) && typeof stats.maps[k] === "number") this.pagecacheFamily(k);
    }
    try {
      return await this.registry.metrics();
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

    // service
    const counters: [keyof ServiceStats["counters"], string, string][] = [
      ["connections", "mneme_service_connections_total", "Connections accepted"],
      ["rejected", "mneme_service_rejected_connections_total", "Connections refused (max clients)"],
      ["commands", "mneme_service_commands_total", "Commands run"],
      ["protocolErrors", "mneme_service_protocol_errors_total", "Protocol errors (connection closed)"],
      ["allocs", "mneme_service_allocs_total", "ALLOC commands that succeeded"],
      ["frees", "mneme_service_frees_total", "FREE commands that succeeded"],
      ["reads", "mneme_service_reads_total", "READ commands"],
      ["writes", "mneme_service_writes_total", "WRITE commands"],
      ["bytesRead", "mneme_service_read_bytes_total", "Bytes returned by READ"],
      ["bytesWritten", "mneme_service_written_bytes_total", "Bytes stored by WRITE"],
      ["workerJobs", "mneme_service_worker_jobs_total", "Jobs handed to worker threads"],
    ];
    for (const [key, name, help] of counters) this.one(name, help, "counter", (s) => s.stats.counters[key]);
    this.one("mneme_service_clients", "Connected clients", "gauge", (s) => s.stats.clients);
    this.one("mneme_service_handles", "Live handles (capabilities)", "gauge", (s) => s.stats.handles);
    this.one(
      "mneme_service_uptime_seconds",
      "Seconds since the service started",
      "gauge",
      (s) => s.stats.uptimeMs / 1000,
    );
    this.one(
      "mneme_service_reply_buffers",
      "Reply buffers in the fixed pool",
      "gauge",
      (s) => s.stats.replyBuffers.replyBuffers,
    );
    this.one(
      "mneme_service_reply_buffers_in_use",
      "Reply buffers holding replies now",
      "gauge",
      (s) => s.stats.replyBuffers.replyBuffersInUse,
    );
    this.one(
      "mneme_service_reply_buffers_peak",
      "Most reply buffers in use at once",
      "gauge",
      (s) => s.stats.replyBuffers.replyBuffersPeak,
    );
    this.one(
      "mneme_service_reply_buffer_waits_total",
      "Times a connection stalled for reply buffers",
      "counter",
      (s) => s.stats.replyBuffers.replyBufferWaits,
    );
    this.family("mneme_command_calls_total", "Commands run, per command", "counter", () => this.calls());
    this.family(
      "mneme_command_duration_seconds",
      `Service time per command on the I/O thread, from 1 in ${SAMPLE_EVERY} commands (src/observe/timings.ts)`,
      "histogram",
      () => this.latency(),
    );
    this.family("mneme_identity_bytes", "Bytes each identity holds", "gauge", () =>
      identities(this.svc).map((u) => ({ labels: { identity: u.identity }, value: u.bytes })),
    );
    this.family("mneme_identity_handles", "Handles each identity holds", "gauge", () =>
      identities(this.svc).map((u) => ({ labels: { identity: u.identity }, value: u.handles })),
    );
    this.one("mneme_quota_bytes", "Bytes one identity may hold", "gauge", () => this.svc.quotas.limits.bytes);
    this.one(
      "mneme_quota_handles",
      "Handles one identity may hold",
      "gauge",
      () => this.svc.quotas.limits.handles,
    );
    this.family(
      "mneme_events_total",
      "Events by kind (reclaim, throttle, oom, recovery, ...)",
      "counter",
      () =>
        (["reclaim", "throttle", "oom", "recovery", "replication", "checkpoint", "client"] as const).map(
          (kind) => ({
            labels: { kind },
            value: this.svc.events.count(kind),
          }),
        ),
    );

    // replication
    this.family("mneme_replication_info", "Replication backend (value 1; 0 when off)", "gauge", (s) => [
      {
        labels: { backend: s.stats.replication.backend, fsync: s.stats.replication.fsync },
        value: s.stats.replication.enabled ? 1 : 0,
      },
    ]);
    const rep: [keyof ServiceStats["replication"], MetricType, string][] = [
      ["batchSize", "gauge", "Pages per batch record (the replicationBatch tunable)"],
      ["records", "counter", "Log records appended"],
      ["vmaRecords", "counter", "VMA operation records appended"],
      ["batches", "counter", "Batch records appended"],
      ["batchPages", "counter", "Pages carried by batch records"],
      ["lastBatchPages", "gauge", "Pages in the most recent batch"],
      ["pendingPages", "gauge", "Pages written but not yet in a batch"],
      ["lagRecords", "gauge", "Records appended but not yet durable"],
      ["lagMs", "gauge", "Age in ms of the oldest record not yet durable"],
      ["bytes", "counter", "Bytes appended to the log"],
      ["fsyncs", "counter", "fsync calls"],
      ["checkpoints", "counter", "Checkpoints written"],
      ["durableSeq", "gauge", "Sequence number of the last durable record"],
    ];
    for (const [key, type, help] of rep) {
      this.one(`mneme_replication_${snake(key)}${type === "counter" ? "_total" : ""}`, help, type, (s) =>
        Number(s.stats.replication[key]),
      );
    }
    this.family(
      "mneme_replication_last_recovery",
      "The last recovery on start (absent if none)",
      "gauge",
      (s) => {
        const r = s.stats.replication.lastRecovery;
        if (r === null) return [];
        return [
          { labels: { figure: "records" }, value: r.records },
          { labels: { figure: "bytes" }, value: r.bytes },
          { labels: { figure: "ms" }, value: r.ms },
          { labels: { figure: "allocations" }, value: r.allocations },
        ];
      },
    );
  }

  /** The per-command histogram: cumulative buckets, +Inf, sum and count, as Prometheus wants. */
  private latency(): Sample[] {
    const out: Sample[] = [];
    const t = this.svc.timings;
    if (t === null) return out;
    for (const [command, f] of t.entries()) {
      let acc = 0;
      for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
        acc += f.buckets[i];
        out.push({
          metricName: "mneme_command_duration_seconds_bucket",
          labels: { command, le: LATENCY_BUCKETS[i] },
          value: acc,
        });
      }
      out.push({
        metricName: "mneme_command_duration_seconds_bucket",
        labels: { command, le: "+Inf" },
        value: f.count,
      });
      out.push({ metricName: "mneme_command_duration_seconds_sum", labels: { command }, value: f.sum });
      out.push({ metricName: "mneme_command_duration_seconds_count", labels: { command }, value: f.count });
    }
    return out;
  }

  private calls(): Sample[] {
    return (this.svc.timings?.entries() ?? []).map(([command, f]) => ({
      labels: { command },
      value: f.calls,
    }));
  }
}
