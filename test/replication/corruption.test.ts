/**
 * Damaged logs, each with its documented outcome (docs/replication.md, "Recovery"):
 *
 * | damage                                  | recovery                                             |
 * |-----------------------------------------|------------------------------------------------------|
 * | flipped byte in the last record         | torn tail: cut at that record's offset, reported     |
 * | tail cut short (crash mid-append)       | torn tail: cut at the short record's offset          |
 * | flipped byte in the middle              | refuses: LogCorruptionError(file, offset)            |
 * | the same with recoverSkipCorrupt        | starts, skips it, reports it, checkpoints at once    |
 * | a segment missing                       | refuses: records N..M missing                        |
 * | a damaged checkpoint                    | refuses: LogCorruptionError(checkpoint file)         |
 * | the same with recoverSkipCorrupt        | passed over, reported, replaced; seq goes on after it |
 *
 * `mneme inspect` reports each without changing a byte.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { LogCorruptionError } from "../../src/errors.js";
import { FILE_HEADER } from "../../src/replication/file-backend.js";
import type { ServiceConfig } from "../../src/service/config.js";
import { Service } from "../../src/service/server.js";
import { startRedis } from "../helpers/redis.js";
import { startService, tempDir } from "../service/helpers.js";
import { recordOffsets, segments } from "./log-files.js";

const redis = await startRedis();
afterAll(() => redis?.stop());

/** A log of 12 blocks with contents (several segments with `segmentSize` 4 KiB), closed cleanly. */
async function makeLog(extra: Partial<ServiceConfig> = {}): Promise<{ dir: string; handles: string[] }> {
  const dir = tempDir();
  const svc = await startService({
    replicate: `file:${dir}`,
    segmentSize: 4096,
    replicationBatch: 1,
    ...extra,
  });
  const r = new Redis({ port: svc.port });
  const handles: string[] = [];
  for (let i = 0; i < 12; i++) {
    const h = String(await r.call("ALLOC", 1500));
    await r.call("WRITE", h, 0, Buffer.alloc(1500, i + 1));
    handles.push(h);
  }
  await r.call("SYNC");
  r.disconnect();
  await svc.close();
  return { dir, handles };
}

function start(dir: string, extra: Partial<ServiceConfig> = {}): Promise<Service> {
  return (async () => {
    const svc = new Service({
      port: 0,
      data: tempDir(),
      memory: 16 << 20,
      replicate: `file:${dir}`,
      ...extra,
    });
    await svc.listen();
    return svc;
  })();
}

function inspect(dir: string): { json: Record<string, unknown>; status: number | null } {
  const p = spawnSync(process.execPath, ["dist/cli/main.js", "inspect", dir, "--json"], { encoding: "utf8" });
  return { json: JSON.parse(p.stdout), status: p.status };
}

function flip(file: string, offset: number): void {
  const b = readFileSync(file);
  b[offset] ^= 0x40;
  writeFileSync(file, b);
}

describe("damaged logs", () => {
  it("a flipped byte in the last record is a torn tail: cut at its offset and reported", async () => {
    const { dir, handles } = await makeLog();
    const last = join(dir, segments(dir).at(-1)!);
    const offs = recordOffsets(last);
    const at = offs.at(-1)!;
    flip(last, at + 22);
    const seen = inspect(dir);
    expect((seen.json.tornTail as { offset: number }).offset).toBe(at);
    expect(readFileSync(last).length).toBeGreaterThan(at);
    const svc = await start(dir);
    try {
      const rec = svc.stats().replication.lastRecovery!;
      expect(rec.truncatedAt).toBe(at);
      expect(rec.truncatedIn).toBe(last);
      expect(readFileSync(last).length).toBe(at);
      expect(svc.caps.find(handles[0])).toBeDefined();
      const info = (await import("../../src/service/info.js")).infoText(svc, ["persistence"]);
      expect(info).toContain(`mneme_last_recovery_truncated_at:${at}`);
    } finally {
      await svc.close();
    }
  });

  it("a tail cut short (a crash in the middle of an append) is cut back to the last whole record", async () => {
    const { dir } = await makeLog();
    const last = join(dir, segments(dir).at(-1)!);
    const offs = recordOffsets(last);
    const size = readFileSync(last).length;
    truncateSync(last, size - 7);
    const svc = await start(dir);
    try {
      expect(svc.stats().replication.lastRecovery!.truncatedAt).toBe(offs.at(-1));
    } finally {
      await svc.close();
    }
  });

  it("a flipped byte in the middle stops recovery with the file and offset, and changes nothing", async () => {
    const { dir, handles } = await makeLog();
    const first = join(dir, segments(dir)[0]);
    const at = recordOffsets(first)[1];
    flip(first, at + 21);
    const before = readdirSync(dir).map((f) => [f, readFileSync(join(dir, f)).length]);
    const err = await start(dir).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LogCorruptionError);
    expect((err as LogCorruptionError).file).toBe(first);
    expect((err as LogCorruptionError).offset).toBe(at);
    expect(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f)).length])).toEqual(before);
    const seen = inspect(dir);
    expect(seen.status).toBe(2);
    expect((seen.json.damage as { offset: number }[])[0].offset).toBe(at);

    // The operator's way out: skip it, start, and leave the damage behind in a checkpoint.
    const svc = await start(dir, { recoverSkipCorrupt: true });
    try {
      expect(svc.stats().replication.lastRecovery!.skipped).toBe(1);
      expect(svc.caps.find(handles[11])).toBeDefined();
      expect(readdirSync(dir).some((f) => f.endsWith(".ckp"))).toBe(true);
    } finally {
      await svc.close();
    }
    const again = await start(dir);
    expect(again.caps.find(handles[11])).toBeDefined();
    await again.close();
  });

  it("a segment with a damaged header, skipped: reported once (not again as the gap it leaves)", async () => {
    const { dir, handles } = await makeLog();
    const segs = segments(dir);
    expect(segs.length).toBeGreaterThanOrEqual(3);
    flip(join(dir, segs[1]), 2);
    await expect(start(dir)).rejects.toThrow(/bad header/);
    const svc = await start(dir, { recoverSkipCorrupt: true });
    try {
      expect(svc.stats().replication.lastRecovery!.skipped).toBe(1);
      expect(svc.caps.find(handles[11])).toBeDefined();
    } finally {
      await svc.close();
    }
  });

  it("a missing segment stops recovery: the records it held are named", async () => {
    const { dir } = await makeLog();
    const segs = segments(dir);
    expect(segs.length).toBeGreaterThanOrEqual(3);
    unlinkSync(join(dir, segs[1]));
    await expect(start(dir)).rejects.toThrow(/records \d+\.\.\d+ are missing/);
    expect(inspect(dir).status).toBe(2);
  });

  it("a damaged checkpoint stops recovery", async () => {
    const { dir } = await makeLog({ checkpointSize: 4096 });
    const ckp = readdirSync(dir).find((f) => f.endsWith(".ckp"));
    expect(ckp).toBeDefined();
    flip(join(dir, ckp!), FILE_HEADER + 25);
    await expect(start(dir)).rejects.toThrow(LogCorruptionError);
    expect((inspect(dir).json.badCheckpoints as unknown[]).length).toBe(1);
  });

  it("a flipped byte anywhere in a file header (magic, version, reserved) is damage, in a segment and in a checkpoint", async () => {
    const { dir } = await makeLog({ checkpointSize: 4096 });
    const ckp = join(dir, readdirSync(dir).find((f) => f.endsWith(".ckp"))!);
    const seg = join(dir, segments(dir).at(-1)!);
    for (const file of [seg, ckp]) {
      const whole = readFileSync(file);
      for (let at = 0; at < FILE_HEADER; at++) {
        flip(file, at);
        const outcome = await start(dir).then(
          async (svc) => {
            await svc.close();
            return "started";
          },
          (e: unknown) => e,
        );
        expect(outcome, `${file} header byte ${at}`).toBeInstanceOf(LogCorruptionError);
        writeFileSync(file, whole);
      }
    }
    const svc = await start(dir);
    await svc.close();
  });

  it("a damaged checkpoint with recoverSkipCorrupt: skipped, reported, left behind; new records go on from its seq", async () => {
    // The checkpoint is the last thing written: no record follows it.
    const { dir, handles } = await makeLog();
    const svc = await start(dir);
    await svc.replication!.checkpoint();
    await svc.close();
    const ckp = readdirSync(dir).filter((f) => f.endsWith(".ckp"));
    expect(ckp).toHaveLength(1);
    const seq = Number(ckp[0].slice(11, 27));
    flip(join(dir, ckp[0]), FILE_HEADER + 25);
    const skipped = await start(dir, { recoverSkipCorrupt: true });
    let fresh: string;
    try {
      const rec = skipped.stats().replication.lastRecovery;
      expect(rec?.skipped, "the damaged checkpoint is reported").toBe(1);
      // Its blocks are lost; what is written now is numbered after it, and survives a restart.
      expect(skipped.caps.find(handles[0])).toBeUndefined();
      expect(skipped.stats().replication.seq).toBeGreaterThanOrEqual(seq);
      const r = new Redis({ port: skipped.port });
      fresh = String(await r.call("ALLOC", 100));
      await r.call("WRITE", fresh, 0, "after");
      await r.call("SYNC");
      r.disconnect();
    } finally {
      await skipped.close();
    }
    // The damage is left behind: a start without the option recovers.
    const again = await start(dir);
    try {
      expect(again.caps.find(fresh)).toBeDefined();
    } finally {
      await again.close();
    }
  });

  it("inspect summarizes a healthy directory: segments, records by type, live allocations", async () => {
    const { dir } = await makeLog();
    const text = execFileSync(process.execPath, ["dist/cli/main.js", "inspect", dir], { encoding: "utf8" });
    expect(text).toMatch(/segments: \d+/);
    expect(text).toMatch(/ALLOC 12, FREE 0, MAP 0, UNMAP 0, BATCH 12/);
    expect(text).toMatch(/live: 12 allocations \(18000 bytes\)/);
    expect(text).toMatch(/torn tail: none/);
    const { json, status } = inspect(dir);
    expect(status).toBe(0);
    expect((json.live as { allocations: number }).allocations).toBe(12);
    const bad = spawnSync(process.execPath, ["dist/cli/main.js", "inspect", tempDir()], { encoding: "utf8" });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/holds no mneme replication log/);
  });
});

describe.skipIf(!redis)("a damaged checkpoint on the Redis backend", () => {
  it("with recoverSkipCorrupt: new records go on after its seq (the stream refuses smaller ids), and survive", async () => {
    const replicate = `redis://127.0.0.1:${redis!.port}/damaged-ckp`;
    const first = await start("", { replicate });
    const r1 = new Redis({ port: first.port });
    const old = String(await r1.call("ALLOC", 100));
    await r1.call("SYNC");
    r1.disconnect();
    await first.replication!.checkpoint();
    await first.close();
    const admin = new Redis({ port: redis!.port });
    const key = "mneme:{damaged-ckp}:checkpoint";
    const v = (await admin.getBuffer(key))!;
    v[8 + FILE_HEADER + 25] ^= 0x40;
    await admin.set(key, v);
    const skipped = await start("", { replicate, recoverSkipCorrupt: true });
    let fresh: string;
    try {
      expect(skipped.stats().replication.lastRecovery?.skipped).toBe(1);
      expect(skipped.caps.find(old)).toBeUndefined();
      const r = new Redis({ port: skipped.port });
      fresh = String(await r.call("ALLOC", 100));
      await r.call("WRITE", fresh, 0, "after");
      expect(await r.call("SYNC")).toBe("OK");
      r.disconnect();
    } finally {
      await skipped.close();
    }
    const again = await start("", { replicate });
    try {
      expect(again.caps.find(fresh)).toBeDefined();
    } finally {
      await again.close();
      admin.disconnect();
    }
  });
});

describe.skipIf(!redis)("a page key missing from the Redis log", () => {
  it("refused; with recoverSkipCorrupt each lost record is reported once, the others applied, the log goes on", async () => {
    const replicate = `redis://127.0.0.1:${redis!.port}/missing-page`;
    const first = await start("", { replicate, replicationBatch: 1 });
    const r1 = new Redis({ port: first.port });
    const handles: string[] = [];
    for (let i = 0; i < 4; i++) {
      const h = String(await r1.call("ALLOC", 100));
      await r1.call("WRITE", h, 0, Buffer.alloc(100, i + 1));
      await r1.call("SYNC");
      handles.push(h);
    }
    r1.disconnect();
    await first.close();
    const admin = new Redis({ port: redis!.port });
    try {
      const pageKeys = (await admin.keys("mneme:{missing-page}:pages:*")).sort(
        (a, b) => Number(a.split(":").at(-1)) - Number(b.split(":").at(-1)),
      );
      expect(pageKeys.length).toBe(4);
      // One in the middle and the last one.
      await admin.del(pageKeys[1], pageKeys[3]);
      await expect(start("", { replicate })).rejects.toThrow(LogCorruptionError);
      const skipped = await start("", { replicate, recoverSkipCorrupt: true });
      try {
        expect(skipped.stats().replication.lastRecovery?.skipped, "two records lost, two damages").toBe(2);
        const r = new Redis({ port: skipped.port });
        expect(((await r.callBuffer("READ", handles[1], 0, 1)) as Buffer)[0]).toBe(0);
        expect(((await r.callBuffer("READ", handles[2], 0, 1)) as Buffer)[0]).toBe(3);
        expect(((await r.callBuffer("READ", handles[3], 0, 1)) as Buffer)[0]).toBe(0);
        // New records go after the last one lost: the stream takes them.
        await r.call("WRITE", handles[3], 0, "x");
        expect(await r.call("SYNC")).toBe("OK");
        r.disconnect();
      } finally {
        await skipped.close();
      }
    } finally {
      admin.disconnect();
    }
  });
});

describe("bad replication options are refused with a clear error", () => {
  it("in the config", () => {
    expect(() => new Service({ replicate: "ftp://x", port: 0, memory: 1 << 20 })).toThrow(
      /invalid replicate/,
    );
    expect(() => new Service({ replicate: "file:", port: 0, memory: 1 << 20 })).toThrow(/needs a directory/);
    expect(() => new Service({ replicate: "redis://h:99999", port: 0, memory: 1 << 20 })).toThrow(
      /replicate/,
    );
    expect(() => new Service({ replicationBatch: 0, port: 0, memory: 1 << 20 })).toThrow(/replicationBatch/);
    expect(() => new Service({ appendfsync: "sometimes" as "always", port: 0, memory: 1 << 20 })).toThrow(
      /appendfsync/,
    );
  });

  it("on the command line", () => {
    for (const [args, msg] of [
      [["--replicate", "nowhere"], /invalid --replicate "nowhere"/],
      [["--replication-batch", "0"], /invalid --replication-batch 0/],
      [["--appendfsync", "sometimes"], /invalid --appendfsync/],
    ] as const) {
      const p = spawnSync(
        process.execPath,
        ["dist/cli/main.js", "serve", "--port", "0", "--data", tempDir(), ...args],
        {
          encoding: "utf8",
          timeout: 15_000,
        },
      );
      expect(p.status).toBe(1);
      expect(p.stderr).toMatch(msg);
    }
  });

  it("an unreachable Redis is a clear error at start", async () => {
    const svc = new Service({
      port: 0,
      data: tempDir(),
      memory: 1 << 20,
      replicate: "redis://127.0.0.1:1/x",
    });
    await expect(svc.listen()).rejects.toThrow(/cannot reach Redis at redis:\/\/127\.0\.0\.1:1\/x/);
    await svc.close();
  });
});
