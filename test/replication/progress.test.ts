import { PassThrough } from "node:stream";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { recoveryBar } from "../../src/replication/progress-bar.js";
import { Service } from "../../src/service/server.js";
import { startRedis } from "../helpers/redis.js";
import { startService, tempDir } from "../service/helpers.js";

const redis = await startRedis();
afterAll(() => redis?.stop());

function fakeTerminal(tty: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  const s = new PassThrough();
  let out = "";
  s.on("data", (d) => {
    out += d;
  });
  Object.assign(s, {
    isTTY: tty,
    columns: 100,
    cursorTo: () => true,
    clearLine: () => true,
    moveCursor: () => true,
  });
  return { stream: s as unknown as NodeJS.WriteStream, text: () => out };
}

describe("recovery progress bar", () => {
  it("draws on a terminal during a recovery, and never when the output is not a terminal", async () => {
    const dir = tempDir();
    const a = await startService({ replicate: `file:${dir}`, segmentSize: 4096, replicationBatch: 1 });
    const r = new Redis({ port: a.port });
    for (let i = 0; i < 10; i++)
      await r.call("WRITE", String(await r.call("ALLOC", 4096)), 0, Buffer.alloc(4096, i));
    await r.call("SYNC");
    r.disconnect();
    await a.close();
    for (const tty of [true, false]) {
      const svc = new Service({ port: 0, data: tempDir(), memory: 16 << 20, replicate: `file:${dir}` });
      const term = fakeTerminal(tty);
      const bar = recoveryBar(svc, term.stream, 0);
      await svc.listen().finally(() => bar.stop());
      expect(svc.stats().replication.lastRecovery!.allocations).toBe(10);
      if (tty) expect(term.text()).toMatch(/recovering \[.*\] 100% \| \d+\/\d+ bytes of log/);
      else expect(term.text()).toBe("");
      await svc.close();
    }
  });

  /** Writes 10 blocks of 4 KiB; then, if asked, a checkpoint that leaves no log after it. */
  async function fill(replicate: string, checkpoint: boolean): Promise<void> {
    const a = await startService({ replicate, segmentSize: 4096, replicationBatch: 1 });
    const r = new Redis({ port: a.port });
    for (let i = 0; i < 10; i++)
      await r.call("WRITE", String(await r.call("ALLOC", 4096)), 0, Buffer.alloc(4096, i + 1));
    await r.call("SYNC");
    r.disconnect();
    if (checkpoint) await a.replication!.checkpoint();
    await a.close();
  }

  /** The bar's last figures after a recovery from `replicate`, and what the recovery read. */
  async function lastFigures(replicate: string): Promise<{ shown: string; read: number }> {
    const svc = new Service({ port: 0, data: tempDir(), memory: 16 << 20, replicate });
    const term = fakeTerminal(true);
    const bar = recoveryBar(svc, term.stream, 0);
    await svc.listen().finally(() => bar.stop());
    const read = svc.stats().replication.lastRecovery!.bytes;
    await svc.close();
    const all = [...term.text().matchAll(/(\d+)% \| (\d+)\/(\d+) bytes of log/g)];
    return { shown: all.at(-1)?.slice(1).join(" ") ?? "", read };
  }

  it("a recovery from a checkpoint alone (no log after it) shows the bar, in bytes read", async () => {
    const dir = tempDir();
    await fill(`file:${dir}`, true);
    const { shown, read } = await lastFigures(`file:${dir}`);
    expect(read).toBeGreaterThan(40_000);
    expect(shown).toBe(`100 ${read} ${read}`);
  });

  it.skipIf(!redis)("from Redis, the bar counts bytes of log, not stream entries", async () => {
    const url = `${redis!.url}/progress${Date.now()}`;
    await fill(url, false);
    const { shown, read } = await lastFigures(url);
    expect(read).toBeGreaterThan(40_000);
    expect(shown).toBe(`100 ${read} ${read}`);
  });
});
