/**
 * RedisStore when its redis-server goes away mid-operation and comes back (a real server,
 * killed and restarted on the same port): faults, evictions and syncs in flight fail with
 * StoreError in bounded time and leave nothing half-installed (dirty pages stay dirty), and once
 * the server is back the same store serves again: a restart is an outage, not the end of the store.
 */
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { AddressSpace, RedisStore, StoreError } from "../../src/index.js";
import { type RedisServer, startRedis, startRedisOn } from "../helpers/redis.js";
import { pattern } from "./helpers.js";

const PS = 4096;

// Skips loudly where redis-server is missing, fails under CI=true (startRedis).
let server: RedisServer | undefined = await startRedis();
const installed = server !== undefined;
const port = server?.port ?? 0;
afterAll(async () => {
  await server?.stop();
});

describe.skipIf(!installed)("RedisStore through a server outage", () => {
  it("operations in flight fail with StoreError, dirty pages stay dirty, and the store serves again after a restart", async () => {
    const url = `redis://127.0.0.1:${port}`;
    const store = new RedisStore({ url, prefix: "out" });
    const space = new AddressSpace({ frames: 4, policy: "lru" });
    const v = space.map({ length: 16 * PS, store, hint: "random" });
    for (let p = 0; p < 4; p++) await space.write(v + p * PS, pattern(PS, p));
    await space.sync();
    for (let p = 0; p < 4; p++) await space.write(v + p * PS, pattern(PS, 10 + p)); // dirty again
    await server?.stop();
    const started = Date.now();
    const results = await Promise.allSettled([
      space.read(v + 8 * PS, 1), // a fault: its victim is dirty, so a writeback first
      space.read(v + 9 * PS, 1),
      space.sync(),
    ]);
    expect(Date.now() - started).toBeLessThan(10_000);
    for (const r of results) {
      expect(r.status).toBe("rejected");
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(StoreError);
    }
    expect(space.stats()).toMatchObject({ resident: 4, dirty: 4, inFlight: 0 });
    space.check();
    // Down for longer than the client's reconnect attempts last.
    await new Promise((r) => setTimeout(r, 2500));
    server = await startRedisOn(port);
    await space.sync(); // the same store writes the dirty pages once the server is back
    expect(space.stats().dirty).toBe(0);
    const check = new Redis(url);
    try {
      for (let p = 0; p < 4; p++) {
        const got = await check.getBuffer(`out:${p * PS}`);
        expect(got && Buffer.compare(got, Buffer.from(pattern(PS, 10 + p)))).toBe(0);
      }
    } finally {
      check.disconnect();
    }
    for (let p = 4; p < 16; p++) await space.write(v + p * PS, pattern(PS, 20 + p));
    for (let p = 0; p < 16; p++) {
      expect(await space.read(v + p * PS, PS)).toEqual(pattern(PS, p < 4 ? 10 + p : 20 + p));
    }
    space.check();
    await space.close();
    await store.close();
  }, 20_000);
});

describe.skipIf(!installed)("RedisStore on a server that stops answering", () => {
  it("a fault on a paused server fails with StoreError instead of waiting forever", async () => {
    const url = `redis://127.0.0.1:${port}`;
    const store = new RedisStore({ url, prefix: "paused" });
    const space = new AddressSpace({ frames: 4, policy: "lru" });
    const v = space.map({ length: 16 * PS, store, hint: "random" });
    await space.write(v, pattern(PS, 1));
    await space.sync();
    server?.process.kill("SIGSTOP");
    try {
      const outcome = await Promise.race([
        space.read(v + 5 * PS, 1).then(
          () => "read",
          (e: unknown) => e,
        ),
        new Promise((r) => setTimeout(() => r("hung"), 10_000)),
      ]);
      expect(outcome).toBeInstanceOf(StoreError);
    } finally {
      server?.process.kill("SIGCONT");
    }
    expect(space.stats()).toMatchObject({ resident: 1, inFlight: 0 });
    expect(await space.read(v + 5 * PS, 1)).toEqual(new Uint8Array(1));
    space.check();
    await space.close();
    await store.close();
  }, 20_000);
});
