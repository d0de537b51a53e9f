/**
 * The pool stress test of issue 4, as a function the single- and multi-segment suites both run:
 * 4 real worker threads, each doing `ops` random alloc/free operations of mixed sizes across
 * pool.alloc/allocView/free and pool.heap.malloc/free with a verified pattern per block, some
 * blocks freed by another worker (test/pool/fixtures/stress-worker.ts). Afterwards the accounting
 * is exact: every worker detached, the heap's empty slabs given back, the pool's free bytes are
 * what they were right after creation and check() passes.
 */
import { expect } from "vitest";
import { Mempool, type MempoolOptions, reviveError } from "../../src/index.js";
import { Ring } from "./fixtures/ring.js";
import type { StressCounts, StressReply, StressRequest } from "./fixtures/stress-worker.js";
import { fixture, runToEnd } from "./helpers.js";

export interface StressCase {
  bytes: number;
  options?: MempoolOptions;
  workers?: number;
  ops: number;
  maxLive: number;
  maxPoolPages: number;
  maxHeapBytes: number;
  handOver?: number;
  seed: number;
  /** Called with the pool once it is made, before the workers start (to watch it while they run). */
  created?: (pool: Mempool) => void;
}

export interface StressOutcome {
  counts: StressCounts[];
  pool: Mempool;
}

export async function stress(c: StressCase): Promise<StressOutcome> {
  const workers = c.workers ?? 4;
  const pool = Mempool.create(c.bytes, c.options);
  const fresh = pool.stats();
  c.created?.(pool);
  const rings = Array.from({ length: workers }, () => new Ring(1024).buffer);
  const barrier = new SharedArrayBuffer(12);
  const replies = await Promise.all(
    Array.from({ length: workers }, (_, index) => {
      const req: Omit<StressRequest, "entry"> = {
        handle: pool.handle,
        index,
        workers,
        ops: c.ops,
        seed: c.seed + index * 7919,
        maxLive: c.maxLive,
        maxPoolPages: c.maxPoolPages,
        maxHeapBytes: c.maxHeapBytes,
        handOver: c.handOver ?? 8,
        rings,
        barrier,
      };
      return runToEnd<StressReply>(fixture("stress-worker.ts"), req, pool);
    }),
  );
  for (const r of replies) {
    if (!r.ok) {
      const e = reviveError(r.error);
      throw e instanceof Error ? e : new Error(r.text);
    }
  }
  const counts = replies.map((r) => (r as Extract<StressReply, { ok: true }>).counts);
  for (const k of counts) expect(k.ops).toBeGreaterThanOrEqual(c.ops);
  // Every worker detached: only the creator's slot is left, charged nothing.
  const st = pool.stats();
  expect(st.workers.map((w) => [w.allocations, w.bytes])).toEqual([[0, 0]]);
  // Empty slabs the heap keeps for reuse go back to the pages; then the pool is as it was created.
  pool.heap.shrink();
  expect(pool.stats().free).toBe(fresh.free);
  expect(pool.stats().total).toBe(fresh.total);
  pool.check();
  return { counts, pool };
}
