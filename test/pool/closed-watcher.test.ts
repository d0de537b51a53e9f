/**
 * Recovery by a thread whose own handle is closed. The creator may detach (pool.close()) while the
 * workers it watches go on; when one of them exits later, watch() must still recover its slot, and
 * reapThread on the closed handle must do what it does on an open one. A closed handle has no slot
 * to take the segment locks with: its exit handler marked the worker's slot dead, could not recover
 * it and retried every 10 ms for ever, the slot dead for good (its cached memory kept, one worker
 * fewer able to attach); reapThread did the same and answered 0.
 */
import { describe, expect, it } from "vitest";
import { Mempool, type MempoolOptions } from "../../src/index.js";
import { fixture, start } from "./helpers.js";

interface Ready {
  threadId: number;
  block: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `pool` (an open handle) until no worker is reported dead; false after a generous guard. */
async function noneDead(pool: Mempool): Promise<boolean> {
  // Only a guard against a slot that is never recovered, not a timing threshold.
  for (const end = Date.now() + 30_000; Date.now() < end; await sleep(10))
    if (!pool.stats().workers.some((w) => w.state === "dead")) return true;
  return false;
}

/** A worker that cached memory for itself and keeps one block, started on `pool`'s handle. */
async function caching(pool: Mempool, watched: boolean) {
  const w = start<Ready>(fixture("caching-worker.ts"), { handle: pool.handle }, watched ? pool : undefined);
  return { ...(await w.next()), w };
}

for (const [label, bytes, options] of [
  ["single segment", 4 << 20, { maxWorkers: 2 }],
  ["two segments", 4 << 20, { maxWorkers: 2, segmentBytes: 2 << 20 }],
] as Array<[string, number, MempoolOptions]>) {
  describe(`a closed handle recovers dead workers (${label})`, () => {
    it("watch(): a worker that exits after the creator closed its handle is recovered", async () => {
      const pool = Mempool.create(bytes, options);
      const { threadId, block, w } = await caching(pool, true);
      pool.close();
      await w.worker.terminate();
      const other = Mempool.attach(pool.handle);
      expect(await noneDead(other), JSON.stringify(other.stats().workers)).toBe(true);
      const st = other.stats();
      expect(st.recoveries).toBe(pool.segments.length);
      // Its cached memory is back, its block still charged to it, its slot free for a new worker.
      expect(st.workers.find((x) => x.threadId === threadId)).toMatchObject({
        state: "gone",
        allocations: 1,
        bytes: 2 * pool.pageSize,
        cachedPages: 0,
      });
      const third = Mempool.attach(pool.handle);
      third.close();
      other.free(block);
      other.check();
      other.close();
    });

    it("reapThread() on a closed handle recovers the thread's slots", async () => {
      const pool = Mempool.create(bytes, options);
      const { threadId, block, w } = await caching(pool, false);
      pool.close();
      await w.worker.terminate();
      expect(pool.reapThread(threadId)).toBe(pool.segments.length);
      const other = Mempool.attach(pool.handle);
      const st = other.stats();
      expect(st.recoveries).toBe(pool.segments.length);
      expect(st.workers.find((x) => x.threadId === threadId)).toMatchObject({
        state: "gone",
        cachedPages: 0,
      });
      // The handle the call attached is gone again: both slots can be had.
      const third = Mempool.attach(pool.handle);
      third.close();
      other.free(block);
      other.check();
      other.close();
    });
  });
}
