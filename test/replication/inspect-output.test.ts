/**
 * What `mneme inspect` and a start say about a damaged or unreadable file: each line names the
 * file once, with the offset, and a file that cannot be read is an error naming it (never
 * damage that --recover-skip-corrupt would skip, and the checkpoint after it delete).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { LogCorruptionError, MnemeError } from "../../src/errors.js";
import { FILE_HEADER, segmentName } from "../../src/replication/file-backend.js";
import type { Service } from "../../src/service/server.js";
import { startRedis } from "../helpers/redis.js";
import { startService, tempDir } from "../service/helpers.js";

const redis = await startRedis();
afterAll(() => redis?.stop());

async function makeLog(checkpoint: boolean): Promise<string> {
  const dir = tempDir();
  const svc = await startService({ replicate: `file:${dir}`, segmentSize: 4096, replicationBatch: 1 });
  const r = new Redis({ port: svc.port });
  for (let i = 0; i < 6; i++) {
    const h = String(await r.call("ALLOC", 1500));
    await r.call("WRITE", h, 0, Buffer.alloc(1500, i + 1));
  }
  await r.call("SYNC");
  r.disconnect();
  if (checkpoint) await svc.replication!.checkpoint();
  await svc.close();
  return dir;
}

function inspect(dir: string, json = false) {
  return spawnSync(process.execPath, ["dist/cli/main.js", "inspect", dir, ...(json ? ["--json"] : [])], {
    encoding: "utf8",
  });
}

function start(dir: string, recoverSkipCorrupt = false): Promise<Service> {
  return startService({ replicate: `file:${dir}`, segmentSize: 4096, recoverSkipCorrupt });
}

describe("inspect and start on a damaged or unreadable directory", () => {
  it("a damaged checkpoint: one line naming the file once, with the offset; the JSON's why is only the why", async () => {
    const dir = await makeLog(true);
    const name = readdirSync(dir).find((f) => f.endsWith(".ckp"))!;
    const file = join(dir, name);
    const b = readFileSync(file);
    b[FILE_HEADER + 25] ^= 0x40;
    writeFileSync(file, b);
    const p = inspect(dir);
    expect(p.status).toBe(2);
    const line = p.stdout.split("\n").find((l) => l.includes("DAMAGED"))!;
    expect(line).toBe(
      `  DAMAGED checkpoint ${file} at offset ${FILE_HEADER}: checkpoint record: CRC mismatch`,
    );
    const json = JSON.parse(inspect(dir, true).stdout) as {
      badCheckpoints: { where: string; why: string }[];
    };
    expect(json.badCheckpoints).toEqual([
      { where: file, offset: FILE_HEADER, why: "checkpoint record: CRC mismatch" },
    ]);
    await expect(start(dir)).rejects.toThrow(LogCorruptionError);
  });

  it("a segment that cannot be read: an error naming it (exit 1), never skipped as damage", async () => {
    const dir = await makeLog(false);
    const segs = readdirSync(dir).filter((f) => f.endsWith(".seg"));
    // Reading it fails (EISDIR), as a bad sector's EIO would, with no path in Node's message.
    const bad = join(dir, segmentName(10_000));
    mkdirSync(bad);
    const p = inspect(dir);
    expect(p.status).toBe(1);
    expect(p.stderr.trim()).toBe(`mneme: cannot read ${bad}: EISDIR: illegal operation on a directory, read`);
    for (const skip of [false, true]) {
      const err = await start(dir, skip).then(
        async (svc) => {
          await svc.close();
          return null;
        },
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(MnemeError);
      expect((err as MnemeError).message).toContain(`cannot read ${bad}`);
    }
    expect(readdirSync(dir).filter((f) => f.endsWith(".seg"))).toEqual([...segs, segmentName(10_000)].sort());
  });

  it("a checkpoint that cannot be read: the same, never passed over for an older one", async () => {
    const dir = await makeLog(true);
    const bad = join(dir, "checkpoint-0000000000009999.ckp");
    mkdirSync(bad);
    const p = inspect(dir);
    expect(p.status).toBe(1);
    expect(p.stderr.trim()).toBe(`mneme: cannot read ${bad}: EISDIR: illegal operation on a directory, read`);
    await expect(start(dir, true)).rejects.toThrow(`cannot read ${bad}`);
  });
});

/** Writes `n` blocks of 1500 bytes through a server replicating to `replicate`. */
async function writeBlocks(replicate: string, n: number, checkpoint: boolean): Promise<string[]> {
  const svc = await startService({ replicate, segmentSize: 4096, replicationBatch: 1 });
  const r = new Redis({ port: svc.port });
  const handles: string[] = [];
  for (let i = 0; i < n; i++) {
    const h = String(await r.call("ALLOC", 1500));
    await r.call("WRITE", h, 0, Buffer.alloc(1500, i + 1));
    handles.push(h);
  }
  await r.call("SYNC");
  r.disconnect();
  if (checkpoint) await svc.replication!.checkpoint();
  await svc.close();
  return handles;
}

describe("a damaged checkpoint with a log after it, passed over (recoverSkipCorrupt)", () => {
  it("file: reported once, not again as the records before it missing from the log", async () => {
    const dir = tempDir();
    await writeBlocks(`file:${dir}`, 4, true);
    const later = await writeBlocks(`file:${dir}`, 3, false);
    const file = join(dir, readdirSync(dir).find((f) => f.endsWith(".ckp"))!);
    const b = readFileSync(file);
    b[FILE_HEADER + 25] ^= 0x40;
    writeFileSync(file, b);
    const json = JSON.parse(inspect(dir, true).stdout) as { badCheckpoints: unknown[]; damage: unknown[] };
    expect(json.badCheckpoints).toHaveLength(1);
    expect(json.damage).toEqual([]);
    const svc = await startService({ replicate: `file:${dir}`, recoverSkipCorrupt: true });
    try {
      expect(svc.stats().replication.lastRecovery!.skipped).toBe(1);
      expect(svc.caps.find(later[2])).toBeDefined();
    } finally {
      await svc.close();
    }
  });

  it.skipIf(!redis)("redis: the same", async () => {
    const replicate = `${redis!.url}/ckp-once`;
    await writeBlocks(replicate, 4, true);
    const later = await writeBlocks(replicate, 3, false);
    const admin = new Redis({ port: redis!.port });
    const key = "mneme:{ckp-once}:checkpoint";
    const v = (await admin.getBuffer(key))!;
    v[8 + FILE_HEADER + 25] ^= 0x40;
    await admin.set(key, v);
    admin.disconnect();
    const svc = await startService({ replicate, recoverSkipCorrupt: true });
    try {
      expect(svc.stats().replication.lastRecovery!.skipped).toBe(1);
      expect(svc.caps.find(later[2])).toBeDefined();
    } finally {
      await svc.close();
    }
  });
});
