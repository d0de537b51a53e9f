/**
 * Replies around worker jobs: a READ of a plain block is copied into its reply by a worker thread
 * after the I/O thread reserved the bytes; nothing may send those bytes before the copy is done,
 * and nothing a later command writes may land in the block before the copy.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServerProcess, spawnServer, tempDir } from "./helpers.js";

function pattern(size: number, salt: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = 1 + ((i + salt) % 251);
  return b;
}

describe("READs copied by a worker", () => {
  let srv: ServerProcess;
  let r: Redis;
  beforeAll(async () => {
    srv = await spawnServer(["--workers", "1", "--replicate", "off"]);
    r = new Redis({ port: srv.port, lazyConnect: true });
    await r.connect();
  });
  afterAll(async () => {
    r.disconnect();
    await srv.stop();
  });

  it("pipelined before a MAP READ (which finishes first), each READ's reply holds the block's bytes", async () => {
    const size = 1 << 20;
    const block = String(await r.call("ALLOC", size));
    const want = pattern(size, 0);
    await r.callBuffer("WRITE", block, 0, want);
    const region = String(await r.call("MAP", 4096));
    await r.callBuffer("WRITE", region, 0, Buffer.from("resident"));
    let wrong = 0;
    for (let k = 0; k < 20; k++) {
      const p = r.pipeline();
      p.callBuffer("READ", block, 0, size);
      p.callBuffer("READ", region, 0, 8);
      const out = (await p.exec()) ?? [];
      if (!(out[0][1] as Buffer).equals(want)) wrong++;
      expect((out[1][1] as Buffer).toString()).toBe("resident");
    }
    expect(wrong, "READ replies sent before the worker filled them").toBe(0);
  });
});

describe("READs copied by a worker, WRITE replies held for the log (appendfsync always)", () => {
  let srv: ServerProcess;
  let r: Redis;
  beforeAll(async () => {
    srv = await spawnServer([
      "--workers",
      "1",
      "--replicate",
      `file:${tempDir()}`,
      "--appendfsync",
      "always",
    ]);
    r = new Redis({ port: srv.port, lazyConnect: true });
    await r.connect();
  });
  afterAll(async () => {
    r.disconnect();
    await srv.stop();
  });

  it("a WRITE pipelined after a READ of the same bytes does not show in the READ", async () => {
    // Small enough that both commands arrive in one chunk and run in one batch.
    const size = 4096;
    const block = String(await r.call("ALLOC", size));
    let now = pattern(size, 0);
    await r.callBuffer("WRITE", block, 0, now);
    let wrong = 0;
    for (let k = 1; k <= 10; k++) {
      const next = pattern(size, k);
      const p = r.pipeline();
      p.callBuffer("READ", block, 0, size);
      p.callBuffer("WRITE", block, 0, next);
      const out = (await p.exec()) ?? [];
      if (!(out[0][1] as Buffer).equals(now)) wrong++;
      expect(out[1][1]).toBe(size);
      now = next;
    }
    expect(wrong, "READs that returned the WRITE after them").toBe(0);
    expect(((await r.callBuffer("READ", block, 0, size)) as Buffer).equals(now)).toBe(true);
  });
});
