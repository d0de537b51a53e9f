/**
 * The replicator (LegoOS memory-manager replication): every VMA operation becomes one log record,
 * written pages are flushed to the log in batches, and checkpoints bound the log.
 *
 *   ALLOC/MAP ─► ALLOC/MAP record ─┐
 *   FREE      ─► FREE/UNMAP record ├─► seq n, n+1, … ─► backend.append (in order)
 *   WRITE     ─► dirty (handle, page) ──► ≥ batch pages, or the delay passed ─► BATCH record
 *   SYNC      ─► cut the partial batch ─► backend.durable() ─► reply
 *
 * Pages are replicated at (handle, page index) granularity and read from the pool when the batch
 * is cut, so a page written ten times before its batch costs one copy; an entry carries the
 * page's dirty extent (lowest to highest byte written since the last cut), not always all of it. A page whose block is
 * pinned by a worker job (Capability.inflight) is not read yet (the job may still be copying into
 * it): it stays dirty for the next cut. Freeing a block drops its dirty pages; its FREE record is
 * in the log. MAP regions are replicated the same way, their pages read through the vm layer
 * (asynchronously) when cut.
 *
 * fsync policies (`appendfsync`): `always` holds the reply of ALLOC/FREE/MAP/WRITE until its record
 * and its pages are durable; the commands of one tick share one cut and one fsync (group commit).
 * `batch` appends asynchronously (fsyncs at segment rotations and checkpoints), and SYNC waits for
 * everything before it. `everysec` appends asynchronously and fsyncs once a second.
 *
 * Checkpoints: when the log since the last checkpoint passes `checkpointSize`, the live blocks and
 * their contents are written as an image at the current seq (image.ts) and the backend drops the
 * log before it.
 */
import { InvalidArgumentError, MnemeError } from "../errors.js";
import type { Capability } from "../service/capabilities.js";
import type { Service } from "../service/server.js";
import type { FsyncPolicy, ReplicationBackend } from "./backend.js";
import { BatchBuffers } from "./batch-buffers.js";
import { type DirtyPage, DirtyPages, extentHi, extentLo } from "./dirty-pages.js";
import {
  BatchBuilder,
  batchEntrySize,
  encodeAlloc,
  encodeFree,
  encodeMap,
  PAGE_SIZE,
  RecordType,
} from "./format.js";
import { buildImage, type MapInfo } from "./image.js";
import type { ReplicationStats } from "./stats.js";

export interface ReplicatorOptions {
  fsync: FsyncPolicy;
  batch: number;
  /** Longest a partial batch waits, ms. */
  delayMs: number;
  /** Log bytes after which a checkpoint is taken. */
  checkpointSize: number;
  /** Log VMA operations (ALLOC/FREE/MAP/UNMAP); without them only checkpoints know the blocks. */
  vma: boolean;
  /**
   * Most log bytes queued for storage before changing commands wait (backpressure): replies of
   * ALLOC/FREE/MAP/WRITE are held until the backlog is down to 7/8 of it.
   */
  backlog: number;
  /**
   * Longest SYNC waits for worker jobs still copying into blocks it must log, ms (default 10 s).
   * Past it SYNC fails rather than acknowledge bytes that are not in the log.
   */
  pinWaitMs?: number;
}

type Recovery = NonNullable<ReplicationStats["lastRecovery"]>;

/** Length of page `page` of a block of `size` bytes. */
export function pageLength(size: number, page: number): number {
  return Math.min(PAGE_SIZE, size - page * PAGE_SIZE);
}

export class Replicator {
  /** Alignment of the blocks allocated with ALIGN (recovery allocates them the same way). */
  readonly aligns = new Map<Capability, number>();
  /** Store, name and hint of MAP regions, and every page ever written to them. */
  readonly maps = new Map<Capability, MapInfo>();
  lastRecovery: Recovery | null = null;
  private seq: number;
  private durableSeq: number;
  private readonly dirty = new DirtyPages();
  private timer: NodeJS.Timeout | null = null;
  private everysec: NodeJS.Timeout | null = null;
  private commitWaiting: Promise<void> | null = null;
  private mapCut: Promise<void> = Promise.resolve();
  private checkpointing: Promise<void> | null = null;
  private oldestUndurable = 0;
  private closed = false;
  private readonly buffers: BatchBuffers;
  private readonly counts = {
    records: 0,
    vma: 0,
    batches: 0,
    batchPages: 0,
    lastBatchPages: 0,
    checkpoints: 0,
    backlogWaits: 0,
  };
  private draining: Promise<void> | null = null;

  constructor(
    private readonly svc: Service,
    readonly backend: ReplicationBackend,
    lastSeq: number,
    readonly options: ReplicatorOptions,
  ) {
    if (!Number.isSafeInteger(options.batch) || options.batch < 1)
      throw new InvalidArgumentError("replicationBatch", options.batch, "must be a positive integer");
    this.seq = lastSeq;
    this.durableSeq = lastSeq;
    const buffers = new BatchBuffers(options.batch);
    this.buffers = buffers;
    backend.recycle = (b) => buffers.recycle(b);
    // Storage that lost records it had acknowledged gets a whole image at once (redis-backend.ts).
    backend.rebuild = async () => {
      await this.checkpointing?.catch(() => {});
      await this.checkpoint();
    };
    if (options.fsync === "everysec") {
      this.everysec = setInterval(() => this.makeDurable().catch(() => {}), 1000);
      this.everysec.unref();
    }
  }

  /**
   * What the reply of a changing command must wait for, or null: durability under `always`, and
   * under any policy a backlog past `backlog` bytes (storage slower than clients), so that the
   * log's memory stays bounded.
   */
  hold(): Promise<void> | null {
    if (this.options.fsync === "always") return this.commit();
    if (this.backend.queued() <= this.options.backlog) return null;
    this.counts.backlogWaits++;
    this.draining ??= this.drain().finally(() => {
      this.draining = null;
    });
    return this.draining;
  }

  /**
   * Waits until the backlog is below 7/8 of the limit: short pauses, not stop-and-go. Storage that
   * failed for good never drains: the waiting replies get its error (they waited forever).
   */
  private async drain(): Promise<void> {
    const target = (this.options.backlog * 7) / 8;
    while (!this.closed && this.backend.queued() > target) {
      const failure = this.backend.failure();
      if (failure !== null) throw failure;
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  logAlloc(cap: Capability, align: number): void {
    if (align > 0) this.aligns.set(cap, align);
    if (!this.options.vma) return;
    const seq = this.next();
    this.push(seq, encodeAlloc(seq, { handle: cap.handle, owner: cap.owner, size: cap.size, align }), true);
  }

  logMap(cap: Capability, info: MapInfo): void {
    this.maps.set(cap, info);
    if (!this.options.vma) return;
    const seq = this.next();
    const r = {
      handle: cap.handle,
      owner: cap.owner,
      length: cap.size,
      store: info.store,
      name: info.name,
      hint: info.hint,
    };
    this.push(seq, encodeMap(seq, r), true);
  }

  /** FREE of a block or a MAP region (UNMAP): its pending pages go with it. */
  logFree(cap: Capability): void {
    this.dirty.drop(cap);
    this.aligns.delete(cap);
    this.maps.delete(cap);
    if (!this.options.vma) return;
    const seq = this.next();
    this.push(
      seq,
      encodeFree(seq, cap.kind === "map" ? RecordType.UNMAP : RecordType.FREE, cap.handle),
      true,
    );
  }

  /** Bytes [offset, offset+length) of a block were written (the data is in place, or a job will put it there). */
  wrote(cap: Capability, offset: number, length: number): void {
    if (length === 0) return;
    const info = cap.kind === "map" ? this.maps.get(cap) : undefined;
    const end = offset + length;
    const last = Math.floor((end - 1) / PAGE_SIZE);
    for (let p = Math.floor(offset / PAGE_SIZE); p <= last; p++) {
      const base = p * PAGE_SIZE;
      this.dirty.mark(cap, p, Math.max(offset, base) - base, Math.min(end, base + PAGE_SIZE) - base);
      info?.written.add(p);
    }
    if (this.dirty.pending >= this.options.batch) this.cut(false);
    this.armTimer();
  }

  /**
   * Starts the partial-batch timer if pages wait and it is not running. Its cut leaves the pages
   * of blocks a worker job has pinned, so it re-arms itself for them: no later write or SYNC
   * need come for them to go out.
   */
  private armTimer(): void {
    if (this.dirty.pending === 0 || this.timer !== null || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.cut(true);
      this.armTimer();
    }, this.options.delayMs);
    this.timer.unref();
  }

  /** SYNC: cut the partial batch, wait until everything before is durable. */
  async sync(): Promise<void> {
    const targets = this.dirty.owners();
    const end = Date.now() + (this.options.pinWaitMs ?? 10_000);
    let pinned: Capability[];
    for (;;) {
      this.cut(true);
      pinned = targets.filter((c) => c.kind === "anon" && this.dirty.has(c));
      if (pinned.length === 0 || Date.now() >= end) break;
      // A worker job still copies into one of them: its pages are cut when it is done.
      await new Promise((r) => setTimeout(r, 1));
    }
    await this.mapCut;
    await this.makeDurable();
    // Everything else is durable now; these blocks' last writes are not, so no acknowledgement.
    if (pinned.length > 0)
      throw new MnemeError(
        "ESYNCPINNED",
        `SYNC: ${pinned.length} block(s) still being written by a worker after ${this.options.pinWaitMs ?? 10_000} ms; their last writes are not durable yet, retry`,
      );
  }

  /** `always`: the commands of this tick share one cut and one fsync. */
  commit(): Promise<void> {
    this.commitWaiting ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.commitWaiting = null;
      return this.sync();
    });
    return this.commitWaiting;
  }

  stats(): ReplicationStats {
    const b = this.backend.stats();
    return {
      enabled: true,
      failure: this.backend.failure()?.message ?? null,
      backend: this.backend.target,
      fsync: this.options.fsync,
      batchSize: this.options.batch,
      records: this.counts.records,
      vmaRecords: this.counts.vma,
      batches: this.counts.batches,
      batchPages: this.counts.batchPages,
      lastBatchPages: this.counts.lastBatchPages,
      pendingPages: this.dirty.pending,
      lagRecords: this.seq - this.durableSeq,
      lagMs: this.seq > this.durableSeq ? Date.now() - this.oldestUndurable : 0,
      bytes: b.bytes,
      fsyncs: b.fsyncs,
      checkpoints: this.counts.checkpoints,
      durableSeq: this.durableSeq,
      lastRecovery: this.lastRecovery,
      seq: this.seq,
      logSegments: b.segments,
      sinceCheckpoint: b.sinceCheckpoint,
      checkpointSize: this.options.checkpointSize,
      delayMs: this.options.delayMs,
      vma: this.options.vma,
      backlogBytes: this.backend.queued(),
      backlogLimit: this.options.backlog,
      backlogWaits: this.counts.backlogWaits,
    };
  }

  /** Writes an image of every live block at the current seq; the log before it can go. */
  checkpoint(): Promise<void> {
    if (this.checkpointing) return this.checkpointing;
    const seq = this.seq;
    const started = Date.now();
    this.backend.beginCheckpoint(seq);
    const run = async () => {
      const image = await buildImage(this.svc, this, seq);
      await this.backend.checkpoint(seq, image.records);
      this.counts.checkpoints++;
      this.svc.events.emitEvent("checkpoint", `checkpoint at record ${seq}: ${image.blocks} blocks`, {
        seq,
        blocks: image.blocks,
        bytes: image.bytes,
        ms: Date.now() - started,
      });
    };
    this.checkpointing = run().finally(() => {
      this.checkpointing = null;
    });
    return this.checkpointing;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.everysec) clearInterval(this.everysec);
    await this.sync().catch(() => {});
    await this.checkpointing?.catch(() => {});
    await this.backend.close();
  }

  private next(): number {
    return ++this.seq;
  }

  private push(seq: number, record: Buffer, vma: boolean): void {
    if (this.seq - 1 === this.durableSeq || this.oldestUndurable === 0) this.oldestUndurable = Date.now();
    this.backend.append(seq, record);
    this.counts.records++;
    if (vma) this.counts.vma++;
    if (this.checkpointing === null && this.backend.sinceCheckpoint() >= this.options.checkpointSize) {
      this.checkpoint().catch((e: Error) =>
        this.svc.events.emitEvent("replication", `checkpoint failed: ${e.message}`, { error: e.message }),
      );
    }
  }

  private async makeDurable(): Promise<void> {
    const seq = this.seq;
    await this.backend.durable();
    if (seq > this.durableSeq) this.durableSeq = seq;
    if (this.durableSeq === this.seq) this.oldestUndurable = 0;
  }

  /**
   * Appends batch records for dirty pages: full batches only (of anonymous blocks, and of MAP
   * regions, counted apart), or (`partial`) every page that can be read now. Anonymous blocks are
   * read synchronously from the pool; MAP pages through the vm.
   */
  private cut(partial: boolean): void {
    // Closing: the workers are gone, a pinned block will not be unpinned.
    const { anon, map } = this.dirty.take((cap) => cap.kind === "anon" && cap.inflight > 0 && !this.closed);
    const batch = this.options.batch;
    const full = partial ? anon.length : anon.length - (anon.length % batch);
    for (let i = 0; i < full; i += batch) this.emitAnon(anon.slice(i, Math.min(full, i + batch)));
    this.dirty.restore(anon, full);
    // MAP pages the same way, read through the vm afterwards (emitMap).
    const mapFull = partial ? map.length : map.length - (map.length % batch);
    this.dirty.restore(map, mapFull);
    if (mapFull > 0) {
      const cutNow = mapFull === map.length ? map : map.slice(0, mapFull);
      this.mapCut = this.mapCut.then(() => this.emitMap(cutNow));
    }
    if (this.dirty.pending === 0 && this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private emitAnon(pages: DirtyPage[]): void {
    let bytes = 0;
    for (const [cap, , x] of pages) bytes += batchEntrySize(cap.handle, extentHi(x) - extentLo(x) + 16);
    const b = new BatchBuilder(bytes, this.buffers.take(bytes));
    const pool = this.svc.pool;
    // A block's pages come in a row: one pool lookup per block, not per page.
    let block: Capability | null = null;
    let memory: ArrayBufferLike = new ArrayBuffer(0);
    let base = 0;
    for (const [cap, p, x] of pages) {
      if (cap !== block) {
        const view = pool.view(cap.address, cap.size);
        block = cap;
        memory = view.buffer;
        base = view.byteOffset;
      }
      // Widened to 8-byte bounds (the extra bytes are current contents too): word-sized copies.
      const lo = extentLo(x) & ~7;
      const hi = Math.min((extentHi(x) + 7) & ~7, pageLength(cap.size, p));
      b.addFrom(cap.handle, p, lo, memory, base + p * PAGE_SIZE + lo, hi - lo);
    }
    this.emitBatch(b, pages.length);
  }

  private async emitMap(pages: DirtyPage[]): Promise<void> {
    const read: [string, number, number, Uint8Array][] = [];
    for (const [cap, p, x] of pages) {
      if (!this.maps.has(cap)) continue;
      const lo = extentLo(x);
      try {
        const bytes = await this.svc.maps.read(cap.address, p * PAGE_SIZE + lo, extentHi(x) - lo);
        read.push([cap.handle, p, lo, bytes]);
      } catch {
        // Unmapped meanwhile: its UNMAP record is in the log, its pages are not needed.
      }
    }
    for (let i = 0; i < read.length; i += this.options.batch) {
      const part = read.slice(i, i + this.options.batch);
      const b = new BatchBuilder(part.reduce((a, [h, , , d]) => a + batchEntrySize(h, d.length), 0));
      for (const [h, p, lo, d] of part) b.add(h, p, lo, d);
      this.emitBatch(b, part.length);
    }
  }

  private emitBatch(b: BatchBuilder, pages: number): void {
    const seq = this.next();
    this.push(seq, b.finish(seq), false);
    this.counts.batches++;
    this.counts.batchPages += pages;
    this.counts.lastBatchPages = pages;
  }
}
