/**
 * Replies around worker jobs: a READ of a plain block is copied into its reply by a worker thread
 * after the I/O thread reserved the bytes; nothing may send those bytes before the copy is done.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServerProcess, spawnServer } from "./helpers.js";

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

describe("READs copied by a worker", () => {
  it("pipelined before a MAP READ (which finishes first), each READ's reply holds the block's bytes", async () => {
    const size = 1 << 20;
    const block = String(await r.call("ALLOC", size));
    const want = Buffer.alloc(size);
    for (let i = 0; i < size; i++) want[i] = 1 + (i % 251);
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
