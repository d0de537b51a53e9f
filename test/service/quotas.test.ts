/**
 * Quotas of one identity under four connections at once: each pipelines ALLOCs of random sizes
 * with READs and FREEs of what it holds, so charges and refunds of the same identity interleave
 * (with a worker thread, a FREE's refund waits for the job that pins the block). A sixth
 * connection samples STATS all along: the identity never holds more than its handle and byte
 * limits, an ALLOC is only ever refused for the quota, and when all is freed nothing is charged.
 */
import { describe, expect, it } from "vitest";
import { rng } from "../helpers/rng.js";
import { frame, spawnServer, tempDir } from "./helpers.js";
import { RespConn, type RespReply } from "./resp-conn.js";

const HANDLES = 6;
const BYTES = 40_000;

async function stats(c: RespConn): Promise<Map<string, number>> {
  c.send(frame("STATS"));
  const r = (await c.next()) as RespReply[];
  const m = new Map<string, number>();
  for (let i = 0; i < r.length; i += 2) m.set(String(r[i]), Number(r[i + 1]));
  return m;
}

async function client(port: number, seed: number): Promise<number> {
  const rand = rng(seed);
  const c = await RespConn.open(port);
  const held: string[] = [];
  let refused = 0;
  try {
    for (let k = 0; k < 150; k++) {
      const frames: Buffer[] = [];
      const allocs = 1 + Math.floor(rand() * 3);
      for (let j = 0; j < allocs; j++) frames.push(frame("ALLOC", String(1 + Math.floor(rand() * 9000))));
      const frees = held.splice(0, Math.floor(rand() * (held.length + 1)));
      for (const h of frees) frames.push(frame("READ", h, "0", "1"), frame("FREE", h));
      c.send(Buffer.concat(frames));
      for (let j = 0; j < allocs; j++) {
        const r = await c.next();
        if (r instanceof Buffer) held.push(r.toString());
        else if (r instanceof Error && /quota exceeded/.test(r.message)) refused++;
        else throw new Error(`ALLOC: ${String(r)}`);
      }
      for (const h of frees) {
        expect((await c.next()) instanceof Buffer, `READ ${h}`).toBe(true);
        expect(String(await c.next()), `FREE ${h}`).toBe("OK");
      }
    }
    for (const h of held) {
      c.send(frame("FREE", h));
      expect(String(await c.next())).toBe("OK");
    }
  } finally {
    c.destroy();
  }
  return refused;
}

for (const [label, extra] of [
  ["inline copies", ["--replicate", "off"]],
  ["a worker thread, appendfsync always", ["--workers", "1", "--appendfsync", "always"]],
] as const) {
  describe(`quotas of one identity under four connections (${label})`, () => {
    it(`never above ${HANDLES} handles or ${BYTES} bytes; nothing charged at the end`, async () => {
      const replicate = label.startsWith("inline") ? [] : ["--replicate", `file:${tempDir()}`];
      const srv = await spawnServer([
        "--quota-handles",
        String(HANDLES),
        "--quota-bytes",
        String(BYTES),
        ...replicate,
        ...extra,
      ]);
      const watcher = await RespConn.open(srv.port);
      try {
        const over: string[] = [];
        let running = true;
        const watching = (async () => {
          while (running) {
            const m = await stats(watcher);
            if (m.get("identity_handles")! > HANDLES || m.get("identity_bytes")! > BYTES)
              over.push(`${m.get("identity_handles")} handles, ${m.get("identity_bytes")} bytes`);
          }
        })();
        const refused = await Promise.all([1, 2, 3, 4].map((seed) => client(srv.port, seed)));
        running = false;
        await watching;
        expect(over.slice(0, 3)).toEqual([]);
        expect(
          refused.reduce((a, b) => a + b, 0),
          "the quota was reached",
        ).toBeGreaterThan(0);
        const end = await stats(watcher);
        expect(end.get("identity_handles")).toBe(0);
        expect(end.get("identity_bytes")).toBe(0);
      } finally {
        watcher.destroy();
        await srv.stop();
      }
    });
  });
}
