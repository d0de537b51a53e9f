/**
 * `--free-on-close` under reconnects: clients of one identity open connections, ALLOC and MAP,
 * WRITE and READ (a worker thread copies), and close — cleanly, abruptly with a pipeline still
 * running, or by QUIT in the middle of one — while a long-lived connection of the same identity
 * keeps blocks of its own. Every block a closed connection made must be freed (its handle
 * refused, its bytes back in the pool and in the identity's quota, a FREE in the log), MAP
 * regions stay (the option frees anonymous blocks only), and the long-lived connection's blocks
 * keep their contents. After a restart on the same log, exactly the blocks still held come back.
 */
import { afterAll, describe, expect, it } from "vitest";
import { rng } from "../helpers/rng.js";
import { frame, type ServerProcess, spawnServer, tempDir } from "./helpers.js";
import { RespConn, type RespReply } from "./resp-conn.js";

const ROUNDS = 30;

async function call(c: RespConn, ...words: (string | Buffer)[]): Promise<RespReply | undefined> {
  c.send(frame(...words));
  return c.next();
}

async function stats(port: number): Promise<Map<string, number>> {
  const c = await RespConn.open(port);
  try {
    const r = (await call(c, "STATS")) as RespReply[];
    const m = new Map<string, number>();
    for (let i = 0; i < r.length; i += 2) m.set(String(r[i]), Number(r[i + 1]));
    return m;
  } finally {
    c.destroy();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe("free-on-close under reconnects (a worker thread, appendfsync always)", () => {
  const servers: ServerProcess[] = [];
  afterAll(async () => {
    for (const s of servers) await s.stop();
  });

  it(`${ROUNDS} short-lived connections: what each made is freed, the long-lived one's blocks and every region stay`, async () => {
    const dir = tempDir();
    const args = [
      "--free-on-close",
      "--workers",
      "1",
      "--replicate",
      `file:${dir}`,
      "--appendfsync",
      "always",
    ];
    const srv = await spawnServer(args);
    servers.push(srv);
    const rand = rng(5);
    const keeper = await RespConn.open(srv.port);
    const kept = new Map<string, Buffer>();
    const regions = new Map<string, Buffer>();
    const freed: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const data = Buffer.alloc(100 + Math.floor(rand() * 9000), 1 + (round % 250));
      const k = String(await call(keeper, "ALLOC", String(data.length)));
      expect(await call(keeper, "WRITE", k, "0", data)).toBe(data.length);
      kept.set(k, data);
      const c = await RespConn.open(srv.port);
      const made: string[] = [];
      for (let i = 0; i < 1 + Math.floor(rand() * 4); i++) made.push(String(await call(c, "ALLOC", "5000")));
      const region = String(await call(c, "MAP", "8192"));
      const mark = Buffer.from(`region ${round}`);
      expect(await call(c, "WRITE", region, "0", mark)).toBe(mark.length);
      regions.set(region, mark);
      // The connection's last pipeline: writes and reads of its blocks, and of the keeper's.
      const pipeline: Buffer[] = [];
      for (const h of made)
        pipeline.push(frame("WRITE", h, "0", Buffer.alloc(5000, 7)), frame("READ", h, "0", "5000"));
      pipeline.push(frame("READ", k, "0", String(data.length)));
      const how = rand();
      if (how < 0.3) pipeline.splice(Math.floor(rand() * pipeline.length), 0, frame("QUIT"));
      c.send(Buffer.concat(pipeline));
      if (how < 0.6) await sleep(Math.floor(rand() * 3));
      else while ((await c.next()) !== undefined && pipeline.length-- > 1);
      c.destroy();
      await c.closed;
      freed.push(...made);
    }
    // The server learns of each close asynchronously: wait until the last one is seen.
    let s = await stats(srv.port);
    for (let i = 0; i < 200 && s.get("handles") !== kept.size + regions.size; i++) {
      await sleep(10);
      s = await stats(srv.port);
    }
    expect(s.get("handles"), "handles: the keeper's blocks and every region").toBe(kept.size + regions.size);
    for (const h of freed) {
      const r = await call(keeper, "SIZE", h);
      expect(r instanceof Error && /invalid handle/.test(r.message), `${h} was freed`).toBe(true);
    }
    const check = async (port: number, c: RespConn) => {
      for (const [h, want] of kept) expect(await call(c, "READ", h, "0", String(want.length))).toEqual(want);
      for (const [h, want] of regions)
        expect(await call(c, "READ", h, "0", String(want.length))).toEqual(want);
      const now = await stats(port);
      expect(now.get("handles")).toBe(kept.size + regions.size);
    };
    await check(srv.port, keeper);
    // The keeper frees its own: nothing is left charged but the regions (8 KiB each).
    for (const h of kept.keys()) expect(String(await call(keeper, "FREE", h))).toBe("OK");
    kept.clear();
    const after = await stats(srv.port);
    expect(after.get("identity_handles")).toBe(regions.size);
    expect(after.get("identity_bytes")).toBe(regions.size * 8192);
    keeper.destroy();
    await srv.stop("SIGKILL");
    servers.splice(servers.indexOf(srv), 1);
    // The log: the freed blocks stay freed, the regions come back.
    const again = await spawnServer(args);
    servers.push(again);
    const c = await RespConn.open(again.port);
    try {
      await check(again.port, c);
      for (const h of freed) expect((await call(c, "SIZE", h)) instanceof Error).toBe(true);
    } finally {
      c.destroy();
    }
  });
});
