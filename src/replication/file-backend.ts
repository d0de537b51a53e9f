/**
 * The embedded backend: append-only segment files and checkpoint files in one directory.
 *
 *   DIR/log-0000000000000001.seg   records 1 … (named for the first record's seq)
 *   DIR/log-0000000000004711.seg   … rotated when a segment passes `segmentSize`
 *   DIR/checkpoint-0000000000004710.ckp   image of the state after record 4710
 *   DIR/checkpoint-….tmp           a checkpoint being written (ignored and removed on open)
 *
 * Segment and checkpoint files start with a 16-byte header:
 *
 * | offset | size | meaning                                   |
 * |-------:|-----:|-------------------------------------------|
 * |      0 |    8 | "MNEMESEG" (segment) or "MNEMECKP"         |
 * |      8 |    4 | format version (1)                        |
 * |     12 |    4 | reserved, 0                               |
 *
 * then records (format.ts). A checkpoint's records all carry its seq and end with END.
 *
 * Writing: one writer loop takes every queued record, writes them with one writev, and fsyncs
 * (fdatasync) when someone waits in durable(): waiters that arrive during an fsync share the next
 * one (group commit), and nothing blocks the event loop. A segment that fills up is fsynced and
 * closed in the background while the next one is written; durable() waits for both, and a failed
 * background fsync stops the writer as a failed write does. A checkpoint at seq N makes the next
 * record (N+1) start a new segment; once the checkpoint file is renamed into place and the
 * directory fsynced, every segment named ≤ N holds only records the checkpoint covers and is
 * deleted. A crash at any point leaves either the old checkpoint with all its segments, or the
 * new checkpoint with some old segments (whose records ≤ N recovery skips).
 *
 * Reading (recovery, inspect): segments in order; a bad record (short, bad magic or CRC) with no
 * good record after it in the last segment is a torn tail, cut off at its offset; any other bad
 * record, or a jump in seq (a missing segment), is damage in the middle: LogCorruptionError,
 * unless the operator asked to skip it.
 */
import { readdirSync } from "node:fs";
import { type FileHandle, open, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { LogCorruptionError, MnemeError } from "../errors.js";
import { prepareDataDirectory } from "../service/data-dir.js";
import type {
  BackendStats,
  LoadedCheckpoint,
  ReplayOptions,
  ReplayReport,
  ReplicationBackend,
  SkippedCheckpoint,
} from "./backend.js";
import { lockDirectory } from "./dir-lock.js";
import type { LogEntry } from "./format.js";
import {
  CHECKPOINT_MAGIC,
  checkpointProblem,
  FILE_HEADER,
  FILE_VERSION,
  readLogFile,
  replaySegments,
  SEGMENT_MAGIC,
} from "./segment-reader.js";

export { checkpointProblem, FILE_HEADER };

const SEGMENT = /^log-(\d{16})\.seg$/;
const CHECKPOINT = /^checkpoint-(\d{16})\.ckp$/;
const CHECKPOINT_TMP = /^checkpoint-\d{16}\.ckp\.tmp$/;
/** iovecs per writev (Linux IOV_MAX is 1024). */
const IOV = 512;

export interface FileBackendOptions {
  /** Rotate to a new segment once the current one holds this many bytes. */
  segmentSize: number;
  /** Test hook: pause this long inside each checkpoint (after the image is written, and after the rename). */
  checkpointPauseMs?: number;
  /** Test hook: pause this long before fsyncing a segment closed by a rotation (a slow disk). */
  rotationPauseMs?: number;
}

export function fileHeader(magic: string): Buffer {
  const b = Buffer.alloc(FILE_HEADER);
  b.write(magic, 0, "latin1");
  b.writeUInt32LE(FILE_VERSION, 8);
  return b;
}

export function segmentName(firstSeq: number): string {
  return `log-${String(firstSeq).padStart(16, "0")}.seg`;
}

export function checkpointName(seq: number): string {
  return `checkpoint-${String(seq).padStart(16, "0")}.ckp`;
}

interface Waiter {
  target: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class FileBackend implements ReplicationBackend {
  readonly target: string;
  private fh: FileHandle | null = null;
  private segBytes = 0;
  private queue: Buffer[] = [];
  private seqs: number[] = [];
  private appended = 0;
  private written = 0;
  private synced = 0;
  private fsyncs = 0;
  private logSinceCheckpoint = 0;
  /** A record with a seq above this starts a new segment (set by a checkpoint). */
  private rotateAfter = Number.POSITIVE_INFINITY;
  private running = false;
  private waiters: Waiter[] = [];
  private failed: Error | null = null;
  private idle: Promise<void> = Promise.resolve();
  /** The segments closed by rotations becoming durable in the background (see rotate), or null. */
  private closing: Promise<void> | null = null;
  private closeError: Error | null = null;
  private idleResolve: (() => void) | null = null;
  /** Releases the directory's lock (dir-lock.ts), taken by open(). */
  private unlock: (() => void) | null = null;

  constructor(
    readonly dir: string,
    private readonly options: FileBackendOptions,
  ) {
    this.target = `file:${dir}`;
  }

  async open(): Promise<void> {
    // Not mkdirSync's recursive mode: it never returns below /proc (see data-dir.ts).
    prepareDataDirectory(this.dir, "replication directory");
    this.unlock = lockDirectory(this.dir);
    // Only the checkpoints this backend was writing: the directory may be one of the operator's
    // (file:/tmp, or the data directory), whose own *.tmp files are none of ours.
    for (const f of readdirSync(this.dir)) if (CHECKPOINT_TMP.test(f)) await unlink(join(this.dir, f));
  }

  segments(): { name: string; first: number }[] {
    return readdirSync(this.dir)
      .map((name) => ({ name, m: SEGMENT.exec(name) }))
      .filter((x) => x.m !== null)
      .map((x) => ({ name: x.name, first: Number(x.m![1]) }))
      .sort((a, b) => a.first - b.first);
  }

  checkpoints(): { name: string; seq: number }[] {
    return readdirSync(this.dir)
      .map((name) => ({ name, m: CHECKPOINT.exec(name) }))
      .filter((x) => x.m !== null)
      .map((x) => ({ name: x.name, seq: Number(x.m![1]) }))
      .sort((a, b) => b.seq - a.seq);
  }

  async loadCheckpoint(skipped?: SkippedCheckpoint[]): Promise<LoadedCheckpoint | null> {
    for (const c of this.checkpoints()) {
      try {
        return await this.loadCheckpointNamed(c.name);
      } catch (e) {
        if (skipped === undefined || !(e instanceof LogCorruptionError)) throw e;
        skipped.push({ where: e.file, offset: e.offset, why: e.why, seq: c.seq });
      }
    }
    return null;
  }

  /** One checkpoint file, checked whole; LogCorruptionError when it is not a complete image. */
  async loadCheckpointNamed(name: string): Promise<LoadedCheckpoint> {
    const m = CHECKPOINT.exec(name);
    const where = join(this.dir, name);
    if (m === null) throw new LogCorruptionError(where, 0, "not a checkpoint file name");
    const seq = Number(m[1]);
    const bytes = await readLogFile(where);
    const why = checkpointProblem(bytes, seq);
    if (why !== null) throw new LogCorruptionError(where, why.offset, why.why);
    return { seq, bytes: bytes.subarray(FILE_HEADER), where };
  }

  replay(
    afterSeq: number,
    visit: (e: LogEntry) => void | Promise<void>,
    options: ReplayOptions,
  ): Promise<ReplayReport> {
    return replaySegments(this.dir, this.segments(), afterSeq, visit, options);
  }

  async startAppending(lastSeq: number): Promise<void> {
    this.rotateAfter = lastSeq;
  }

  append(seq: number, record: Buffer): void {
    this.queue.push(record);
    this.seqs.push(seq);
    this.appended += record.length;
    this.logSinceCheckpoint += record.length;
    this.kick();
  }

  queued(): number {
    return this.appended - this.written;
  }

  failure(): Error | null {
    return this.failed;
  }

  durable(): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.synced >= this.appended) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ target: this.appended, resolve, reject });
      this.kick();
    });
  }

  /** Records after `seq` start a new segment, which the checkpoint at `seq` keeps. */
  beginCheckpoint(seq: number): void {
    this.rotateAfter = seq;
  }

  async checkpoint(seq: number, image: readonly Buffer[]): Promise<void> {
    this.logSinceCheckpoint = 0;
    const tmp = join(this.dir, `${checkpointName(seq)}.tmp`);
    const fh = await open(tmp, "w");
    try {
      await writeAll(fh, [fileHeader(CHECKPOINT_MAGIC), ...image]);
      await fh.datasync();
    } catch (e) {
      // On a full disk, a half-written image left until the next start holds space the log needs.
      await fh.close().catch(() => {});
      await unlinkQuiet(tmp);
      throw e;
    }
    await fh.close();
    await this.pause();
    await rename(tmp, join(this.dir, checkpointName(seq)));
    await syncDir(this.dir);
    this.fsyncs += 2;
    await this.pause();
    for (const s of this.segments()) if (s.first <= seq) await unlinkQuiet(join(this.dir, s.name));
    for (const c of this.checkpoints()) if (c.seq < seq) await unlinkQuiet(join(this.dir, c.name));
  }

  sinceCheckpoint(): number {
    return this.logSinceCheckpoint;
  }

  stats(): BackendStats {
    return {
      bytes: this.written,
      fsyncs: this.fsyncs,
      segments: this.segments().length,
      sinceCheckpoint: this.logSinceCheckpoint,
    };
  }

  async close(): Promise<void> {
    await this.durable().catch(() => {});
    await this.idle;
    await this.closing;
    if (this.fh) await this.fh.close();
    this.fh = null;
    this.unlock?.();
    this.unlock = null;
  }

  private pause(): Promise<void> {
    const ms = this.options.checkpointPauseMs ?? 0;
    return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
  }

  private kick(): void {
    if (this.running || this.failed) return;
    this.running = true;
    this.idle = new Promise((r) => {
      this.idleResolve = r;
    });
    void this.loop().then(
      () => this.stopped(null),
      (e: unknown) => this.stopped(e instanceof Error ? e : new Error(String(e))),
    );
  }

  private stopped(e: Error | null): void {
    this.running = false;
    if (e !== null) {
      // Typed, and naming the log: a bare "ENOSPC: no space left on device, write" in a client's
      // reply or INFO does not say which disk filled up, nor that it was the replication log's.
      const failed =
        e instanceof MnemeError
          ? e
          : new MnemeError("EREPLICATION", `replication log ${this.dir} failed: ${e.message}`);
      this.failed = failed;
      for (const w of this.waiters.splice(0)) w.reject(failed);
    }
    this.idleResolve?.();
  }

  private async loop(): Promise<void> {
    while (this.queue.length > 0 || this.waiters.some((w) => w.target > this.synced)) {
      if (this.closeError !== null) throw this.closeError;
      if (this.queue.length > 0) {
        const bufs = this.queue;
        const seqs = this.seqs;
        this.queue = [];
        this.seqs = [];
        let from = 0;
        let pending = 0;
        for (let i = 0; i < bufs.length; i++) {
          const full = this.segBytes + pending >= this.options.segmentSize;
          if (this.fh === null || seqs[i] > this.rotateAfter || full) {
            if (i > from) await this.write(bufs.slice(from, i));
            await this.rotate(seqs[i]);
            from = i;
            pending = 0;
          }
          pending += bufs[i].length;
        }
        if (from < bufs.length) await this.write(bufs.slice(from));
        continue;
      }
      const target = this.written;
      if (this.closing !== null) {
        const closing = this.closing;
        await closing;
        if (this.closing === closing) this.closing = null;
      }
      if (this.closeError !== null) throw this.closeError;
      await this.fh!.datasync();
      this.fsyncs++;
      this.synced = target;
      this.waiters = this.waiters.filter((w) => {
        if (w.target > target) return true;
        w.resolve();
        return false;
      });
    }
  }

  recycle?: (record: Buffer) => void;

  private async write(bufs: Buffer[]): Promise<void> {
    const n = await writeAll(this.fh!, bufs);
    this.segBytes += n;
    this.written += n;
    if (this.recycle) for (const b of bufs) this.recycle(b);
  }

  /**
   * Starts a segment named for `firstSeq`. The current one is made durable and closed in the
   * background: appends go on in the new segment meanwhile (waiting for the fsync of a full
   * segment stalled the writer for as long as the disk took to take it, and with it every client
   * once the backlog filled), and durable() waits for it before it fsyncs the new one.
   */
  private async rotate(firstSeq: number): Promise<void> {
    if (this.fh !== null) {
      const old = this.fh;
      const before = this.closing;
      this.closing = (async () => {
        await before;
        try {
          const pause = this.options.rotationPauseMs ?? 0;
          if (pause > 0) await new Promise((r) => setTimeout(r, pause));
          await old.datasync();
          this.fsyncs++;
        } catch (e) {
          this.closeError ??= e instanceof Error ? e : new Error(String(e));
        } finally {
          await old.close().catch(() => {});
        }
      })();
    }
    this.fh = await open(join(this.dir, segmentName(firstSeq)), "w");
    await this.fh.write(fileHeader(SEGMENT_MAGIC));
    await syncDir(this.dir);
    this.segBytes = FILE_HEADER;
    // A rotation for size before a checkpoint's seq must not forget the checkpoint's rotation.
    if (firstSeq > this.rotateAfter) this.rotateAfter = Number.POSITIVE_INFINITY;
  }
}

async function writeAll(fh: FileHandle, bufs: readonly Buffer[]): Promise<number> {
  let n = 0;
  for (let i = 0; i < bufs.length; i += IOV) {
    const part = bufs.slice(i, i + IOV);
    const want = part.reduce((a, b) => a + b.length, 0);
    const { bytesWritten } = await fh.writev(part);
    if (bytesWritten !== want) await fh.write(Buffer.concat(part).subarray(bytesWritten));
    n += want;
  }
  return n;
}

async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, "r");
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

async function unlinkQuiet(path: string): Promise<void> {
  await unlink(path).catch(() => {});
}
