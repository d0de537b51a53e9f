/**
 * A start that recovery refuses leaves nothing running: an embedding program (or a test runner)
 * that catches the error must be able to exit. The Redis backend's connection stayed open.
 */
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { LogCorruptionError } from "../../src/errors.js";
import { startRedis } from "../helpers/redis.js";
import { startService } from "../service/helpers.js";

const redis = await startRedis();
afterAll(() => redis?.stop());

/** Connections to the Redis server other than `admin`'s own. */
async function others(admin: Redis): Promise<number> {
  const list = String(await admin.call("CLIENT", "LIST"));
  return list.split("\n").filter((l) => l.trim() !== "" && !l.includes("cmd=client|list")).length;
}

describe.skipIf(!redis)("a refused start", () => {
  it("closes its Redis connection", async () => {
    const admin = new Redis({ port: redis!.port });
    try {
      await admin.set("mneme:{refused}:checkpoint", Buffer.alloc(64, 1));
      expect(await others(admin)).toBe(0);
      await expect(startService({ replicate: `${redis!.url}/refused` })).rejects.toThrow(LogCorruptionError);
      // Polled: Redis learns of a closed connection when it reads the FIN, which may take a moment.
      const deadline = Date.now() + 20_000;
      while ((await others(admin)) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(await others(admin)).toBe(0);
    } finally {
      admin.disconnect();
    }
  });
});
