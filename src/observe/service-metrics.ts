/**
 * The service's and the replication layer's metric families (metrics.ts has the memory layers'
 * and the registry): requests and latencies per command, connections, reply buffers, identities
 * and quotas, events by kind, replication lag and batches.
 */

import { EVENT_KINDS } from "../service/events.js";
import type { Service, ServiceStats } from "../service/server.js";
import { identities } from "./identities.js";
import type { MetricType, Sample, Scrape } from "./metrics.js";
import { LATENCY_BUCKETS, SAMPLE_EVERY } from "./timings.js";

/** camelCase to snake_case, for metric names made from stats() keys. */
export function snake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
}

type Define = (name: string, help: string, type: MetricType, read: (s: Scrape) => Sample[]) => void;

export function serviceFamilies(svc: Service, family: Define): void {
  const one = (name: string, help: string, type: MetricType, read: (s: Scrape) => number) =>
    family(name, help, type, (s) => [{ value: read(s) }]);
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
  for (const [key, name, help] of counters) one(name, help, "counter", (s) => s.stats.counters[key]);
  one("mneme_service_clients", "Connected clients", "gauge", (s) => s.stats.clients);
  one("mneme_service_handles", "Live handles (capabilities)", "gauge", (s) => s.stats.handles);
  one(
    "mneme_service_uptime_seconds",
    "Seconds since the service started",
    "gauge",
    (s) => s.stats.uptimeMs / 1000,
  );
  one(
    "mneme_service_reply_buffers",
    "Reply buffers in the fixed pool",
    "gauge",
    (s) => s.stats.replyBuffers.replyBuffers,
  );
  one(
    "mneme_service_reply_buffers_in_use",
    "Reply buffers holding replies now",
    "gauge",
    (s) => s.stats.replyBuffers.replyBuffersInUse,
  );
  one(
    "mneme_service_reply_buffers_peak",
    "Most reply buffers in use at once",
    "gauge",
    (s) => s.stats.replyBuffers.replyBuffersPeak,
  );
  one(
    "mneme_service_reply_buffer_waits_total",
    "Times a connection stalled for reply buffers",
    "counter",
    (s) => s.stats.replyBuffers.replyBufferWaits,
  );
  family("mneme_command_calls_total", "Commands run, per command", "counter", () => calls(svc));
  family(
    "mneme_command_duration_seconds",
    `Service time per command on the I/O thread, from 1 in ${SAMPLE_EVERY} commands (src/observe/timings.ts)`,
    "histogram",
    () => latency(svc),
  );
  family("mneme_identity_bytes", "Bytes each identity holds", "gauge", () =>
    identities(svc).map((u) => ({ labels: { identity: u.identity }, value: u.bytes })),
  );
  family("mneme_identity_handles", "Handles each identity holds", "gauge", () =>
    identities(svc).map((u) => ({ labels: { identity: u.identity }, value: u.handles })),
  );
  one(
    "mneme_quota_bytes",
    "Bytes one identity may hold (0: no limit)",
    "gauge",
    () => svc.quotas.limits.bytes,
  );
  one("mneme_quota_handles", "Handles one identity may hold", "gauge", () => svc.quotas.limits.handles);
  family("mneme_events_total", "Events by kind (reclaim, throttle, oom, recovery, ...)", "counter", () =>
    EVENT_KINDS.map((kind) => ({ labels: { kind }, value: svc.events.count(kind) })),
  );

  // replication
  family("mneme_replication_info", "Replication backend (value 1; 0 when off)", "gauge", (s) => [
    {
      labels: { backend: s.stats.replication.backend, fsync: s.stats.replication.fsync },
      value: s.stats.replication.enabled ? 1 : 0,
    },
  ]);
  one(
    "mneme_replication_failed",
    "1 once storage failed for good (SYNC fails from then on), else 0",
    "gauge",
    (s) => (s.stats.replication.failure === null ? 0 : 1),
  );
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
    ["backlogBytes", "gauge", "Log bytes queued for storage"],
    ["backlogLimit", "gauge", "Backlog at which changing commands wait (replicationBacklog)"],
    ["backlogWaits", "counter", "Commands whose reply waited for the backlog to drain"],
  ];
  for (const [key, type, help] of rep) {
    one(`mneme_replication_${snake(key)}${type === "counter" ? "_total" : ""}`, help, type, (s) =>
      Number(s.stats.replication[key]),
    );
  }
  family("mneme_replication_last_recovery", "The last recovery on start (absent if none)", "gauge", (s) => {
    const r = s.stats.replication.lastRecovery;
    if (r === null) return [];
    return [
      { labels: { figure: "records" }, value: r.records },
      { labels: { figure: "bytes" }, value: r.bytes },
      { labels: { figure: "ms" }, value: r.ms },
      { labels: { figure: "allocations" }, value: r.allocations },
    ];
  });
}

/** The per-command histogram: cumulative buckets, +Inf, sum and count, as Prometheus wants. */
function latency(svc: Service): Sample[] {
  const out: Sample[] = [];
  const t = svc.timings;
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

function calls(svc: Service): Sample[] {
  return (svc.timings?.entries() ?? []).map(([command, f]) => ({
    labels: { command },
    value: f.calls,
  }));
}
