/**
 * The one interface every replication backend implements (file segments, Redis streams; an
 * S3-compatible object store would be a third). The replicator decides *what* to log and when it
 * must be durable; a backend only stores records in order, says when they are durable, keeps
 * checkpoints, and reads it all back for recovery.
 *
 *   replicator ──append(seq, record)──► backend ──► storage (in seq order)
 *              ──durable()───────────► resolves when every record appended before is durable
 *              ──checkpoint(seq, img)─► image of state at seq; records ≤ seq may then be dropped
 *   recovery   ──loadCheckpoint()─────► newest complete image
 *              ──replay(after, visit)─► records after it, in order; torn tail cut, damage refused
 *
 * Records are opaque bytes in the format of format.ts (each with its own CRC), so backends never
 * parse payloads and a record read back is checked the same way wherever it was stored.
 */
import type { LogEntry } from "./format.js";

export type FsyncPolicy = "always" | "batch" | "everysec";
export const FSYNC_POLICIES: readonly FsyncPolicy[] = ["always", "batch", "everysec"];

export interface ReplayOptions {
  /** Skip damaged records in the middle of the log instead of refusing to recover. */
  skipCorrupt: boolean;
  /** Look only: never truncate a torn tail, never throw for damage (report it). */
  readOnly?: boolean;
  /**
   * Records up to this seq are known lost, with a damaged checkpoint passed over: the log going
   * on after them is that damage, already reported, not a second gap.
   */
  lostUpTo?: number;
  /** Called now and then with bytes read so far and in all. */
  progress?: (done: number, total: number) => void;
}

export interface Damage {
  where: string;
  offset: number;
  why: string;
}

export interface ReplayReport {
  /** Records visited (after the checkpoint). */
  records: number;
  /** Bytes of log read. */
  bytes: number;
  /** A torn tail (short or bad last record) found and cut off here, if any. */
  truncated: Damage | null;
  /** Damage in the middle that was skipped (skipCorrupt) or found (readOnly). */
  skipped: Damage[];
  /** The highest sequence number seen (the checkpoint's when the log after it is empty). */
  lastSeq: number;
}

/** A damaged checkpoint passed over (recoverSkipCorrupt), and the seq it was taken at (0 if unknown). */
export interface SkippedCheckpoint extends Damage {
  seq: number;
}

export interface LoadedCheckpoint {
  seq: number;
  /** The image: records in the format of format.ts ending with an END record. */
  bytes: Uint8Array;
  where: string;
}

export interface BackendStats {
  /** Bytes handed to storage since the start. */
  bytes: number;
  /** fsyncs (file) or acknowledged round trips that made records durable (redis). */
  fsyncs: number;
  /** Segments (file) or stream entries (redis) currently holding the log. */
  segments: number;
  /** Bytes of log written since the newest checkpoint. */
  sinceCheckpoint: number;
}

export interface ReplicationBackend {
  /** "file:<dir>" or "redis://host:port/name": what INFO shows. */
  readonly target: string;
  open(): Promise<void>;
  /**
   * The newest complete checkpoint. A damaged one throws LogCorruptionError, unless `skipped` is
   * given (recoverSkipCorrupt): then it is passed over for an older one and recorded there.
   */
  loadCheckpoint(skipped?: SkippedCheckpoint[]): Promise<LoadedCheckpoint | null>;
  replay(
    afterSeq: number,
    visit: (e: LogEntry) => void | Promise<void>,
    options: ReplayOptions,
  ): Promise<ReplayReport>;
  /** Starts writing new records after `lastSeq` (called once, after recovery). */
  startAppending(lastSeq: number): Promise<void>;
  /** Queues a record; records reach storage in the order of these calls. */
  append(seq: number, record: Buffer): void;
  /**
   * Set by the replicator: called with each record's buffer once storage no longer needs it, so
   * batch buffers can be reused (fewer large allocations, less GC). Backends that keep references
   * (a client library's queue) never call it.
   */
  recycle?: (record: Buffer) => void;
  /**
   * Set by the replicator: writes a checkpoint now. A backend whose storage lost records it had
   * acknowledged (a Redis restarted without its data) calls it, and holds durable() until done.
   */
  rebuild?: () => Promise<void>;
  /** Resolves when every record appended before this call is durable; rejects on a storage error. */
  durable(): Promise<void>;
  /** Bytes appended but not yet handed to storage (the backlog the replicator bounds). */
  queued(): number;
  /** The storage error that stopped this backend (nothing appended is stored from then on), or null. */
  failure(): Error | null;
  /**
   * An image of the state at `seq` is being built (MAP pages are read through the vm, so records
   * after `seq` may be appended meanwhile); they must survive the log the checkpoint drops.
   */
  beginCheckpoint(seq: number): void;
  /** Stores an image of the state at `seq` and drops the log it makes unnecessary. */
  checkpoint(seq: number, image: readonly Buffer[]): Promise<void>;
  stats(): BackendStats;
  /** Bytes of log written since the newest checkpoint (cheap: asked after every record). */
  sinceCheckpoint(): number;
  close(): Promise<void>;
}
