/**
 * RedisStore on a real redis-server (started on a free loopback port by test/helpers/redis.ts;
 * skipped loudly where redis-server is missing, a failure under CI=true).
 */
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { AddressSpace, InvalidArgumentError, RedisStore, StoreError } from "../../src/index.js";
import { redisForTests, startRedis, startRedisCluster } from "../helpers/redis.js";
import { pattern, tempDir } from "./helpers.js";

const PS = 4096;
const { redis, client } = await redisForTests();

describe("RedisStore options", () => {
  it("rejects bad options with InvalidArgumentError", () => {
    for (const bad of [
      undefined,
      {},
      { url: "http://127.0.0.1:1" },
      { url: "redis://127.0.0.1:1", cluster: [{ host: "127.0.0.1", port: 1 }] },
      { cluster: [] },
      { url: "redis://127.0.0.1:1", prefix: "" },
    ]) {
      expect(() => new RedisStore(bad as never)).toThrow(InvalidArgumentError);
    }
  });
});

describe("RedisStore on a real server", () => {
  it("pages go to Redis keys under the prefix and come back, across evictions", async (ctx) => {
    if (!redis) return ctx.skip();
    const a = new RedisStore({ url: redis.url, prefix: "t1:a" });
    const b = new RedisStore({ url: redis.url, prefix: "t1:b" });
    const space = new AddressSpace({ frames: 4 });
    const va = space.map({ length: 16 * PS, store: a, hint: "sequential" });
    const vb = space.map({ length: 16 * PS, store: b, hint: "random" });
    for (let p = 0; p < 16; p++) {
      await space.write(va + p * PS, pattern(PS, p));
      await space.write(vb + p * PS + 1, pattern(10, 100 + p));
    }
    await space.sync();
    expect(await client!.exists("t1:a:0", `t1:a:${15 * PS}`, "t1:b:0")).toBe(3);
    expect(Buffer.compare(Buffer.from(pattern(PS, 3)), (await client!.getBuffer(`t1:a:${3 * PS}`))!)).toBe(0);
    for (let p = 0; p < 16; p++) {
      expect(await space.read(va + p * PS, PS)).toEqual(pattern(PS, p));
      expect(await space.read(vb + p * PS + 1, 10)).toEqual(pattern(10, 100 + p));
    }
    expect(space.stats().readahead).toBeGreaterThan(0); // batched reads through readPages
    space.check();
    expect(await a.clear()).toBe(16);
    await space.close();
    await a.close();
    await b.close();
  });

  it("writing back a page's dirty prefix keeps the rest of the stored page (SETRANGE)", async (ctx) => {
    if (!redis) return ctx.skip();
    const store = new RedisStore({ url: redis.url, prefix: "t2" });
    const space = new AddressSpace({ frames: 1 });
    const v = space.map({ length: 2 * PS, store, hint: "random" });
    await space.write(v, pattern(PS, 1));
    await space.read(v + PS, 1); // evicts page 0: whole page written
    await space.write(v, new Uint8Array([1, 2, 3])); // faults page 0 back, dirties 3 bytes
    await space.read(v + PS, 1); // evicts it: 3-byte prefix written
    const want = pattern(PS, 1);
    want.set([1, 2, 3]);
    expect(await space.read(v, PS)).toEqual(want);
    await store.clear();
    await store.close();
  });

  it("a server that goes away fails faults with StoreError and installs nothing", async (ctx) => {
    if (!redis) return ctx.skip();
    const own = await startRedis();
    if (!own) return ctx.skip();
    const store = new RedisStore({
      url: own.url,
      prefix: "t3",
      redisOptions: { maxRetriesPerRequest: 0, retryStrategy: () => null },
    });
    const space = new AddressSpace({ frames: 2 });
    const v = space.map({ length: 8 * PS, store, hint: "random" });
    await space.write(v, new Uint8Array([9]));
    await space.sync();
    await own.stop();
    const before = space.stats();
    await expect(space.read(v + 3 * PS, 1)).rejects.toBeInstanceOf(StoreError);
    const after = space.stats();
    expect(after.resident).toBe(before.resident);
    expect(after.faults).toBe(before.faults);
    expect(after.storeErrors).toBe(before.storeErrors + 1);
    expect((await space.read(v, 1))[0]).toBe(9); // the resident page is still served
    space.check();
    await store.close();
  });
});

describe("RedisStore on a Redis Cluster (three loopback masters)", () => {
  it("spreads pages over the nodes' slots and reads them back", async (ctx) => {
    if (!redis) return ctx.skip();
    const dir = tempDir("mneme-cluster-");
    const cluster = await startRedisCluster(dir.path);
    if (!cluster) return ctx.skip();
    const store = new RedisStore({ cluster: cluster.seeds, prefix: "cl" });
    try {
      const space = new AddressSpace({ frames: 8 });
      const v = space.map({ length: 64 * PS, store, hint: "sequential" });
      for (let p = 0; p < 64; p++) await space.write(v + p * PS + 3, pattern(100, p));
      await space.sync();
      for (let p = 0; p < 64; p++) expect(await space.read(v + p * PS + 3, 100)).toEqual(pattern(100, p));
      space.check();
      const sizes = await Promise.all(
        cluster.nodes.map(async (n) => {
          const c = new Redis(n.url);
          const size = await c.dbsize();
          c.disconnect();
          return size;
        }),
      );
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(64 + 1); // the pages and the page-size record
      for (const s of sizes) expect(s).toBeGreaterThan(0);
      await space.close();
    } finally {
      await store.close();
      await cluster.stop();
      dir.remove();
    }
  });
});
