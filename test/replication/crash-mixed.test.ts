/**
 * Blocks and MAP regions together under kill -9, on the Redis backend (a real redis-server) and
 * the file backend: three clients each ALLOC and MAP, WRITE, FREE (a region's UNMAP while its
 * pages are replicated or checkpointed) and SYNC at once, with checkpoints every 128 KiB and MAP
 * regions (anonymous, or backed by files) sharing 8 frames; the server is killed at random
 * moments and restarted on the same target, and each client's model (crash-driver.ts) is checked
 * after every restart. Between rounds the server is also killed once shortly after it was
 * started (while it recovers, or just after), and started twice in a row with nothing in between.
 */
import { afterAll, describe, expect, it } from "vitest";
import { startRedis } from "../helpers/redis.js";
import { spawnServer, tempDir } from "../service/helpers.js";
import { CrashModel, prng } from "./crash-driver.js";
import { kill9, sleep } from "./crash-helpers.js";

const redis = await startRedis();
afterAll(() => redis?.stop());

const CLIENTS = 3;
const ROUNDS = 5;

/** Starts a server and kills it `ms` later, whether it is serving by then or still recovering. */
async function killEarly(args: string[], ms: number): Promise<void> {
  const started = spawnServer(args);
  const srv = await Promise.race([started, sleep(ms).then(() => null)]);
  if (srv !== null) return kill9(srv);
  // Still starting: kill it as soon as it can be reached (spawnServer owns the child).
  await kill9(await started);
}

for (const [backend, policy] of [
  ["redis", "batch"],
  ["redis", "always"],
  ["file", "always"],
] as const) {
  describe.skipIf(backend === "redis" && !redis)(
    `kill -9 with blocks and MAP regions (${backend}, ${policy})`,
    () => {
      it(`${CLIENTS} clients, ${ROUNDS} rounds: every client's model holds after each restart`, async () => {
        const target =
          backend === "file" ? `file:${tempDir()}` : `redis://127.0.0.1:${redis?.port}/mixed-${policy}`;
        const args = [
          "--replicate",
          target,
          "--appendfsync",
          policy,
          "--checkpoint-size",
          "128kb",
          "--map-frames",
          "8",
        ];
        const always = policy === "always";
        const models = Array.from({ length: CLIENTS }, () => new CrashModel(true));
        const rnd = prng(backend === "file" ? 91 : policy === "batch" ? 92 : 93);
        let checked = 0;
        for (let round = 0; round <= ROUNDS; round++) {
          if (round === 2) await killEarly(args, 50 + Math.floor(rnd() * 150));
          if (round === 3) {
            // Started twice in a row: the second recovery reads what the first left.
            const once = await spawnServer(args);
            for (const m of models) await m.verify(once.port);
            await once.stop();
          }
          const srv = await spawnServer(args);
          try {
            for (const m of models) checked += (await m.verify(srv.port)).checked;
            if (round === ROUNDS) break;
            const stop = { killed: false };
            const driving = models.map((m, i) => m.drive(srv.port, round * 100 + i, always, stop));
            await sleep(100 + Math.floor(rnd() * 400));
            stop.killed = true;
            await kill9(srv);
            await Promise.all(driving);
          } finally {
            await kill9(srv);
          }
        }
        for (const m of models) expect(m.acked.writes, "every client wrote").toBeGreaterThan(0);
        expect(checked).toBeGreaterThan(0);
      });
    },
  );
}
