/**
 * Workers of a shared pool as OOM consumers: a worker's footprint is what the pool charges to it
 * (its pool.alloc blocks and the free pages it caches); killing it terminates the thread, like
 * the kernel's SIGKILL, and recovers its slot, so its caches (and, with `freeOwned`, its blocks)
 * return to the pool. The pool's free pages are the zone the watermarks watch (zones.ts poolZone).
 *
 *     const reclaimer = new Reclaimer();
 *     reclaimer.registerConsumer(workerConsumer(pool, worker, { name: "indexer", freeOwned: true }));
 *     await reclaimer.beforeAllocate(poolZone(pool), pages);   // kills the worst worker if it must
 */
import type { Worker } from "node:worker_threads";
import { InvalidArgumentError } from "../errors.js";
import type { Mempool } from "../pool/mempool.js";
import { type Consumer, ConsumerKilledError } from "./oom.js";

export interface WorkerConsumerOptions {
  name: string;
  /** -1000 (never killed) .. 1000. Default 0. */
  oomScoreAdj?: number;
  /**
   * Free the worker's pool.alloc blocks when it is killed. Only for workers whose blocks no other
   * thread uses; otherwise they stay allocated (charged to nobody) and only its caches return.
   */
  freeOwned?: boolean;
}

/** A worker consumer: a Consumer that also says whether it was killed. */
export interface WorkerConsumer extends Consumer {
  readonly killed: boolean;
  /** Throws ConsumerKilledError once the worker was killed (for code that would still use it). */
  assertAlive(): void;
}

export function workerConsumer(
  pool: Mempool,
  worker: Worker,
  options: WorkerConsumerOptions,
): WorkerConsumer {
  if (typeof (worker as Partial<Worker> | null)?.terminate !== "function")
    throw new InvalidArgumentError("worker", worker, "must be a Worker");
  if (typeof options?.name !== "string" || options.name === "")
    throw new InvalidArgumentError("name", options?.name, "must be a non-empty string");
  const threadId = worker.threadId;
  const ps = pool.pageSize;
  let killedBy: string | null = null;
  return {
    name: options.name,
    oomScoreAdj: options.oomScoreAdj ?? 0,
    get killed() {
      return killedBy !== null;
    },
    footprint: () => {
      if (killedBy !== null) return 0;
      const f = pool.stats().workers.find((w) => w.threadId === threadId && w.state === "alive");
      return f === undefined ? 0 : f.bytes + f.cachedPages * ps;
    },
    kill: async (reason) => {
      killedBy = reason;
      // The pool may watch the worker: its exit handler reaps before terminate() resolves.
      if (options.freeOwned) pool.freeOwnedWhenReaped(threadId);
      await worker.terminate();
      pool.reapThread(threadId, options.freeOwned ?? false);
    },
    assertAlive: () => {
      if (killedBy !== null) throw new ConsumerKilledError(options.name, killedBy);
    },
  };
}
