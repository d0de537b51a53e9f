/**
 * What a power loss (not a kill -9) can leave in a file log, and what recovery must make of it.
 * A segment closed by a rotation is fsynced in the background while the next one is written, and
 * a checkpoint deletes the segments it covers without fsyncing the directory after: so the disk
 * may come back with
 *
 * | left on disk                                                     | recovery                     |
 * |------------------------------------------------------------------|------------------------------|
 * | the closed segment's tail torn, the new segment empty or headerless | a torn tail: cut, starts   |
 * | the last segment all zeros (XFS: its size durable, its bytes not)  | a torn tail: removed, starts |
 * | segments the checkpoint covers, one with a torn tail or a bad byte | not read: starts            |
 *
 * Neither loses a record the contract covers (SYNC waits for the background fsync), so neither
 * may stop the server from starting.
 */
import { readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { FILE_HEADER } from "../../src/replication/file-backend.js";
import type { ServiceConfig } from "../../src/service/config.js";
import type { Service } from "../../src/service/server.js";
import { startService, tempDir } from "../service/helpers.js";
import { recordOffsets, segments } from "./log-files.js";

function start(dir: string, extra: Partial<ServiceConfig> = {}): Promise<Service> {
  return startService({ replicate: `file:${dir}`, segmentSize: 4096, replicationBatch: 1, ...extra });
}

/** Blocks of 1500 bytes, each filled with its index + 1, synced. */
async function write(svc: Service, n: number, from = 0): Promise<string[]> {
  const r = new Redis({ port: svc.port });
  const handles: string[] = [];
  for (let i = from; i < from + n; i++) {
    const h = String(await r.call("ALLOC", 1500));
    await r.call("WRITE", h, 0, Buffer.alloc(1500, i + 1));
    handles.push(h);
  }
  await r.call("SYNC");
  r.disconnect();
  return handles;
}

async function contents(svc: Service, h: string): Promise<Buffer> {
  const r = new Redis({ port: svc.port });
  const b = (await r.callBuffer("READ", h, 0, 1500)) as Buffer;
  r.disconnect();
  return b;
}

describe("a power loss around a rotation", () => {
  for (const left of [0, 7, FILE_HEADER]) {
    it(`the closed segment's tail torn and the new one ${left} bytes long: a torn tail, cut; the log goes on`, async () => {
      const dir = tempDir();
      const svc = await start(dir);
      const handles = await write(svc, 12);
      await svc.close();
      const segs = segments(dir);
      expect(segs.length).toBeGreaterThanOrEqual(3);
      // The last segment's records never reached the disk, nor the end of the one before.
      const closed = join(dir, segs.at(-2)!);
      const lastRecord = recordOffsets(closed).at(-1)!;
      truncateSync(closed, lastRecord + 30);
      const fresh = join(dir, segs.at(-1)!);
      writeFileSync(fresh, readFileSync(fresh).subarray(0, left));

      const again = await start(dir);
      let later: string[];
      try {
        const rec = again.stats().replication.lastRecovery!;
        expect(rec.truncatedIn).toBe(closed);
        expect(rec.truncatedAt).toBe(lastRecord);
        expect(rec.skipped).toBe(0);
        expect(readFileSync(closed).length).toBe(lastRecord);
        expect(segments(dir)).not.toContain(segs.at(-1));
        expect((await contents(again, handles[0]))[0]).toBe(1);
        later = await write(again, 6, 100);
      } finally {
        await again.close();
      }
      // What was written after the cut is read back in order by the next start.
      const third = await start(dir);
      try {
        expect(third.stats().replication.lastRecovery!.skipped).toBe(0);
        expect((await contents(third, later.at(-1)!))[0]).toBe(106);
      } finally {
        await third.close();
      }
    });
  }
});

describe("a power loss after a rotation, on a file system that shows unwritten bytes as zeros", () => {
  it("a last segment of zeros (its size durable, its bytes not) is a torn tail, removed; the log goes on", async () => {
    const dir = tempDir();
    const svc = await start(dir);
    const handles = await write(svc, 12);
    await svc.close();
    const segs = segments(dir);
    const zeroed = join(dir, segs.at(-1)!);
    writeFileSync(zeroed, Buffer.alloc(readFileSync(zeroed).length));
    const again = await start(dir);
    let later: string[];
    try {
      const rec = again.stats().replication.lastRecovery!;
      expect(rec.truncatedIn).toBe(zeroed);
      expect(rec.truncatedAt).toBe(0);
      expect(rec.skipped).toBe(0);
      expect((await contents(again, handles[0]))[0]).toBe(1);
      later = await write(again, 6, 100);
    } finally {
      await again.close();
    }
    const third = await start(dir);
    try {
      expect((await contents(third, later.at(-1)!))[0]).toBe(106);
    } finally {
      await third.close();
    }
  });
});

describe("a power loss while a checkpoint deleted the segments it covers", () => {
  it("segments the checkpoint covers are not read: a torn tail or a flipped byte in them stops nothing", async () => {
    const dir = tempDir();
    const svc = await start(dir);
    const before = await write(svc, 12);
    const old = segments(dir).map((f) => [f, readFileSync(join(dir, f))] as const);
    await svc.replication!.checkpoint();
    const after = await write(svc, 3, 50);
    await svc.close();
    expect(segments(dir).some((f) => old.some(([o]) => o === f))).toBe(false);
    // Back from the dead: every old segment, the last one with a torn tail, the first one with a
    // flipped byte in the middle of a record.
    for (const [f, bytes] of old) writeFileSync(join(dir, f), bytes);
    const last = join(dir, old.at(-1)![0]);
    truncateSync(last, recordOffsets(last).at(-1)! + 30);
    const first = join(dir, old[0][0]);
    const b = readFileSync(first);
    b[recordOffsets(first)[1] + 22] ^= 0x40;
    writeFileSync(first, b);

    const again = await start(dir);
    try {
      const rec = again.stats().replication.lastRecovery!;
      expect(rec.skipped).toBe(0);
      expect(rec.truncatedAt).toBeNull();
      expect((await contents(again, before[11]))[0]).toBe(12);
      expect((await contents(again, after[2]))[0]).toBe(53);
    } finally {
      await again.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
