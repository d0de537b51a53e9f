import { PassThrough } from "node:stream";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { recoveryBar } from "../../src/replication/progress-bar.js";
import { Service } from "../../src/service/server.js";
import { startService, tempDir } from "../service/helpers.js";

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
});
