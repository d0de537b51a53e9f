/**
 * The crash rounds against the Redis backend: `mneme serve --replicate redis://…` on a real
 * redis-server started by the test, kill -9 of mneme at random moments (batch and always),
 * restart on the same stream, every write the contract covers checked byte for byte.
 */
import { afterAll, describe, expect, it } from "vitest";
import { startRedis } from "../helpers/redis.js";
import { CrashModel, prng } from "./crash-driver.js";
import { crashRound, sleep } from "./crash-helpers.js";

const redis = await startRedis();
afterAll(() => redis?.stop());

describe.skipIf(!redis)("kill -9 and recover (redis backend)", () => {
  for (const [policy, n, seed] of [
    ["batch", 4, 7],
    ["always", 3, 8],
  ] as const) {
    it(`${policy}: ${n} rounds, the contract holds`, async () => {
      const model = new CrashModel();
      const rnd = prng(seed);
      const args = [
        "--replicate",
        `redis://127.0.0.1:${redis!.port}/crash-${policy}`,
        "--appendfsync",
        policy,
        "--checkpoint-size",
        "256kb",
      ];
      let checked = 0;
      for (let i = 0; i <= n; i++) {
        const wait = i === n ? 1 : 80 + Math.floor(rnd() * 400);
        const r = await crashRound(model, args, seed * 100 + i, policy === "always", () => sleep(wait));
        checked += r.checked;
      }
      expect(model.acked.writes).toBeGreaterThan(0);
      expect(checked).toBeGreaterThan(0);
    });
  }
});
