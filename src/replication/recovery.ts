/**
 * Recovery on start: load the newest checkpoint, replay the log after it in seq order, and hand
 * the service back the same handles, owners, sizes, kinds and contents it had.
 *
 *   checkpoint N (ALLOC/MAP/BATCH … END) ─► Restorer ◄─ records N+1, N+2, … (backend.replay)
 *                                              │
 *                                              ▼
 *             pool blocks + caps.restore(handle) + quotas, MAP regions, page contents
 *
 * A block may land at another address than the one in its handle; handles are only ever looked
 * up through the table, so that is harmless, and it lets recovery pack the blocks again when
 * replay's layout leaves no room for one that fit before the crash (Restorer.compact). Pages of a handle that is not live (freed later in
 * the log, or never logged because `replicateVma` is off) are ignored. A torn tail is cut (the
 * backend reports where); damage in the middle stops recovery with LogCorruptionError unless
 * `recoverSkipCorrupt`, in which case a checkpoint is taken at once so the damage is left behind.
 */
import { LogCorruptionError, MnemeError, OutOfMemoryError } from "../errors.js";
import type { Service } from "../service/server.js";
import { copyBytes, fillBytes } from "../util/shared-bytes.js";
import type { Hint } from "../vm/hints.js";
import type { Damage, ReplicationBackend, SkippedCheckpoint } from "./backend.js";
import { FileBackend } from "./file-backend.js";
import { type AllocRecord, check, decode, PAGE_SIZE, type Record_, RecordType } from "./format.js";
import type { MapInfo } from "./image.js";
import { RedisBackend } from "./redis-backend.js";
import { Replicator } from "./replicator.js";
import { parseTarget } from "./target.js";

export type Progress = (done: number, total: number) => void;

/** Bytes of checkpoint applied between two progress reports. */
const PROGRESS_STEP = 1 << 20;

/** Applies records to a service that is not serving yet. */
export class Restorer {
  readonly aligns = new Map<string, number>();
  readonly maps = new Map<string, MapInfo>();
  records = 0;

  constructor(private readonly svc: Service) {}

  async apply(r: Record_): Promise<void> {
    const svc = this.svc;
    this.records++;
    switch (r.type) {
      case RecordType.ALLOC: {
        if (svc.caps.find(r.handle) !== undefined) return;
        const address = this.tryAlloc(r.size, r.align);
        // The blocks need not sit where they sat before the crash, and the order they were made
        // and freed in (and the allocations that failed then) left another layout than the one
        // replay builds: a pool that held them all may be too fragmented here. Then pack.
        if (address >= 0) this.place(r.handle, address, r.size, r.owner);
        else this.compact(r);
        if (r.align > 0) this.aligns.set(r.handle, r.align);
        return;
      }
      case RecordType.FREE:
      case RecordType.UNMAP: {
        const cap = svc.caps.find(r.handle);
        // Awaited: a MAP of the same file later in the log must find this region's pages in it.
        if (cap !== undefined) await svc.release(cap);
        this.aligns.delete(r.handle);
        this.maps.delete(r.handle);
        return;
      }
      case RecordType.MAP: {
        if (svc.caps.find(r.handle) !== undefined) return;
        const hint = (r.hint || undefined) as Hint | undefined;
        const v = svc.maps.map(r.length, r.store, r.name || null, hint, r.owner);
        svc.quotas.charge(r.owner, 0);
        svc.caps.restore(r.handle, v, r.length, 0, r.owner, "map");
        this.maps.set(r.handle, { store: r.store, name: r.name, hint: r.hint, written: new Set() });
        return;
      }
      case RecordType.BATCH:
        for (const { handle, page, at, bytes } of r.pages) {
          const cap = svc.caps.find(handle);
          const off = page * PAGE_SIZE + at;
          if (cap === undefined || off >= cap.size) continue;
          const data = bytes.subarray(0, Math.min(bytes.length, cap.size - off));
          if (cap.kind === "anon") copyBytes(svc.pool.view(cap.address + off, data.length), 0, data);
          else {
            await svc.maps.write(cap.address, off, Uint8Array.from(data));
            this.maps.get(handle)?.written.add(page);
          }
        }
        return;
      default:
        return;
    }
  }

  /** A block for an ALLOC record, or -1 when the pool has no room for it. */
  private tryAlloc(size: number, align: number): number {
    const heap = this.svc.pool.heap;
    try {
      return align > 0 ? heap.alignedAlloc(align, size) : heap.malloc(size);
    } catch (e) {
      if (e instanceof OutOfMemoryError) return -1;
      throw e;
    }
  }

  /** Registers `handle` at `address` (zeroed), charged to its owner. */
  private place(handle: string, address: number, size: number, owner: string): void {
    const svc = this.svc;
    const charged = svc.pool.heap.usableSize(address);
    fillBytes(svc.pool.view(address, charged), 0);
    svc.quotas.charge(owner, charged);
    svc.caps.restore(handle, address, size, charged, owner, "anon");
  }

  /**
   * Allocates every restored block again, and `pending` (an ALLOC that found no room) with them:
   * contents copied out, all freed, then allocated largest alignment and size first (the order
   * that leaves the fewest holes) and the contents copied back. Nobody holds an address yet
   * (handles are looked up through the table), so only the table changes. Runs only when an
   * allocation would fail otherwise.
   */
  private compact(pending: AllocRecord): void {
    const svc = this.svc;
    const heap = svc.pool.heap;
    const blocks = [...svc.caps.all()]
      .filter((c) => c.kind === "anon")
      .map((c) => ({
        handle: c.handle,
        size: c.size,
        owner: c.owner,
        align: this.aligns.get(c.handle) ?? 0,
        bytes: Uint8Array.from(svc.pool.view(c.address, c.size)) as Uint8Array | null,
        address: c.address,
        charged: c.charged,
      }));
    for (const b of blocks) {
      heap.free(b.address);
      svc.quotas.refund(b.owner, b.charged);
    }
    heap.shrink();
    const { handle, size, owner, align } = pending;
    blocks.push({ handle, size, owner, align, bytes: null, address: 0, charged: 0 });
    blocks.sort((a, b) => b.align - a.align || b.size - a.size);
    for (const b of blocks) {
      const address = this.tryAlloc(b.size, b.align);
      if (address < 0) {
        throw new MnemeError(
          "ENOMEM",
          `recovery needs a block of ${size} bytes for ${handle} and the pool cannot hold it with the ` +
            `${blocks.length - 1} blocks before it: start with a larger --memory`,
        );
      }
      this.place(b.handle, address, b.size, b.owner);
      if (b.bytes !== null) copyBytes(svc.pool.view(address, b.size), 0, b.bytes);
    }
  }

  /** Gives the replicator what it keeps per block (alignments, MAP details). */
  handOver(rep: Replicator): void {
    for (const [h, a] of this.aligns) {
      const cap = this.svc.caps.find(h);
      if (cap) rep.aligns.set(cap, a);
    }
    for (const [h, m] of this.maps) {
      const cap = this.svc.caps.find(h);
      if (cap) rep.maps.set(cap, m);
    }
  }
}

export function createBackend(svc: Service): ReplicationBackend {
  const c = svc.config;
  const t = parseTarget(c.replicate as string, c.data);
  if (t.kind === "redis") return new RedisBackend(t);
  const pause = Number(process.env.MNEME_DEBUG_CHECKPOINT_PAUSE_MS ?? 0);
  return new FileBackend(t.dir, {
    segmentSize: c.segmentSize,
    checkpointPauseMs: Number.isFinite(pause) && pause > 0 ? pause : 0,
  });
}

/** Opens the backend, recovers what it holds into `svc`, and returns the running replicator. */
export async function startReplication(svc: Service, progress?: Progress): Promise<Replicator> {
  const backend = createBackend(svc);
  await backend.open();
  const made: { rep: Replicator | null } = { rep: null };
  try {
    return await recover(svc, backend, made, progress);
  } catch (e) {
    // A start refused (damage, a pool too small) leaves nothing running: the Redis connection
    // (or the everysec timer) kept a program that embeds the service from ever exiting.
    await (made.rep?.close() ?? backend.close()).catch(() => {});
    throw e;
  }
}

async function recover(
  svc: Service,
  backend: ReplicationBackend,
  made: { rep: Replicator | null },
  progress?: Progress,
): Promise<Replicator> {
  const c = svc.config;
  const started = performance.now();
  const restorer = new Restorer(svc);
  const skipCorrupt = c.recoverSkipCorrupt;
  const damagedCheckpoints: SkippedCheckpoint[] = [];
  const ckp = await backend.loadCheckpoint(skipCorrupt ? damagedCheckpoints : undefined);
  let ckpRecords = 0;
  // The checkpoint is part of what is read (often most of it): the bar covers it, then the log.
  const ckpBytes = ckp?.bytes.length ?? 0;
  if (ckp !== null) {
    let shown = 0;
    for (let at = 0; at < ckp.bytes.length; ) {
      const k = check(ckp.bytes, at);
      if (!k.ok) throw new LogCorruptionError(ckp.where, at, k.why);
      await restorer.apply(decode(ckp.bytes, at, k.size, k.type));
      ckpRecords++;
      at += k.size;
      if (at - shown >= PROGRESS_STEP || at === ckp.bytes.length) {
        progress?.(at, ckp.bytes.length);
        shown = at;
      }
    }
  }
  const report = await backend.replay(ckp?.seq ?? 0, (e) => restorer.apply(e.record), {
    skipCorrupt,
    lostUpTo: Math.max(0, ...damagedCheckpoints.map((d) => d.seq)),
    progress: progress && ((done, total) => progress(ckpBytes + done, ckpBytes + total)),
  });
  const skipped: Damage[] = [...damagedCheckpoints, ...report.skipped];
  // New records are numbered after a damaged checkpoint passed over, so that the checkpoint taken
  // below replaces it (and a Redis stream, which remembers its last id, takes them).
  const lastSeq = Math.max(report.lastSeq, ...damagedCheckpoints.map((d) => d.seq));
  const rep = new Replicator(svc, backend, lastSeq, {
    fsync: c.appendfsync,
    batch: c.replicationBatch,
    delayMs: c.replicationDelay,
    checkpointSize: c.checkpointSize,
    vma: c.replicateVma,
    backlog: c.replicationBacklog,
  });
  made.rep = rep;
  restorer.handOver(rep);
  await backend.startAppending(lastSeq);
  if (ckp !== null || report.records > 0 || report.truncated !== null || skipped.length > 0) {
    const ms = performance.now() - started;
    rep.lastRecovery = {
      records: ckpRecords + report.records,
      bytes: (ckp?.bytes.length ?? 0) + report.bytes,
      ms: Math.round(ms * 10) / 10,
      allocations: svc.caps.size,
      truncatedAt: report.truncated?.offset ?? null,
      truncatedIn: report.truncated?.where ?? null,
      skipped: skipped.length,
      checkpointSeq: ckp?.seq ?? 0,
    };
    const r = rep.lastRecovery;
    svc.events.emitEvent(
      "recovery",
      `recovered ${r.allocations} blocks from ${r.records} records (${r.bytes} bytes) in ${r.ms} ms` +
        (report.truncated
          ? `; torn tail cut at ${report.truncated.where} offset ${report.truncated.offset}`
          : ""),
      {
        records: r.records,
        bytes: r.bytes,
        ms: r.ms,
        allocations: r.allocations,
        truncatedAt: r.truncatedAt ?? -1,
      },
    );
    for (const d of skipped)
      svc.events.emitEvent("recovery", `skipped damage in ${d.where} at ${d.offset}: ${d.why}`, { ...d });
  }
  // With freeOnClose a block lives as long as the connection that made it, and every connection
  // ended with the stop: blocks a clean close would have freed (a kill -9 left them in the log)
  // go now, each logged as a FREE, instead of coming back with no connection to ever free them.
  if (c.freeOnClose) {
    const orphans = [...svc.caps.all()].filter((cap) => cap.kind === "anon");
    for (const cap of orphans) await svc.release(cap);
    if (orphans.length > 0)
      svc.events.emitEvent(
        "recovery",
        `freed ${orphans.length} blocks of connections that ended (freeOnClose)`,
        {
          freed: orphans.length,
        },
      );
  }
  svc.events.emitEvent("replication", `replicating to ${backend.target} (appendfsync ${c.appendfsync})`, {
    backend: backend.target,
    fsync: c.appendfsync,
    batch: c.replicationBatch,
    seq: lastSeq,
  });
  // Skipped damage stays in the log until a checkpoint covers it: take one now.
  if (skipped.length > 0) await rep.checkpoint();
  return rep;
}
