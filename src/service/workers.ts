/**
 * The polling/worker-thread split (LegoOS thpool): the I/O thread parses requests, checks
 * capabilities and quotas, and hands the memory work of READ and WRITE to worker threads that
 * attach the same shared pool; a READ's bytes go straight from the pool into reply buffers
 * (shared too) that the I/O thread then writes to the socket.
 *
 *   I/O thread                                   worker k (Mempool.attach(handle))
 *   READ h 0 4096 → "$4096\r\n" + reserve 4096 ─┐
 *   WRITE h 0 data → ":4096\r\n", op {w, data}  ├─ job (one per connection batch) ─► copies
 *   ... flush after the job comes back ◄────────┘◄──────────────── postMessage(id) ──┘
 *
 * A job is every READ/WRITE of one connection's batch, in order; a connection waits for its job
 * before its next batch, so its replies and its writes keep their order. A block in a job is
 * pinned (Capability.inflight) so a FREE from another connection of the same identity waits for
 * the job before the memory goes back to the pool. `workers: 0` (the default, see BENCHMARKS.md:
 * for 4 KiB operations the hand-off costs more than the copy) runs the same copies inline.
 */
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { Mempool, type MempoolHandle } from "../pool/mempool.js";
import { copyBytes } from "../util/shared-bytes.js";
import type { Capability } from "./capabilities.js";
import type { ReplyBuffers } from "./reply-buffers.js";

/** One operation for a worker: a READ into reply-buffer pieces, or a WRITE of bytes. */
type Op = { r: number; p: number[] } | { w: number; d: Uint8Array };

interface JobMessage {
  id: number;
  ops: Op[];
}

/** The READs and WRITEs of one connection's batch, and the blocks they pin. */
export class Job {
  readonly ops: Op[] = [];
  readonly caps: Capability[] = [];

  get empty(): boolean {
    return this.ops.length === 0;
  }

  read(cap: Capability, offset: number, pieces: number[]): void {
    this.pin(cap);
    this.ops.push({ r: cap.address + offset, p: pieces });
  }

  write(cap: Capability, offset: number, data: Uint8Array): void {
    this.pin(cap);
    this.ops.push({ w: cap.address + offset, d: data });
  }

  private pin(cap: Capability): void {
    cap.inflight++;
    this.caps.push(cap);
  }
}

interface Slot {
  worker: Worker;
  outstanding: number;
}

interface Pending {
  slot: Slot;
  ops: Op[];
  done: () => void;
}

export class WorkerPool {
  /** The live workers; one that exits leaves this list (see lost). */
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly started: Promise<void>[] = [];
  private closing = false;

  constructor(
    count: number,
    private readonly pool: Mempool,
    private readonly replies: ReplyBuffers,
  ) {
    for (let i = 0; i < count; i++) {
      const worker = new Worker(new URL(import.meta.url), {
        workerData: {
          kind: "mneme.service-worker",
          pool: pool.handle,
          replies: replies.buffer,
          slotSize: replies.slotSize,
        },
      });
      pool.watch(worker);
      const slot: Slot = { worker, outstanding: 0 };
      this.started.push(
        new Promise((resolve, reject) => {
          worker.once("message", () => resolve());
          worker.once("error", reject);
        }),
      );
      worker.on("message", (id: number) => {
        const p = this.pending.get(id);
        if (p === undefined) return;
        this.pending.delete(id);
        slot.outstanding--;
        p.done();
      });
      worker.on("error", (e) => {
        console.error("mneme: service worker failed", e);
      });
      worker.once("exit", () => this.lost(slot));
      this.slots.push(slot);
    }
  }

  /**
   * A worker exited while the server runs (an uncaught error, a resource limit): its jobs would
   * never come back and their connections would wait for good. They run here, on the I/O thread,
   * as with `workers: 0` (each op is a copy, so one the worker had done already is done again to
   * the same effect), and later jobs go to the other workers, or run here when none is left.
   */
  private lost(slot: Slot): void {
    if (this.closing) return;
    const at = this.slots.indexOf(slot);
    if (at >= 0) this.slots.splice(at, 1);
    console.error(
      `mneme: a service worker exited; ${this.slots.length} left, its jobs run on the I/O thread`,
    );
    for (const [id, p] of this.pending) {
      if (p.slot !== slot) continue;
      this.pending.delete(id);
      this.runHere(p.ops, p.done);
    }
  }

  private runHere(ops: Op[], done: () => void): void {
    try {
      runOps(this.pool, new Uint8Array(this.replies.buffer), this.replies.slotSize, ops);
    } catch (e) {
      console.error("mneme: a job failed on the I/O thread", e);
    }
    done();
  }

  ready(): Promise<void> {
    return Promise.all(this.started).then(() => undefined);
  }

  job(): Job {
    return new Job();
  }

  /** Hands a job to the least busy worker; `done` runs on the I/O thread when it is finished. */
  submit(job: Job, done: () => void): void {
    if (this.slots.length === 0) {
      // Every worker is gone (lost): the job runs here, done as later as a worker's would be.
      queueMicrotask(() => this.runHere(job.ops, done));
      return;
    }
    let best = this.slots[0];
    for (const s of this.slots) if (s.outstanding < best.outstanding) best = s;
    const id = this.nextId++;
    this.pending.set(id, { slot: best, ops: job.ops, done });
    best.outstanding++;
    const msg: JobMessage = { id, ops: job.ops };
    best.worker.postMessage(msg);
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

/** The copies of a job's ops, between the pool and the reply buffers. */
function runOps(pool: Mempool, replies: Uint8Array, slotSize: number, ops: Op[]): void {
  for (const op of ops) {
    if ("w" in op) {
      copyBytes(pool.view(op.w, op.d.length), 0, op.d);
    } else {
      let at = op.r;
      const p = op.p;
      for (let i = 0; i < p.length; i += 3) {
        const n = p[i + 2];
        copyBytes(replies, p[i] * slotSize + p[i + 1], pool.view(at, n));
        at += n;
      }
    }
  }
}

/** Worker thread body: attach the pool, then run jobs. */
function serveJobs(): void {
  const data = workerData as { pool: MempoolHandle; replies: SharedArrayBuffer; slotSize: number };
  const pool = Mempool.attach(data.pool);
  const replies = new Uint8Array(data.replies);
  const slotSize = data.slotSize;
  const port = parentPort!;
  port.on("message", (msg: JobMessage) => {
    runOps(pool, replies, slotSize, msg.ops);
    port.postMessage(msg.id);
  });
  port.postMessage(0);
}

if (!isMainThread && (workerData as { kind?: string } | null)?.kind === "mneme.service-worker") serveJobs();
