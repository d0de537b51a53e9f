/**
 * `--replicate redis://…` targets: what the URL may say, and what it is refused for.
 */
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../src/errors.js";
import { describeTarget, parseTarget } from "../../src/replication/target.js";
import { freePort, redisInstalled, startRedis, startRedisOn } from "../helpers/redis.js";
import { startService } from "../service/helpers.js";

describe("redis:// targets", () => {
  it("an IPv6 address is unbracketed for the client and bracketed again where it is shown", () => {
    const t = parseTarget("redis://[::1]:6390/cache", "/data");
    expect(t).toMatchObject({ kind: "redis", host: "::1", port: 6390, name: "cache", cluster: false });
    expect(describeTarget(t)).toBe("redis://[::1]:6390/cache");
  });

  it("cluster= is 1/true or 0/false; any other value is refused, not taken as no cluster", () => {
    for (const [v, cluster] of [
      ["1", true],
      ["true", true],
      ["0", false],
      ["false", false],
    ] as const)
      expect(parseTarget(`redis://h:1/n?cluster=${v}`, "/d")).toMatchObject({ cluster });
    for (const v of ["yes", "", "2"])
      expect(() => parseTarget(`redis://h:1/n?cluster=${v}`, "/d")).toThrow(InvalidArgumentError);
  });
});

// A real redis-server listening on IPv6 loopback too (startRedis says loudly it is missing).
const redis = redisInstalled()
  ? await startRedisOn(await freePort(), ["--bind", "127.0.0.1", "::1"])
  : await startRedis();
afterAll(() => redis?.stop());

describe.skipIf(!redis)("replicating to Redis over IPv6", () => {
  it("redis://[::1]:PORT logs, and a restart recovers from it", async () => {
    const target = `redis://[::1]:${redis!.port}/v6`;
    const a = await startService({ replicate: target });
    const r = new Redis({ port: a.port });
    const h = String(await r.call("ALLOC", 100));
    await r.call("WRITE", h, 0, "over ipv6");
    await r.call("SYNC");
    r.disconnect();
    expect(a.stats().replication.backend).toBe(target);
    await a.close();
    const b = await startService({ replicate: target });
    try {
      const c = new Redis({ port: b.port });
      expect(String(await c.call("READ", h, 0, 9))).toBe("over ipv6");
      c.disconnect();
    } finally {
      await b.close();
    }
  });
});
