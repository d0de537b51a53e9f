/**
 * The Redis backend through an outage of its Redis, with a TCP proxy in front of a real
 * redis-server so that the test sees every connection attempt and can cut or silence the link:
 *
 * | outage                                               | expected                                  |
 * |------------------------------------------------------|-------------------------------------------|
 * | Redis restarted (appendonly) while SYNC waits        | SYNC replies OK once it is back; the log  |
 * |                                                      | goes on with no hole; a restart recovers  |
 * | a cut connection lost the reply of an applied XADD   | the XADD sent again is refused as a       |
 * |                                                      | duplicate id, found in the stream, acked  |
 * | Redis restarted without its data (no persistence)    | found out on reconnection: a checkpoint   |
 * |                                                      | at once, SYNC waits for it; a restart     |
 * |                                                      | recovers every block                      |
 *
 * Before the fix the backend gave up each queued command after 3 reconnection attempts and then
 * failed for good: every later SYNC answered "replication failed" though Redis was back, and the
 * duplicate XADD failed it the same way.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { proxy } from "../helpers/net.js";
import { freePort, type RedisServer, redisInstalled, startRedis, startRedisOn } from "../helpers/redis.js";
import { startService } from "../service/helpers.js";

/** Present or skipped loudly (and a failure under CI=true) as in every Redis test. */
const probe = await startRedis();
afterAll(() => probe?.stop());

async function until(what: string, ok: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const fill = (i: number) => Buffer.alloc(3000, (i * 29 + 7) & 0xff);

describe.skipIf(!redisInstalled())("the Redis backend through an outage of its Redis", () => {
  it("Redis restarted mid-run: the SYNC that waited through it replies OK, the log goes on and recovers whole", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mneme-redis-aof-"));
    const port = await freePort();
    const persist = ["--dir", dir, "--appendonly", "yes", "--appendfsync", "always"];
    let redis: RedisServer = await startRedisOn(port, persist);
    const p = await proxy(port);
    const target = `redis://127.0.0.1:${p.port}/outage`;
    const svc = await startService({ replicate: target, replicationBatch: 2 });
    const c = new Redis({ port: svc.port });
    const handles: string[] = [];
    const write = async (i: number) => {
      const h = String(await c.call("ALLOC", 3000));
      await c.call("WRITE", h, 0, fill(i));
      handles.push(h);
    };
    let restarted: RedisServer | undefined;
    try {
      for (let i = 0; i < 5; i++) await write(i);
      expect(await c.call("SYNC")).toBe("OK");
      await redis.stop();
      const before = p.accepted();
      await write(5);
      const sync = c.call("SYNC").then(
        (r) => String(r),
        (e: Error) => e.message,
      );
      // Down through several reconnection attempts (the old code gave each command up after 3).
      await until("5 reconnection attempts", () => p.accepted() >= before + 5);
      restarted = redis = await startRedisOn(port, persist);
      expect(await sync).toBe("OK");
      for (let i = 6; i < 10; i++) await write(i);
      expect(await c.call("SYNC")).toBe("OK");
    } finally {
      c.disconnect();
      await svc.close();
    }
    // A new server on the same stream gets every block back, contents included.
    const again = await startService({ replicate: target });
    const c2 = new Redis({ port: again.port });
    try {
      expect(again.stats().replication.lastRecovery!.allocations).toBe(10);
      for (const [i, h] of handles.entries())
        expect(await c2.callBuffer("READ", h, 0, 3000)).toEqual(fill(i));
    } finally {
      c2.disconnect();
      await again.close();
      await p.close();
      await (restarted ?? redis).stop();
    }
  }, 90_000);

  it("an XADD applied by Redis whose reply a cut connection lost: sent again, found in the stream, acknowledged", async () => {
    const redis = (await startRedis())!;
    const p = await proxy(redis.port);
    const target = `redis://127.0.0.1:${p.port}/resent`;
    const direct = new Redis({ port: redis.port });
    const svc = await startService({ replicate: target });
    const c = new Redis({ port: svc.port });
    const handles: string[] = [];
    try {
      handles.push(String(await c.call("ALLOC", 100)));
      expect(await c.call("SYNC")).toBe("OK");
      const seq = svc.stats().replication.seq;
      p.silence();
      handles.push(String(await c.call("ALLOC", 200)));
      const sync = c.call("SYNC").then(
        (r) => String(r),
        (e: Error) => e.message,
      );
      // Redis has the record; its reply is lost with the connection.
      await until("the record in Redis", async () => Number(await direct.xlen("mneme:{resent}:log")) > seq);
      p.cut();
      expect(await sync).toBe("OK");
      handles.push(String(await c.call("ALLOC", 300)));
      expect(await c.call("SYNC")).toBe("OK");
    } finally {
      c.disconnect();
      await svc.close();
    }
    const again = await startService({ replicate: target });
    try {
      for (const h of handles) expect(again.caps.find(h)).toBeDefined();
      expect(again.stats().replication.lastRecovery!.allocations).toBe(3);
    } finally {
      await again.close();
      direct.disconnect();
      await p.close();
      await redis.stop();
    }
  }, 60_000);

  it("Redis restarted without its data: the log is rebuilt by a checkpoint before SYNC replies, and a restart recovers every block", async () => {
    const port = await freePort();
    let redis: RedisServer = await startRedisOn(port);
    const target = `redis://127.0.0.1:${port}/amnesia`;
    const svc = await startService({ replicate: target, replicationBatch: 2 });
    const c = new Redis({ port: svc.port });
    const handles: string[] = [];
    const write = async (i: number) => {
      const h = String(await c.call("ALLOC", 3000));
      await c.call("WRITE", h, 0, fill(i));
      handles.push(h);
    };
    try {
      for (let i = 0; i < 5; i++) await write(i);
      expect(await c.call("SYNC")).toBe("OK");
      await redis.stop();
      redis = await startRedisOn(port);
      for (let i = 5; i < 8; i++) await write(i);
      expect(await c.call("SYNC")).toBe("OK");
      expect(svc.stats().replication.checkpoints).toBe(1);
    } finally {
      c.disconnect();
      await svc.close();
    }
    const again = await startService({ replicate: target });
    const c2 = new Redis({ port: again.port });
    try {
      expect(again.stats().replication.lastRecovery!.allocations).toBe(8);
      for (const [i, h] of handles.entries())
        expect(await c2.callBuffer("READ", h, 0, 3000)).toEqual(fill(i));
    } finally {
      c2.disconnect();
      await again.close();
      await redis.stop();
    }
  }, 60_000);
});
