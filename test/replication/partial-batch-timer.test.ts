/**
 * "A timer bounds how long a partial batch waits" (issue 8): also for the pages of a block that a
 * worker job had pinned when the timer fired (a READ or WRITE on a worker thread). Such pages are
 * left for the next cut, and that next cut must come from the timer too, not only from a later
 * write or SYNC that may never come.
 */
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { startService, tempDir } from "../service/helpers.js";
import { until } from "./crash-helpers.js";

describe("the partial-batch timer", () => {
  it("cuts the pages of a block that was pinned by a worker job when it fired, once the job is done", async () => {
    const svc = await startService({ replicate: `file:${tempDir()}`, replicationDelay: 20 });
    const r = new Redis({ port: svc.port });
    try {
      const a = String(await r.call("ALLOC", 100));
      const b = String(await r.call("ALLOC", 100));
      const rep = svc.replication!;
      const capA = svc.caps.find(a)!;
      // A worker job holds block a (what WorkerPool jobs do while they copy).
      capA.inflight++;
      await r.call("WRITE", a, 0, "pinned");
      await r.call("WRITE", b, 0, "free");
      // The timer fired: b's page went out, a's waits for its job.
      expect(await until(() => rep.stats().batches >= 1)).toBe(true);
      expect(rep.stats().pendingPages).toBe(1);
      svc.unpin([capA]);
      // No more writes, no SYNC: the timer alone must cut a's page now.
      expect(await until(() => rep.stats().pendingPages === 0, 20_000), "a's page was never cut").toBe(true);
      expect(rep.stats().batchPages).toBe(2);
    } finally {
      r.disconnect();
      await svc.close();
    }
  });
});
