/**
 * kill -9 under shapes the other crash tests do not use, file backend: segments of 4 KiB (a
 * rotation every few records, so kills land inside rotations), a checkpoint every 16 KiB of log
 * (kills land inside checkpoints, checkpoints race rotations and MAP reads), batches of 3 pages,
 * a worker thread doing the copies, MAP regions, two clients at once, and each fsync policy
 * (everysec is held to what SYNC acknowledged, as batch is). After every restart each client's
 * model holds (crash-driver.ts) and the directory holds no leftover .tmp file.
 */
import { describe, expect, it } from "vitest";
import { spawnServer, tempDir } from "../service/helpers.js";
import { CrashModel, prng } from "./crash-driver.js";
import { files, kill9, sleep } from "./crash-helpers.js";

const ROUNDS = 6;

for (const policy of ["everysec", "always", "batch"] as const) {
  describe(`kill -9 with tiny segments, frequent checkpoints, MAP regions and a worker (${policy})`, () => {
    it(`${ROUNDS} rounds, two clients: the contract holds after every restart`, async () => {
      const dir = tempDir();
      const args = [
        "--replicate",
        `file:${dir}`,
        "--appendfsync",
        policy,
        "--segment-size",
        "4kb",
        "--checkpoint-size",
        "16kb",
        "--replication-batch",
        "3",
        "--workers",
        "1",
        "--map-frames",
        "8",
      ];
      const always = policy === "always";
      const models = [new CrashModel(true), new CrashModel(false)];
      const seed = { everysec: 401, always: 402, batch: 403 }[policy];
      const rnd = prng(seed);
      let checked = 0;
      let sawCheckpoint = false;
      for (let round = 0; round <= ROUNDS; round++) {
        const srv = await spawnServer(args);
        try {
          for (const m of models) checked += (await m.verify(srv.port)).checked;
          expect(files(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
          if (round === ROUNDS) break;
          const stop = { killed: false };
          const driving = models.map((m, i) => m.drive(srv.port, seed * 100 + round * 10 + i, always, stop));
          await sleep(30 + Math.floor(rnd() * 600));
          sawCheckpoint ||= files(dir).some((f) => f.endsWith(".ckp"));
          stop.killed = true;
          await kill9(srv);
          await Promise.all(driving);
        } finally {
          await kill9(srv);
        }
      }
      for (const m of models) expect(m.acked.writes).toBeGreaterThan(0);
      expect(checked).toBeGreaterThan(0);
      expect(sawCheckpoint, "checkpoints were taken").toBe(true);
    });
  });
}
