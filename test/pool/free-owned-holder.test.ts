/**
 * freeOwnedWhenReaped for a worker killed while it holds the segment lock (the OOM killer's kill
 * of a worker busy allocating, reclaim/pool-consumer.ts). The lock is then taken over from the
 * dead holder, and that takeover recovers the slot at once; it did so without the worker's blocks,
 * so the reap that came after found the slot recovered already and its blocks stayed allocated,
 * charged to the gone worker, although the caller had asked for them to go.
 */
import { describe, expect, it } from "vitest";
import { Mempool, type MempoolOptions, reviveError } from "../../src/index.js";
import type { ChurnReply } from "./fixtures/churn-worker.js";
import { fixture, start } from "./helpers.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const [label, options] of [
  ["single segment", {}],
  ["two segments", { segmentBytes: 2 << 20 }],
] as Array<[string, MempoolOptions]>) {
  describe(`a worker killed holding the lock, its blocks to be freed (${label})`, () => {
    for (const how of ["watch", "reapThread"] as const)
      it(`its blocks go back when it is reaped (${how})`, async () => {
        const pool = Mempool.create(4 << 20, options);
        pool.heap.shrink();
        const fresh = pool.stats().free;
        const ps = pool.pageSize;
        const w = start<ChurnReply>(
          fixture("churn-worker.ts"),
          { mode: "hold", handle: pool.handle, poolSizes: [ps, 3 * ps, 10 * ps], heapSizes: [] },
          how === "watch" ? pool : undefined,
        );
        const held = await w.next();
        if (held.kind === "failed") throw reviveError(held.error);
        if (held.kind !== "holding") throw new Error(`unexpected ${held.kind}`);
        for (const s of pool.segments) expect(s.mutex!.owner()).toBe(held.slots[s.index]);
        pool.freeOwnedWhenReaped(held.threadId);
        await w.worker.terminate();
        if (how === "reapThread") pool.reapThread(held.threadId);
        // (watch() reaps on the exit event; it may retry from the event loop.)
        while (pool.stats().recoveries < pool.segments.length) await sleep(5);
        const st = pool.stats();
        expect(
          st.workers.map((x) => x.threadId),
          JSON.stringify(st.workers),
        ).toEqual([0]);
        pool.heap.shrink();
        expect(pool.stats().free).toBe(fresh);
        for (const a of held.blocks) expect(() => pool.size(a)).toThrow();
        pool.check();
      });
  });
}
