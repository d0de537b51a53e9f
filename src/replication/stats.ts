/**
 * What the replication layer reports (DESIGN.md principle 6): INFO's Replication/Persistence
 * sections, the Prometheus metrics and the dashboard read these figures and nothing else.
 */
export interface ReplicationStats {
  /** Whether a backend is configured. */
  enabled: boolean;
  /** Why storage failed for good (every later SYNC and held reply gets it), or null while it works. */
  failure: string | null;
  /** "off", "file:<dir>" or "redis://host:port". */
  backend: string;
  /** fsync policy: "always" | "batch" | "everysec". */
  fsync: string;
  /** Pages per batch record (`replicationBatch`). */
  batchSize: number;
  /** Records appended since the start (VMA operations and batches). */
  records: number;
  vmaRecords: number;
  batches: number;
  /** Pages carried by batch records since the start. */
  batchPages: number;
  /** Pages in the most recent batch record. */
  lastBatchPages: number;
  /** Pages written by clients but not yet in a batch record. */
  pendingPages: number;
  /** Records appended but not yet durable (lag behind the log). */
  lagRecords: number;
  /** Age in ms of the oldest record that is not yet durable (0 when none). */
  lagMs: number;
  /** Bytes appended to the log since the start. */
  bytes: number;
  fsyncs: number;
  checkpoints: number;
  /** Sequence number of the last durable record. */
  durableSeq: number;
  /** Sequence number of the last record appended. */
  seq: number;
  /** Segment files (file) or stream entries (redis) holding the log now. */
  logSegments: number;
  /** Log bytes written since the newest checkpoint. */
  sinceCheckpoint: number;
  /** Log bytes after which a checkpoint is taken (`checkpointSize`). */
  checkpointSize: number;
  /** Longest a partial batch waits, ms (`replicationDelay`). */
  delayMs: number;
  /** Whether VMA operations are logged (`replicateVma`). */
  vma: boolean;
  /** Log bytes appended but not yet handed to storage. */
  backlogBytes: number;
  /** Most backlog before changing commands wait for it to drain (`replicationBacklog`). */
  backlogLimit: number;
  /** Commands whose reply waited for the backlog to drain. */
  backlogWaits: number;
  /** The last recovery on start, or null when the server started empty. */
  lastRecovery: null | {
    records: number;
    bytes: number;
    ms: number;
    allocations: number;
    truncatedAt: number | null;
    /** Where the torn tail was cut ("file offset"), and damage skipped on the operator's say. */
    truncatedIn: string | null;
    skipped: number;
    checkpointSeq: number;
  };
}

/** What a disabled replicator reports. */
export function replicationOff(batchSize: number): ReplicationStats {
  return {
    enabled: false,
    failure: null,
    backend: "off",
    fsync: "batch",
    batchSize,
    records: 0,
    vmaRecords: 0,
    batches: 0,
    batchPages: 0,
    lastBatchPages: 0,
    pendingPages: 0,
    lagRecords: 0,
    lagMs: 0,
    bytes: 0,
    fsyncs: 0,
    checkpoints: 0,
    durableSeq: 0,
    seq: 0,
    logSegments: 0,
    sinceCheckpoint: 0,
    checkpointSize: 0,
    delayMs: 0,
    vma: false,
    backlogBytes: 0,
    backlogLimit: 0,
    backlogWaits: 0,
    lastRecovery: null,
  };
}
