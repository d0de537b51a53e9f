/**
 * INFO: Redis-style sections (`# Server`, `key:value` lines, CRLF), so that tools which parse
 * Redis's INFO work unchanged. `loading:0` is in Persistence (ioredis waits for it); the service's
 * own figures and every tunable are in `# Mneme`, the pool's in `# Pool`.
 */
import { requestLimit } from "./resp.js";
import type { Service } from "./server.js";

const ORDER = [
  "server",
  "clients",
  "memory",
  "persistence",
  "stats",
  "replication",
  "cpu",
  "mneme",
  "pool",
  "keyspace",
];

export function infoText(svc: Service, wanted: readonly string[]): string {
  const all = wanted.length === 0 || wanted.some((w) => w === "all" || w === "everything" || w === "default");
  const out: string[] = [];
  for (const name of ORDER) {
    if (!all && !wanted.includes(name)) continue;
    out.push(`# ${name[0].toUpperCase()}${name.slice(1)}`);
    for (const [k, v] of section(svc, name)) out.push(`${k}:${v}`);
    out.push("");
  }
  return out.join("\r\n");
}

function section(svc: Service, name: string): [string, string | number][] {
  const c = svc.config;
  const mem = process.memoryUsage();
  switch (name) {
    case "server":
      return [
        ["redis_version", "7.0.0"],
        ["mneme_version", "0.1.0"],
        ["redis_mode", "standalone"],
        ["os", `${process.platform} ${process.arch}`],
        ["arch_bits", 64],
        ["process_id", process.pid],
        ["tcp_port", svc.port],
        ["bind", c.host],
        ["uptime_in_seconds", Math.floor((Date.now() - svc.started) / 1000)],
        ["executable", process.argv[1] ?? ""],
      ];
    case "clients":
      return [
        ["connected_clients", svc.clientCount],
        // No command blocks; redis-cli --stat shows a missing field as -9223372036854775808.
        ["blocked_clients", 0],
        ["maxclients", c.maxClients],
        ["rejected_connections", svc.counters.rejected],
      ];
    case "memory": {
      const p = svc.pool.stats();
      return [
        ["used_memory", p.total - p.free],
        ["used_memory_rss", mem.rss],
        ["maxmemory", p.total],
        ["mem_pool_total", p.total],
        ["mem_pool_free", p.free],
        ["mem_pool_contiguous", p.contiguous],
      ];
    }
    case "persistence": {
      const r = svc.stats().replication;
      const last = r.lastRecovery;
      return [
        ["loading", 0],
        ["async_loading", 0],
        ["rdb_changes_since_last_save", 0],
        ["rdb_bgsave_in_progress", 0],
        ["aof_rewrite_in_progress", 0],
        ["aof_enabled", r.enabled ? 1 : 0],
        // What monitoring that knows Redis looks at: storage that failed for good says err.
        ["aof_last_write_status", r.failure === null ? "ok" : "err"],
        ["mneme_appendfsync", c.appendfsync],
        ["mneme_checkpoint_size", c.checkpointSize],
        ["mneme_segment_size", c.segmentSize],
        ["mneme_recover_skip_corrupt", c.recoverSkipCorrupt ? 1 : 0],
        ["mneme_log_bytes", r.bytes],
        ["mneme_log_segments", r.logSegments],
        ["mneme_log_since_checkpoint", r.sinceCheckpoint],
        ["mneme_fsyncs", r.fsyncs],
        ["mneme_checkpoints", r.checkpoints],
        ["mneme_last_recovery", last === null ? "none" : "ok"],
        ["mneme_last_recovery_records", last?.records ?? 0],
        ["mneme_last_recovery_bytes", last?.bytes ?? 0],
        ["mneme_last_recovery_ms", last?.ms ?? 0],
        ["mneme_last_recovery_allocations", last?.allocations ?? 0],
        ["mneme_last_recovery_checkpoint_seq", last?.checkpointSeq ?? 0],
        ["mneme_last_recovery_truncated_at", last?.truncatedAt ?? -1],
        ["mneme_last_recovery_truncated_in", last?.truncatedIn ?? ""],
        ["mneme_last_recovery_skipped", last?.skipped ?? 0],
      ];
    }
    case "stats":
      return [
        ["total_connections_received", svc.counters.connections],
        ["total_commands_processed", svc.counters.commands],
        ["rejected_connections", svc.counters.rejected],
        ["protocol_errors", svc.counters.protocolErrors],
        ["internal_errors", svc.events.count("error")],
      ];
    case "replication":
      return [["role", "master"], ["connected_slaves", 0], ...replicationLines(svc)];
    case "cpu": {
      const u = process.cpuUsage();
      return [
        ["used_cpu_sys", (u.system / 1e6).toFixed(6)],
        ["used_cpu_user", (u.user / 1e6).toFixed(6)],
      ];
    }
    case "mneme": {
      const r = svc.replyBuffers.stats();
      return [
        ["pollers", c.pollers],
        ["workers", c.workers],
        ["reply_buffers", r.replyBuffers],
        ["reply_buffer_bytes", r.replyBufferBytes],
        ["reply_buffers_in_use", r.replyBuffersInUse],
        ["reply_buffers_peak", r.replyBuffersPeak],
        ["reply_buffer_waits", r.replyBufferWaits],
        ["http_port", svc.observer ? svc.httpPort : c.httpPort],
        ["http_active", svc.observer ? 1 : 0],
        ["data_dir", c.data],
        ["max_bulk", c.maxBulk],
        ["max_request", requestLimit(c)],
        ["max_args", c.maxArgs],
        ["max_inline", c.maxInline],
        ["max_pipeline", c.maxPipeline],
        ["quota_bytes", c.quotaBytes],
        ["quota_handles", c.quotaHandles],
        ["free_on_close", c.freeOnClose ? 1 : 0],
        ["handles", svc.caps.size],
        ["identities", svc.quotas.identities()],
        ["allocs", svc.counters.allocs],
        ["frees", svc.counters.frees],
        ["reads", svc.counters.reads],
        ["writes", svc.counters.writes],
        ["bytes_read", svc.counters.bytesRead],
        ["bytes_written", svc.counters.bytesWritten],
        ["worker_jobs", svc.counters.workerJobs],
        ["map_available", 1],
        ["map_frames", c.mapFrames],
        ["map_dirty_low_ratio", c.mapDirtyLow],
        ["map_dirty_high_ratio", c.mapDirtyHigh],
        ["map_flush_interval_ms", c.mapFlushInterval],
        ...Object.entries(svc.maps.stats())
          .filter(([k]) => k !== "frames")
          .map(([k, v]) => [`map_${k}`, v] as [string, number]),
      ];
    }
    case "pool": {
      const p = svc.pool.stats();
      return [
        ["pool_total", p.total],
        ["pool_free", p.free],
        ["pool_contiguous", p.contiguous],
        ["pool_segments", p.segments],
        ["pool_recoveries", p.recoveries],
        ["pool_threads", p.workers.length],
      ];
    }
    default:
      return [];
  }
}

function replicationLines(svc: Service): [string, string | number][] {
  const c = svc.config;
  const r = svc.stats().replication;
  return [
    ["mneme_replicate", r.enabled ? r.backend : "none"],
    ["mneme_replication_active", r.enabled && r.failure === null ? 1 : 0],
    ["mneme_replication_error", r.failure ?? ""],
    ["mneme_replication_batch", c.replicationBatch],
    ["mneme_replication_delay_ms", c.replicationDelay],
    ["mneme_replication_backlog_limit", c.replicationBacklog],
    ["mneme_replicate_vma", c.replicateVma ? 1 : 0],
    ["mneme_replication_seq", r.seq],
    ["mneme_replication_durable_seq", r.durableSeq],
    ["mneme_replication_records", r.records],
    ["mneme_replication_vma_records", r.vmaRecords],
    ["mneme_replication_batches", r.batches],
    ["mneme_replication_batch_pages", r.batchPages],
    ["mneme_replication_last_batch_pages", r.lastBatchPages],
    ["mneme_replication_pending_pages", r.pendingPages],
    ["mneme_replication_lag_records", r.lagRecords],
    ["mneme_replication_lag_ms", r.lagMs],
    ["mneme_replication_backlog_bytes", r.backlogBytes],
    ["mneme_replication_backlog_waits", r.backlogWaits],
  ];
}
