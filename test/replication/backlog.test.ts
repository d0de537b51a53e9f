/**
 * Backpressure: when storage falls behind (here a real redis-server stopped with SIGSTOP), the log
 * queued for it stays bounded: once it passes `replicationBacklog`, replies of changing commands
 * wait until it drains, and nothing acknowledged is lost. When storage is gone for good (its
 * redis-server killed), the held replies get the error instead of waiting forever.
 */
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { startRedis } from "../helpers/redis.js";
import { startService } from "../service/helpers.js";

const redis = await startRedis();
afterAll(() => redis?.stop());

function page(i: number): Buffer {
  return Buffer.alloc(4096, (i * 37 + 11) & 0xff);
}

describe("the replication backlog", () => {
  it.skipIf(!redis)(
    "holds WRITE replies while storage is stopped, releases them when it drains",
    async () => {
      const limit = 64 * 1024;
      const svc = await startService({
        replicate: `redis://127.0.0.1:${redis!.port}/backlog`,
        replicationBacklog: limit,
        replicationBatch: 4,
      });
      const c = new Redis({ port: svc.port });
      try {
        const h = String(await c.call("ALLOC", 1 << 20));
        redis!.process.kill("SIGSTOP");
        let acked = 0;
        const writes = Array.from({ length: 64 }, (_, i) =>
          c.call("WRITE", h, i * 4096, page(i)).then((n) => {
            acked++;
            return n;
          }),
        );
        // 256 KiB of log for a 64 KiB backlog: the replies stop coming once it is full.
        await new Promise((r) => setTimeout(r, 500));
        const r = svc.stats().replication;
        expect(r.backlogLimit).toBe(limit);
        expect(r.backlogBytes).toBeGreaterThan(limit);
        expect(r.backlogWaits).toBeGreaterThan(0);
        expect(acked).toBeLessThan(64);
        redis!.process.kill("SIGCONT");
        expect(await Promise.all(writes)).toEqual(Array(64).fill(4096));
        for (let i = 0; i < 64; i += 9)
          expect(await c.callBuffer("READ", h, i * 4096, 4096)).toEqual(page(i));
        expect(await c.call("SYNC")).toBe("OK");
        expect(svc.stats().replication.backlogBytes).toBe(0);
      } finally {
        redis!.process.kill("SIGCONT");
        c.disconnect();
        await svc.close();
      }
    },
  );

  it("storage gone for good (its redis-server killed): WRITEs past the backlog get the error, none hangs", async () => {
    const own = await startRedis();
    if (own === undefined) return;
    const svc = await startService({
      replicate: `redis://127.0.0.1:${own.port}/gone`,
      replicationBacklog: 64 * 1024,
      replicationBatch: 4,
    });
    const c = new Redis({ port: svc.port });
    try {
      const h = String(await c.call("ALLOC", 1 << 20));
      const info = async () => String(await c.call("INFO", "everything"));
      expect(await info()).toMatch(/mneme_replication_active:1\r\nmneme_replication_error:\r\n/);
      expect(await info()).toContain("aof_last_write_status:ok");
      await own.stop();
      const settled = await Promise.all(
        Array.from({ length: 64 }, (_, i) =>
          c.call("WRITE", h, i * 4096, page(i)).then(
            (n) => n,
            (e: Error) => e.message,
          ),
        ),
      );
      const failed = settled.filter((x) => typeof x === "string");
      expect(failed.length, "replies past the backlog").toBeGreaterThan(0);
      for (const m of failed) expect(m).toMatch(/replication failed/i);
      await expect(c.call("SYNC")).rejects.toThrow(/replication failed/i);
      // Monitoring sees it too: INFO and /metrics no longer say the replication is active.
      const after = await info();
      expect(after).toMatch(/mneme_replication_active:0\r\nmneme_replication_error:\S.*\r\n/);
      expect(after).toContain("aof_last_write_status:err");
      expect(svc.stats().replication.failure).toMatch(/\S/);
    } finally {
      c.disconnect();
      await svc.close();
    }
  }, 30_000);

  it("refuses a backlog limit below 64 KiB", async () => {
    await expect(startService({ replicate: "file", replicationBacklog: 1000 })).rejects.toThrow(
      /replicationBacklog/,
    );
  });
});
