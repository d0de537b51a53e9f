/**
 * kill -9 against the Redis backend while checkpoints run all the time (one every 16 KiB of log):
 * kills land between a checkpoint's SET and the XTRIM and page-key deletions that follow it, and
 * while MAP pages are read for an image. Two clients (one with MAP regions), a worker thread,
 * batches of 5 pages; `batch` and `always`. After every restart each client's model holds.
 */
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { startRedis } from "../helpers/redis.js";
import { spawnServer } from "../service/helpers.js";
import { CrashModel, prng } from "./crash-driver.js";
import { kill9, sleep } from "./crash-helpers.js";

const redis = await startRedis();
afterAll(() => redis?.stop());

const ROUNDS = 6;

/** mneme_checkpoints from INFO persistence (0 if the server cannot answer). */
async function checkpointsTaken(port: number): Promise<number> {
  const r = new Redis({ port, maxRetriesPerRequest: 0 });
  try {
    const info = String(await r.call("INFO", "persistence"));
    return Number(/mneme_checkpoints:(\d+)/.exec(info)?.[1] ?? 0);
  } catch {
    return 0;
  } finally {
    r.disconnect();
  }
}

for (const policy of ["batch", "always"] as const) {
  describe.skipIf(!redis)(`kill -9 with a checkpoint every 16 KiB (redis, ${policy})`, () => {
    it(`${ROUNDS} rounds, two clients: the contract holds after every restart`, async () => {
      const args = [
        "--replicate",
        `redis://127.0.0.1:${redis!.port}/ckp-${policy}`,
        "--appendfsync",
        policy,
        "--checkpoint-size",
        "16kb",
        "--replication-batch",
        "5",
        "--workers",
        "1",
        "--map-frames",
        "8",
      ];
      const seed = policy === "batch" ? 501 : 502;
      const rnd = prng(seed);
      const models = [new CrashModel(true), new CrashModel(false)];
      let checked = 0;
      let checkpoints = 0;
      for (let round = 0; round <= ROUNDS; round++) {
        const srv = await spawnServer(args);
        try {
          for (const m of models) checked += (await m.verify(srv.port)).checked;
          if (round === ROUNDS) break;
          const stop = { killed: false };
          const driving = models.map((m, i) =>
            m.drive(srv.port, seed * 100 + round * 10 + i, policy === "always", stop),
          );
          await sleep(50 + Math.floor(rnd() * 600));
          checkpoints += await checkpointsTaken(srv.port);
          stop.killed = true;
          await kill9(srv);
          await Promise.all(driving);
        } finally {
          await kill9(srv);
        }
      }
      for (const m of models) expect(m.acked.writes).toBeGreaterThan(0);
      expect(checked).toBeGreaterThan(0);
      expect(checkpoints, "checkpoints ran while the clients wrote").toBeGreaterThan(0);
    });
  });
}
