/**
 * Crash tests with real processes (file backend): `mneme serve --replicate file:DIR`, a client
 * driving ALLOC/WRITE/FREE/SYNC, kill -9 at random moments, restart on the same directory, and
 * every write the contract covers checked byte for byte (crash-driver.ts). 21 rounds: `batch`
 * (mid-batch: a long batch delay keeps partial batches pending), `always`, with a worker thread,
 * with checkpoints every 64 KiB of log, and two kills inside a checkpoint (held open by the
 * MNEME_DEBUG_CHECKPOINT_PAUSE_MS hook) before and after its rename.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../service/helpers.js";
import { CrashModel, prng } from "./crash-driver.js";
import { crashRound, files, sleep, until } from "./crash-helpers.js";

beforeAll(() => {
  readFileSync("dist/cli/main.js");
});

async function rounds(
  label: string,
  n: number,
  args: (dir: string) => string[],
  always: boolean,
  seed: number,
): Promise<{ model: CrashModel; dir: string; checked: number }> {
  const dir = tempDir();
  const model = new CrashModel();
  const rnd = prng(seed);
  let checked = 0;
  for (let i = 0; i < n; i++) {
    const wait = 60 + Math.floor(rnd() * 400);
    const r = await crashRound(model, args(dir), seed * 100 + i, always, () => sleep(wait));
    checked += r.checked;
  }
  const last = await crashRound(model, args(dir), seed * 100 + n, always, () => sleep(1));
  checked += last.checked;
  expect(model.acked.writes, `${label}: the client wrote`).toBeGreaterThan(0);
  return { model, dir, checked };
}

describe("kill -9 and recover (file backend)", () => {
  it("batch: every write acknowledged before a SYNC reply survives, freed blocks stay freed (6 rounds, mid-batch)", async () => {
    const { checked, model } = await rounds(
      "batch",
      6,
      (d) => ["--replicate", `file:${d}`, "--replication-delay", "5000", "--replication-batch", "32"],
      false,
      1,
    );
    expect(model.acked.syncs).toBeGreaterThan(0);
    expect(checked).toBeGreaterThan(0);
  });

  it("always: every acknowledged ALLOC/WRITE/FREE survives (5 rounds)", async () => {
    const { checked } = await rounds(
      "always",
      5,
      (d) => ["--replicate", `file:${d}`, "--appendfsync", "always"],
      true,
      2,
    );
    expect(checked).toBeGreaterThan(0);
  });

  it("batch with a worker thread doing the copies (3 rounds)", async () => {
    const { checked } = await rounds(
      "workers",
      3,
      (d) => ["--replicate", `file:${d}`, "--workers", "1", "--replication-batch", "8"],
      false,
      3,
    );
    expect(checked).toBeGreaterThan(0);
  });

  it("checkpoints every 64 KiB of log and small segments: killed across checkpoints (5 rounds)", async () => {
    const { dir, checked } = await rounds(
      "checkpoints",
      5,
      (d) => ["--replicate", `file:${d}`, "--checkpoint-size", "64kb", "--segment-size", "16kb"],
      false,
      4,
    );
    expect(checked).toBeGreaterThan(0);
    expect(files(dir).some((f) => f.endsWith(".ckp"))).toBe(true);
  });

  it("killed inside a checkpoint, before and after its rename: recovery uses the complete image", async () => {
    const dir = tempDir();
    const model = new CrashModel();
    const args = ["--replicate", `file:${dir}`, "--checkpoint-size", "32kb"];
    const env = { MNEME_DEBUG_CHECKPOINT_PAUSE_MS: "1500" };
    // While the image is being written: only the .tmp exists.
    let sawTmp = false;
    await crashRound(
      model,
      args,
      51,
      false,
      async () => {
        sawTmp = await until(() => files(dir).some((f) => f.endsWith(".ckp.tmp")));
      },
      env,
    );
    expect(sawTmp).toBe(true);
    // After the rename, before the old segments are deleted.
    let sawBoth = false;
    await crashRound(
      model,
      args,
      52,
      false,
      async () => {
        sawBoth = await until(() => {
          const fs = files(dir);
          const ckp = fs.filter((f) => f.endsWith(".ckp")).map((f) => Number(f.slice(11, 27)));
          const segs = fs.filter((f) => f.endsWith(".seg")).map((f) => Number(f.slice(4, 20)));
          return !fs.some((f) => f.endsWith(".tmp")) && ckp.some((c) => segs.some((s) => s <= c));
        });
      },
      env,
    );
    expect(sawBoth).toBe(true);
    const last = await crashRound(model, args, 53, false, () => sleep(1));
    expect(last.checked).toBeGreaterThan(0);
    expect(files(dir).some((f) => f.endsWith(".tmp"))).toBe(false);
    expect(readFileSync(join(dir, files(dir).find((f) => f.endsWith(".ckp"))!)).length).toBeGreaterThan(16);
  });
});
