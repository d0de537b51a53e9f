/**
 * The Redis backend on a real Redis Cluster (3 masters started by the test) through ioredis's
 * Cluster client: every key carries the hash tag, so the log, its page keys and the checkpoint
 * share one slot, and a restart recovers from it.
 */
import { Cluster, Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { startRedisCluster } from "../helpers/redis.js";
import { startService, tempDir } from "../service/helpers.js";

const cluster = await startRedisCluster(tempDir());
afterAll(() => cluster?.stop());

describe.skipIf(!cluster)("redis backend on a Redis Cluster", () => {
  it("logs into one slot and recovers handles and contents after a restart (with a checkpoint)", async () => {
    const target = `redis://127.0.0.1:${cluster!.nodes[0].port}/clu?cluster=1`;
    const config = { replicate: target, checkpointSize: 8192, replicationBatch: 2 };
    const a = await startService(config);
    const r = new Redis({ port: a.port });
    const hs: string[] = [];
    for (let i = 0; i < 8; i++) {
      const h = String(await r.call("ALLOC", 6000));
      await r.call("WRITE", h, 100, Buffer.alloc(5000, i + 1));
      hs.push(h);
    }
    await r.call("FREE", hs[0]);
    await r.call("SYNC");
    while (a.stats().replication.checkpoints === 0) await new Promise((res) => setTimeout(res, 5));
    r.disconnect();
    await a.close();

    const c = new Cluster(cluster!.seeds);
    try {
      await c.ping();
      const slots = new Set<number>();
      for (const n of c.nodes("master")) {
        for (const k of (await n.keys("mneme:{clu}:*")) as string[])
          slots.add(Number(await n.cluster("KEYSLOT", k)));
      }
      expect(slots.size).toBe(1);
    } finally {
      c.disconnect();
    }

    const b = await startService(config);
    const r2 = new Redis({ port: b.port });
    try {
      await expect(r2.call("SIZE", hs[0])).rejects.toThrow(/invalid handle/);
      for (let i = 1; i < 8; i++) {
        const want = Buffer.alloc(6000);
        want.fill(i + 1, 100, 5100);
        expect(await r2.callBuffer("READ", hs[i], 0, 6000)).toEqual(want);
      }
      expect(b.stats().replication.lastRecovery!.checkpointSeq).toBeGreaterThan(0);
    } finally {
      r2.disconnect();
      await b.close();
    }
  });
});
