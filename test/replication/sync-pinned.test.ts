/**
 * SYNC waits for worker jobs still copying into the blocks it must log (their pages are cut when
 * the job is done). It used to give up after about 10 s and acknowledge anyway, although those
 * blocks' last writes were not in the log; past the wait it now fails, and succeeds once the job
 * is done.
 */
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import type { Service } from "../../src/service/server.js";
import { startService, tempDir } from "../service/helpers.js";

let svc: Service | undefined;
afterAll(() => svc?.close());

describe("SYNC and a block a worker job holds", () => {
  it("fails past the wait instead of acknowledging bytes that are not in the log; succeeds once the job is done", async () => {
    svc = await startService({ replicate: `file:${tempDir()}` });
    const rep = svc.replication!;
    (rep.options as { pinWaitMs?: number }).pinWaitMs = 100;
    const c = new Redis({ port: svc.port });
    try {
      const h = String(await c.call("ALLOC", 8192));
      await c.call("WRITE", h, 0, "before the job");
      const cap = svc.caps.find(h)!;
      // What a READ or WRITE running on a worker thread holds while it copies.
      cap.inflight++;
      await expect(c.call("SYNC")).rejects.toThrow(/still being written by a worker after 100 ms/);
      cap.inflight--;
      expect(await c.call("SYNC")).toBe("OK");
      expect(rep.stats().batches).toBeGreaterThan(0);
    } finally {
      c.disconnect();
    }
  });
});
