/**
 * Crash tests with several clients at once (file backend, `batch`): three connections drive
 * ALLOC/WRITE/FREE/SYNC concurrently, each with its own model (crash-driver.ts), the server is
 * killed with SIGKILL at a random moment, restarted on the same directory, and every client's
 * model is checked: what each client's own SYNC replies covered is there byte for byte, and what
 * it freed before them stays freed. The clients' batches interleave in the log, and one client's
 * SYNC cuts batches holding the others' pages.
 */
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { spawnServer, tempDir } from "../service/helpers.js";
import { CrashModel, prng } from "./crash-driver.js";
import { kill9, sleep } from "./crash-helpers.js";

beforeAll(() => {
  readFileSync("dist/cli/main.js");
});

const CLIENTS = 3;

describe("kill -9 and recover with concurrent clients (file backend)", () => {
  it("batch: each client's SYNC-acknowledged writes survive, its freed blocks stay freed (6 rounds)", async () => {
    const dir = tempDir();
    const args = ["--replicate", `file:${dir}`, "--replication-batch", "32"];
    const models = Array.from({ length: CLIENTS }, () => new CrashModel());
    const rnd = prng(77);
    let checked = 0;
    for (let round = 0; round <= 6; round++) {
      const srv = await spawnServer(args);
      try {
        for (const m of models) checked += (await m.verify(srv.port)).checked;
        if (round === 6) break;
        const stop = { killed: false };
        const driving = models.map((m, i) => m.drive(srv.port, round * 100 + i, false, stop));
        await sleep(80 + Math.floor(rnd() * 400));
        stop.killed = true;
        await kill9(srv);
        await Promise.all(driving);
      } finally {
        await kill9(srv);
      }
    }
    for (const m of models) expect(m.acked.syncs, "every client got SYNC replies").toBeGreaterThan(0);
    expect(checked).toBeGreaterThan(0);
  });
});
