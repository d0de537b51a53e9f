/**
 * A service worker thread that exits while the server runs (an uncaught error, a resource limit)
 * must not strand the connections whose jobs it held: they ran nowhere and waited for good. The
 * worker pool runs such jobs, and later ones, on the I/O thread (workers.ts lost). Real worker
 * threads need the built files (the worker loads its own module): dist/, as the CLI tests use.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Mempool as MempoolType } from "../../src/pool/mempool.js";
import type { ReplyBuffers as ReplyBuffersType } from "../../src/service/reply-buffers.js";
import type { Job, WorkerPool as WorkerPoolType } from "../../src/service/workers.js";

const { Mempool } = (await import("../../dist/pool/mempool.js")) as unknown as {
  Mempool: typeof MempoolType;
};
const { ReplyBuffers } = (await import("../../dist/service/reply-buffers.js")) as unknown as {
  ReplyBuffers: typeof ReplyBuffersType;
};
const { WorkerPool } = (await import("../../dist/service/workers.js")) as unknown as {
  WorkerPool: typeof WorkerPoolType;
};

type Internals = { slots: { worker: import("node:worker_threads").Worker }[] };

/** Resolves when `done` runs; rejects with 'hung' if it does not within 20 s. */
function finished(submit: (done: () => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error("hung: the job never finished")), 20_000);
    submit(() => {
      clearTimeout(guard);
      resolve();
    });
  });
}

function writeJob(wp: WorkerPoolType, pool: MempoolType, address: number, bytes: number[]): Job {
  const job = wp.job();
  const cap = { address, inflight: 0 } as unknown as Parameters<Job["write"]>[0];
  job.write(cap, 0, Uint8Array.from(bytes));
  expect(pool.view(address, bytes.length).every((b) => b === 0)).toBe(true);
  return job;
}

let cleanup: (() => Promise<void>) | null = null;
afterEach(async () => {
  await cleanup?.();
  cleanup = null;
});

describe("a service worker that exits", () => {
  it("leaves no job behind: jobs it held and later jobs run on the I/O thread", async () => {
    const pool = Mempool.create(4 << 20);
    const replies = new ReplyBuffers(8, 4096);
    const wp = new WorkerPool(1, pool, replies);
    cleanup = async () => {
      await wp.close();
      pool.close();
    };
    await wp.ready();
    const a = pool.alloc(4096);
    const b = pool.alloc(4096);
    pool.view(a, 4096).fill(0);
    pool.view(b, 4096).fill(0);

    // A job handed over just as the worker goes: it may or may not have run it.
    const worker = (wp as unknown as Internals).slots[0].worker;
    const first = finished((done) => wp.submit(writeJob(wp, pool, a, [1, 2, 3]), done));
    await worker.terminate();
    await first;
    expect([...pool.view(a, 3)]).toEqual([1, 2, 3]);

    // No worker left: the next job runs here.
    await finished((done) => wp.submit(writeJob(wp, pool, b, [7, 8]), done));
    expect([...pool.view(b, 2)]).toEqual([7, 8]);
  });
});
