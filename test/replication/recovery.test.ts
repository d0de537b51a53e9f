/**
 * Recovery in process: a service with replication is closed and a new one started on the same
 * target gets back the same handles, owners, sizes, kinds and contents (file and Redis backends);
 * batches, the batch timer, checkpoints, `replicateVma` off and `always` each do what they say.
 */
import { readdirSync } from "node:fs";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { inspectDir } from "../../src/cli/inspect.js";
import type { ServiceConfig } from "../../src/service/config.js";
import type { Service } from "../../src/service/server.js";
import { startRedis } from "../helpers/redis.js";
import { spawnServer, startService, tempDir } from "../service/helpers.js";
import { kill9 } from "./crash-helpers.js";

const redis = await startRedis();
afterAll(() => redis?.stop());

const users = { alice: "pw1", bob: "pw2" };

function client(svc: Service, user?: string): Redis {
  return new Redis({
    port: svc.port,
    ...(user ? { username: user, password: users[user as keyof typeof users] } : {}),
  });
}

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

const targets: [string, () => string][] = [["file", () => `file:${tempDir()}`]];
if (redis)
  targets.push(["redis", () => `redis://127.0.0.1:${redis.port}/rec-${Math.random().toString(36).slice(2)}`]);

describe.each(targets)("restart on the same %s target", (_name, makeTarget) => {
  it("restores handles, owners, sizes, alignment, MAP regions and contents; freed handles stay refused", async () => {
    const replicate = makeTarget();
    const config: Partial<ServiceConfig> = { replicate, users, replicationBatch: 4 };
    const a = await startService(config);
    const alice = client(a, "alice");
    const bob = client(a, "bob");
    const h1 = String(await alice.call("ALLOC", 20000));
    const h2 = String(await alice.call("ALLOC", 100, "ALIGN", 4096));
    const h3 = String(await bob.call("ALLOC", 5000));
    const gone = String(await bob.call("ALLOC", 64));
    const m = String(await alice.call("MAP", 64 * 1024));
    await alice.call("WRITE", h1, 3000, pattern(9000, 1));
    await alice.call("WRITE", h2, 0, pattern(100, 2));
    await bob.call("WRITE", h3, 0, pattern(5000, 3));
    await bob.call("WRITE", gone, 0, pattern(64, 4));
    await alice.call("WRITE", m, 40000, pattern(10000, 5));
    await bob.call("FREE", gone);
    await alice.call("SYNC");
    alice.disconnect();
    bob.disconnect();
    await a.close();

    const b = await startService(config);
    const alice2 = client(b, "alice");
    const bob2 = client(b, "bob");
    try {
      expect(await alice2.call("SIZE", h1)).toBe(20000);
      expect(await alice2.call("SIZE", h2)).toBe(100);
      expect(await bob2.call("SIZE", h3)).toBe(5000);
      expect(await alice2.call("SIZE", m)).toBe(64 * 1024);
      const want1 = Buffer.alloc(20000);
      pattern(9000, 1).copy(want1, 3000);
      expect(await alice2.callBuffer("READ", h1, 0, 20000)).toEqual(want1);
      expect(await alice2.callBuffer("READ", h2, 0, 100)).toEqual(pattern(100, 2));
      expect(await bob2.callBuffer("READ", h3, 0, 5000)).toEqual(pattern(5000, 3));
      expect(await alice2.callBuffer("READ", m, 40000, 10000)).toEqual(pattern(10000, 5));
      // Owners came back too: bob cannot use alice's handle, nor alice bob's.
      await expect(bob2.call("READ", h1, 0, 1)).rejects.toThrow(/invalid handle/);
      await expect(alice2.call("SIZE", h3)).rejects.toThrow(/invalid handle/);
      await expect(bob2.call("SIZE", gone)).rejects.toThrow(/invalid handle/);
      // The aligned block is aligned again (wherever it landed).
      expect(b.caps.find(h2)!.address % 4096).toBe(0);
      const s = b.stats().replication;
      expect(s.lastRecovery).not.toBeNull();
      expect(s.lastRecovery!.allocations).toBe(4);
      expect(s.lastRecovery!.records).toBeGreaterThanOrEqual(8);
      const info = String(await alice2.call("INFO", "persistence"));
      expect(info).toMatch(/mneme_last_recovery:ok/);
      expect(info).toMatch(/mneme_last_recovery_allocations:4/);
      expect(b.events.recent().some((e) => e.kind === "recovery")).toBe(true);
      // The recovered state goes on being replicated: a third start sees a write made now.
      await alice2.call("WRITE", h1, 0, pattern(10, 9));
      await alice2.call("FREE", h2);
      await alice2.call("SYNC");
    } finally {
      alice2.disconnect();
      bob2.disconnect();
      await b.close();
    }
    const c = await startService(config);
    const alice3 = client(c, "alice");
    try {
      expect(await alice3.callBuffer("READ", h1, 0, 10)).toEqual(pattern(10, 9));
      await expect(alice3.call("SIZE", h2)).rejects.toThrow(/invalid handle/);
    } finally {
      alice3.disconnect();
      await c.close();
    }
  });

  it("checkpoints bound the log, and recovery starts from the newest one", async () => {
    const replicate = makeTarget();
    const config: Partial<ServiceConfig> = { replicate, checkpointSize: 4096, segmentSize: 4096 };
    const a = await startService(config);
    const r = client(a);
    const hs: string[] = [];
    for (let i = 0; i < 20; i++) {
      const h = String(await r.call("ALLOC", 8192));
      await r.call("WRITE", h, 0, pattern(8192, i));
      hs.push(h);
    }
    for (const h of hs.slice(0, 10)) await r.call("FREE", h);
    await r.call("SYNC");
    await until(() => a.stats().replication.checkpoints > 0);
    r.disconnect();
    await a.close();
    if (replicate.startsWith("file:")) {
      const files = readdirSync(replicate.slice(5));
      expect(files.filter((f) => f.endsWith(".ckp"))).toHaveLength(1);
      // 20 × 8 KiB went through the log; the segments left hold little of it.
      expect(files.filter((f) => f.endsWith(".seg")).length).toBeLessThan(10);
    }
    const b = await startService(config);
    const r2 = client(b);
    try {
      expect(b.stats().replication.lastRecovery!.checkpointSeq).toBeGreaterThan(0);
      for (const [i, h] of hs.entries()) {
        if (i < 10) await expect(r2.call("SIZE", h)).rejects.toThrow(/invalid handle/);
        else expect(await r2.callBuffer("READ", h, 0, 8192)).toEqual(pattern(8192, i));
      }
    } finally {
      r2.disconnect();
      await b.close();
    }
  });
});

describe("batches, timer, policies", () => {
  it("cuts one batch record per `replicationBatch` dirty pages; a page written twice is flushed once", async () => {
    const svc = await startService({
      replicate: `file:${tempDir()}`,
      replicationBatch: 4,
      replicationDelay: 60_000,
    });
    const r = client(svc);
    try {
      const h = String(await r.call("ALLOC", 10 * 4096));
      await r.call("WRITE", h, 0, pattern(4096, 1));
      await r.call("WRITE", h, 0, pattern(4096, 2));
      expect(svc.stats().replication.pendingPages).toBe(1);
      expect(svc.stats().replication.batches).toBe(0);
      await r.call("WRITE", h, 4096, pattern(7 * 4096, 3));
      const s = svc.stats().replication;
      expect(s.batches).toBe(2);
      expect(s.batchPages).toBe(8);
      expect(s.lastBatchPages).toBe(4);
      expect(s.pendingPages).toBe(0);
      await r.call("WRITE", h, 9 * 4096, pattern(10, 4));
      await r.call("SYNC");
      expect(svc.stats().replication.batches).toBe(3);
      expect(svc.stats().replication.lagRecords).toBe(0);
      expect(String(await r.call("INFO", "replication"))).toMatch(/mneme_replication_batches:3/);
    } finally {
      r.disconnect();
      await svc.close();
    }
  });

  it("a partial batch is cut when the delay passes, without SYNC", async () => {
    const svc = await startService({
      replicate: `file:${tempDir()}`,
      replicationBatch: 32,
      replicationDelay: 20,
    });
    const r = client(svc);
    try {
      const h = String(await r.call("ALLOC", 4096));
      await r.call("WRITE", h, 0, pattern(4096, 1));
      await until(() => svc.stats().replication.batches === 1);
      expect(svc.stats().replication.pendingPages).toBe(0);
    } finally {
      r.disconnect();
      await svc.close();
    }
  });

  it("always: a reply comes only once its record and pages are durable", async () => {
    const svc = await startService({ replicate: `file:${tempDir()}`, appendfsync: "always" });
    const r = client(svc);
    try {
      const h = String(await r.call("ALLOC", 3 * 4096));
      expect(svc.stats().replication.lagRecords).toBe(0);
      for (let i = 0; i < 5; i++) {
        await r.call("WRITE", h, i * 1000, pattern(3000, i));
        const s = svc.stats().replication;
        expect(s.lagRecords).toBe(0);
        expect(s.pendingPages).toBe(0);
      }
      expect(svc.stats().replication.fsyncs).toBeGreaterThan(0);
    } finally {
      r.disconnect();
      await svc.close();
    }
  });

  it("always with a worker thread (a real process): writes in order with READs on the worker, acked ones survive kill -9", async () => {
    const dir = tempDir();
    const args = ["--replicate", `file:${dir}`, "--appendfsync", "always", "--workers", "1"];
    const srv = await spawnServer(args);
    const r = new Redis({ port: srv.port });
    const h = String(await r.call("ALLOC", 3 * 4096));
    const p = r.pipeline();
    for (let i = 0; i < 12; i++) {
      p.call("WRITE", h, i * 1000, pattern(1000, i));
      p.callBuffer("READ", h, i * 1000, 1000);
    }
    const out = (await p.exec())!;
    for (let i = 0; i < 12; i++) expect(out[2 * i + 1][1]).toEqual(pattern(1000, i));
    expect(String(await r.call("INFO", "replication"))).toMatch(/mneme_replication_lag_records:0/);
    r.disconnect();
    await kill9(srv);
    const again = await spawnServer(args);
    const r2 = new Redis({ port: again.port });
    try {
      for (let i = 0; i < 12; i++)
        expect(await r2.callBuffer("READ", h, i * 1000, 1000)).toEqual(pattern(1000, i));
    } finally {
      r2.disconnect();
      await again.stop();
    }
  });

  it("replicateVma off: no ALLOC/FREE records, pages only (a checkpoint still knows the blocks)", async () => {
    const dir = tempDir();
    const svc = await startService({ replicate: `file:${dir}`, replicateVma: false, replicationBatch: 1 });
    const r = client(svc);
    const h = String(await r.call("ALLOC", 4096));
    await r.call("WRITE", h, 0, pattern(4096, 1));
    await r.call("SYNC");
    r.disconnect();
    await svc.close();
    const rep = await inspectDir(dir);
    expect(rep.records.ALLOC).toBe(0);
    expect(rep.records.BATCH).toBe(1);
    const on = tempDir();
    const svc2 = await startService({ replicate: `file:${on}`, replicationBatch: 1 });
    const r2 = client(svc2);
    await r2.call("WRITE", String(await r2.call("ALLOC", 4096)), 0, "x");
    await r2.call("SYNC");
    r2.disconnect();
    await svc2.close();
    expect((await inspectDir(on)).records.ALLOC).toBe(1);

    // Pages only, but a checkpoint carries the blocks: a restart after it has them back.
    const ck = tempDir();
    const cfg = { replicate: `file:${ck}`, replicateVma: false, replicationBatch: 1, checkpointSize: 4096 };
    const svc3 = await startService(cfg);
    const r3 = client(svc3);
    const kept = String(await r3.call("ALLOC", 8192));
    await r3.call("WRITE", kept, 0, pattern(8192, 7));
    await r3.call("SYNC");
    await until(() => svc3.stats().replication.checkpoints > 0);
    r3.disconnect();
    await svc3.close();
    const svc4 = await startService(cfg);
    const r4 = client(svc4);
    try {
      expect(await r4.callBuffer("READ", kept, 0, 8192)).toEqual(pattern(8192, 7));
      expect(svc4.events.recent().some((e) => e.kind === "replication")).toBe(true);
    } finally {
      r4.disconnect();
      await svc4.close();
    }
  });
});
