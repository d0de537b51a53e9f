/**
 * `--replicate redis://USER:PASSWORD@HOST:PORT/NAME`: the user in the URL is a Redis ACL user, as
 * in every redis:// URL (Redis 6+). The backend logs in as that user, not as the default user
 * with that user's password.
 */
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { parseTarget } from "../../src/replication/target.js";
import { freePort, redisInstalled, startRedisOn } from "../helpers/redis.js";
import { startService } from "../service/helpers.js";

// The default user needs no password (startRedisOn pings as it) but may not touch mneme's keys;
// alice may.
const redis = redisInstalled()
  ? await startRedisOn(await freePort(), [
      "--user",
      "default",
      "on",
      "nopass",
      "resetkeys",
      "~other:*",
      "+@all",
      "--user",
      "alice",
      "on",
      ">pw-a",
      "~mneme:*",
      "+@all",
    ])
  : undefined;
afterAll(() => redis?.stop());

describe("a Redis ACL user in the replicate URL", () => {
  it("is parsed with its password", () => {
    expect(parseTarget("redis://alice:p%40ss@127.0.0.1:7000/n", "")).toMatchObject({
      username: "alice",
      password: "p@ss",
    });
    expect(parseTarget("redis://:secret@127.0.0.1:7000/n", "")).toMatchObject({
      username: null,
      password: "secret",
    });
  });

  it.skipIf(!redis)("logs in as that user: the log is written and recovered through it", async () => {
    const replicate = `redis://alice:pw-a@127.0.0.1:${redis!.port}/acl`;
    const a = await startService({ replicate });
    const r = new Redis({ port: a.port });
    const h = String(await r.call("ALLOC", 5000));
    await r.call("WRITE", h, 10, "through alice");
    await r.call("SYNC");
    r.disconnect();
    await a.close();
    const admin = new Redis({ port: redis!.port, username: "alice", password: "pw-a" });
    try {
      expect(await admin.xlen("mneme:{acl}:log")).toBeGreaterThan(0);
    } finally {
      admin.disconnect();
    }
    const b = await startService({ replicate });
    const r2 = new Redis({ port: b.port });
    try {
      expect(String(await r2.callBuffer("READ", h, 10, 13))).toBe("through alice");
    } finally {
      r2.disconnect();
      await b.close();
    }
  });
});
