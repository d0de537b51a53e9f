/**
 * Replies that need more reply buffers than are free when they are written: an asynchronous
 * command's reply (ALLOC under `appendfsync always`, a MAP READ) after other connections took the
 * slots that were free when it started, and replies whose size is known only once they ran (INFO,
 * CLIENT LIST), past what is free or past the whole pool. They wait for slots and go out in
 * pieces, in order, and the commands after them wait; they used to end the server with "reply
 * buffers exhausted". The slots are taken here as other connections' unsent replies would hold them.
 */
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import type { Service } from "../../src/service/server.js";
import { startService, tempDir } from "./helpers.js";

const SMALL = { replyBuffers: 8, replyBufferSize: 1024, maxBulk: 4096 };
let svc: Service | null = null;
let r: Redis | null = null;

afterEach(async () => {
  r?.disconnect();
  await svc?.close();
  svc = null;
  r = null;
});

async function open(config: Parameters<typeof startService>[0]): Promise<[Service, Redis]> {
  svc = await startService({ ...SMALL, ...config });
  r = new Redis({ port: svc.port, lazyConnect: true });
  await r.connect();
  return [svc, r];
}

/** Takes every free reply buffer but `leave`; returns a function that gives them back. */
function takeSlots(s: Service, leave: number): () => void {
  const taken: number[] = [];
  while (s.replyBuffers.free > leave) taken.push(s.replyBuffers.acquire());
  return () => {
    for (const t of taken) s.replyBuffers.release(t);
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms));
}

describe("replies larger than the free reply buffers", () => {
  it("INFO (three slots) with one slot free: it waits, then arrives whole, then PONG", async () => {
    const [s, c] = await open({});
    const giveBack = takeSlots(s, 1);
    const info = c.call("INFO");
    const pong = c.ping();
    await sleep(50);
    giveBack();
    const text = String(await info);
    expect(text.length).toBeGreaterThan(2 * SMALL.replyBufferSize);
    expect(text).toContain("# Mneme");
    expect(await pong).toBe("PONG");
    expect(s.replyBuffers.stats().replyBufferWaits).toBeGreaterThan(0);
  });

  it("CLIENT LIST of 60 connections, larger than the whole pool: it goes out in pieces", async () => {
    const [s, c] = await open({});
    const others = Array.from({ length: 60 }, () => new Redis({ port: s.port, lazyConnect: true }));
    try {
      await Promise.all(others.map((o) => o.connect()));
      const list = String(await c.call("CLIENT", "LIST"));
      expect(list.length).toBeGreaterThan(SMALL.replyBuffers * SMALL.replyBufferSize);
      expect(list.trim().split("\n")).toHaveLength(61);
      expect(await c.ping()).toBe("PONG");
    } finally {
      for (const o of others) o.disconnect();
    }
  });

  it("an ALLOC under appendfsync always whose reply is due after others took every slot", async () => {
    const [s, c] = await open({ replicate: `file:${tempDir()}`, appendfsync: "always" });
    const allocs = s.counters.allocs;
    const handle = c.call("ALLOC", 100);
    const size = c.call("PING");
    while (s.counters.allocs === allocs) await new Promise((res) => setImmediate(res));
    // The ALLOC ran with slots free; its reply waits for the log's fsync, and meanwhile they go.
    const giveBack = takeSlots(s, 0);
    await sleep(50);
    giveBack();
    const h = String(await handle);
    expect(h).toMatch(/^[0-9a-f]+\.[0-9a-f]{32}$/);
    expect(await size).toBe("PONG");
    expect(await c.call("SIZE", h)).toBe(100);
  });

  it("a MAP READ whose page-in ends after others took the slots: its bytes, then the next reply", async () => {
    const [s, c] = await open({ mapFrames: 16 });
    const region = String(await c.call("MAP", 64 * 4096));
    const want = Buffer.alloc(3900, 0x5a);
    await c.callBuffer("WRITE", region, 100, want);
    // Pushed out of the 16 frames: the READ below faults it back in from swap.
    for (let p = 1; p < 64; p++) await c.callBuffer("WRITE", region, p * 4096, Buffer.alloc(4096, p));
    const reads = s.counters.reads;
    const read = c.callBuffer("READ", region, 100, 3900);
    const echo = c.call("ECHO", "after");
    while (s.counters.reads === reads) await new Promise((res) => setImmediate(res));
    const giveBack = takeSlots(s, 0);
    await sleep(50);
    giveBack();
    expect(((await read) as Buffer).equals(want)).toBe(true);
    expect(await echo).toBe("after");
    expect(s.replyBuffers.stats().replyBuffersInUse).toBe(0);
  });
});

describe("READs larger than a connection's share of the reply buffers", () => {
  it("pipelined one after another: each waits for the one before to be sent, none waits forever", async () => {
    // 8 slots of 1 KiB, a share of 4: a READ of 4 KiB needs 5, so it runs only once the
    // connection holds none. The second one used to stall for good after the first was sent.
    const [s, c] = await open({});
    const h = String(await c.call("ALLOC", 4096));
    const want = Buffer.alloc(4096, 0x61);
    await c.callBuffer("WRITE", h, 0, want);
    const p = c.pipeline();
    for (let i = 0; i < 3; i++) p.callBuffer("READ", h, 0, 4096);
    p.call("PING");
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("the pipeline got no replies in 30 s")), 30_000);
    });
    const out = (await Promise.race([p.exec(), hung]).finally(() => clearTimeout(timer))) ?? [];
    expect(out.map(([e, v]) => e ?? (Buffer.isBuffer(v) ? v.equals(want) : v))).toEqual([
      true,
      true,
      true,
      "PONG",
    ]);
    expect(s.replyBuffers.stats().replyBuffersInUse).toBe(0);
  });
});
