/**
 * The file backend's writer: segments that fill up are fsynced and closed in the background while
 * the next one is written, and durable() covers them all.
 */
import { spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MnemeError } from "../../src/errors.js";
import { LOCK_FILE } from "../../src/replication/dir-lock.js";
import { checkpointName, FileBackend, segmentName } from "../../src/replication/file-backend.js";
import { encodeFree, RecordType } from "../../src/replication/format.js";
import { startService } from "../service/helpers.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("file backend rotation", () => {
  it("durable() resolves only once every segment closed by a rotation is fsynced; nothing is lost", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mneme-fb-"));
    dirs.push(dir);
    // A slow disk: each closed segment's fsync starts 20 ms late, long after the writes are done.
    const b = new FileBackend(dir, { segmentSize: 4096, rotationPauseMs: 20 });
    await b.open();
    await b.startAppending(0);
    const n = 100;
    for (let seq = 1; seq <= n; seq++)
      b.append(seq, encodeFree(seq, RecordType.FREE, `h${seq}`.padEnd(500, "x")));
    await b.durable();
    const segments = b.segments().length;
    expect(segments).toBeGreaterThan(8);
    // One fsync per closed segment (in the background) and at least one for the open one.
    expect(b.stats().fsyncs).toBeGreaterThanOrEqual(segments);
    expect(b.queued()).toBe(0);
    await b.close();
    const seen: number[] = [];
    const fresh = new FileBackend(dir, { segmentSize: 4096 });
    await fresh.open();
    await fresh.replay(0, (e) => void seen.push(e.seq), { skipCorrupt: false });
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  });

  it("records appended while a checkpoint's image is built survive the checkpoint", async () => {
    // The replicator reads MAP pages through the vm while it builds an image, so records after
    // the image's seq reach the log before checkpoint() drops the segments up to that seq.
    const dir = mkdtempSync(join(tmpdir(), "mneme-fb-"));
    dirs.push(dir);
    const b = new FileBackend(dir, { segmentSize: 1 << 20 });
    await b.open();
    await b.startAppending(0);
    const rec = (seq: number) => encodeFree(seq, RecordType.FREE, `h${seq}`);
    for (let seq = 1; seq <= 3; seq++) b.append(seq, rec(seq));
    b.beginCheckpoint(3);
    for (let seq = 4; seq <= 5; seq++) b.append(seq, rec(seq));
    await b.durable();
    await b.checkpoint(3, []);
    b.append(6, rec(6));
    await b.durable();
    await b.close();
    const seen: number[] = [];
    const fresh = new FileBackend(dir, { segmentSize: 1 << 20 });
    await fresh.open();
    await fresh.replay(3, (e) => void seen.push(e.seq), { skipCorrupt: false });
    expect(seen).toEqual([4, 5, 6]);
  });

  it("a failed background fsync of a closed segment fails durable() and stops the writer", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mneme-fb-"));
    dirs.push(dir);
    const probe = await open(join(dir, "probe"), "w");
    const proto = Object.getPrototypeOf(probe) as { datasync(): Promise<void> };
    await probe.close();
    const spy = vi.spyOn(proto, "datasync").mockRejectedValueOnce(new Error("EIO: the disk said no"));
    try {
      const b = new FileBackend(dir, { segmentSize: 4096, rotationPauseMs: 5 });
      await b.open();
      await b.startAppending(0);
      for (let seq = 1; seq <= 40; seq++)
        b.append(seq, encodeFree(seq, RecordType.FREE, `h${seq}`.padEnd(500, "x")));
      await expect(b.durable()).rejects.toThrow(/EIO/);
      await expect(b.durable()).rejects.toThrow(/EIO/);
      await b.close();
    } finally {
      spy.mockRestore();
    }
  });
});

describe("a full disk", () => {
  // A segment that is /dev/full: every write to it fails with ENOSPC, as on a disk that filled up.
  it("fails durable() with a typed error naming the log, not a bare ENOSPC", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mneme-fb-"));
    dirs.push(dir);
    const b = new FileBackend(dir, { segmentSize: 1 << 20 });
    await b.open();
    await b.startAppending(0);
    symlinkSync("/dev/full", join(dir, segmentName(1)));
    b.append(1, encodeFree(1, RecordType.FREE, "h1"));
    const err = await b.durable().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MnemeError);
    expect((err as MnemeError).code).toBe("EREPLICATION");
    expect((err as MnemeError).message).toMatch(new RegExp(`replication log ${dir} failed: ENOSPC`));
    expect(b.failure()).toBe(err);
    await expect(b.durable()).rejects.toBe(err);
    await b.close();
  });

  it("a checkpoint that cannot be written leaves no half-written image behind", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mneme-fb-"));
    dirs.push(dir);
    const b = new FileBackend(dir, { segmentSize: 1 << 20 });
    await b.open();
    await b.startAppending(0);
    b.append(1, encodeFree(1, RecordType.FREE, "h1"));
    await b.durable();
    symlinkSync("/dev/full", join(dir, `${checkpointName(1)}.tmp`));
    b.beginCheckpoint(1);
    await expect(b.checkpoint(1, [Buffer.alloc(8192)])).rejects.toThrow(/ENOSPC/);
    expect(readdirSync(dir).sort()).toEqual([segmentName(1), LOCK_FILE].sort());
    await b.close();
  });

  it("under always, a client's WRITE and SYNC are answered with that error, and INFO says it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mneme-fb-"));
    dirs.push(dir);
    const svc = await startService({ replicate: `file:${dir}`, appendfsync: "always", segmentSize: 4096 });
    const r = new Redis({ port: svc.port });
    try {
      const h = String(await r.call("ALLOC", 3000));
      const seq = svc.stats().replication.seq;
      // The next rotation, whatever seq it comes at within the next few records, hits the full disk.
      for (let k = 1; k <= 8; k++) symlinkSync("/dev/full", join(dir, segmentName(seq + k)));
      let refused: Error | null = null;
      for (let i = 0; i < 8 && refused === null; i++)
        await r.call("WRITE", h, 0, Buffer.alloc(3000, i + 1)).catch((e: Error) => {
          refused = e;
        });
      expect(String(refused)).toMatch(/replication log .* failed: ENOSPC/);
      await expect(r.call("SYNC")).rejects.toThrow(/replication log .* failed: ENOSPC/);
      expect(svc.stats().replication.failure).toMatch(/^replication log .* failed: ENOSPC/);
    } finally {
      r.disconnect();
      await svc.close().catch(() => {});
    }
  });
});

describe("file backend directory", () => {
  it("is one server's: a second one is refused while the first lives, and takes over once it is gone", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mneme-fb-"));
    dirs.push(dir);
    // Another process holding the lock, as a first `mneme serve` on the directory would.
    const other = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
    try {
      writeFileSync(join(dir, LOCK_FILE), `${other.pid}\n`);
      const svcErr = await startService({ replicate: `file:${dir}` }).then(
        async (s) => {
          await s.close();
          return null;
        },
        (e: unknown) => e,
      );
      expect(svcErr).toBeInstanceOf(MnemeError);
      expect((svcErr as MnemeError).code).toBe("ELOCKED");
      expect((svcErr as MnemeError).message).toContain(`is in use by process ${other.pid}`);
      expect(readFileSync(join(dir, LOCK_FILE), "utf8")).toBe(`${other.pid}\n`);
      expect(readdirSync(dir)).toEqual([LOCK_FILE]);
    } finally {
      const gone = new Promise((r) => other.once("exit", r));
      other.kill("SIGKILL");
      await gone;
    }
    // Its owner killed (kill -9 leaves the file): stale, taken over, and released by close().
    const b = new FileBackend(dir, { segmentSize: 4096 });
    await b.open();
    expect(readFileSync(join(dir, LOCK_FILE), "utf8")).toBe(`${process.pid}\n`);
    await b.close();
    expect(readdirSync(dir)).toEqual([]);
  });

  it.skipIf(!existsSync("/proc/self/stat"))(
    "a lock whose owner was killed but not yet reaped by its parent (a zombie) is taken over",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "mneme-fb-"));
      dirs.push(dir);
      // A shell that starts a child and stops itself, so it never reaps the child once killed.
      const sh = spawn("sh", ["-c", "sleep 60 & echo $!; kill -STOP $$"], {
        stdio: ["ignore", "pipe", "ignore"],
      });
      try {
        const pid = await new Promise<number>((r) =>
          sh.stdout!.once("data", (d) => r(Number(String(d).trim()))),
        );
        const state = (p: number) => readFileSync(`/proc/${p}/stat`, "latin1").split(") ").at(-1)?.[0];
        const until = async (p: number, s: string) => {
          const deadline = Date.now() + 20_000;
          while (state(p) !== s && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
          expect(state(p)).toBe(s);
        };
        // Stopped first: a running shell would reap its child as soon as it dies.
        await until(sh.pid!, "T");
        process.kill(pid, "SIGKILL");
        await until(pid, "Z");
        writeFileSync(join(dir, LOCK_FILE), `${pid}\n`);
        const b = new FileBackend(dir, { segmentSize: 4096 });
        await b.open();
        expect(readFileSync(join(dir, LOCK_FILE), "utf8")).toBe(`${process.pid}\n`);
        await b.close();
      } finally {
        sh.kill("SIGKILL");
      }
    },
  );

  it("open() removes the checkpoints it was writing, and no other *.tmp of the directory", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mneme-fb-"));
    dirs.push(dir);
    const mine = `${checkpointName(12)}.tmp`;
    for (const f of [mine, "notes.tmp", "checkpoint.tmp"]) writeFileSync(join(dir, f), "x");
    const b = new FileBackend(dir, { segmentSize: 4096 });
    await b.open();
    expect(readdirSync(dir).sort()).toEqual(["checkpoint.tmp", LOCK_FILE, "notes.tmp"].sort());
    await b.close();
  });

  it("an unusable directory is a DataDirectoryError at open, never a hang (Node's recursive mkdir loops below /proc)", () => {
    // In a child process: the old code spun in a synchronous loop, which no test timeout interrupts.
    const script =
      'import { FileBackend } from "./src/replication/file-backend.ts";\n' +
      'new FileBackend("/proc/nonexistent/x", { segmentSize: 4096 }).open().then(\n' +
      '  () => console.log("opened"), (e) => console.log(e.name, e.message));\n';
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: new URL("../../", import.meta.url).pathname,
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(r.error, "the open did not return").toBeUndefined();
    expect(r.stdout).toMatch(/^DataDirectoryError replication directory \/proc\/nonexistent\/x: /);
  });
});
