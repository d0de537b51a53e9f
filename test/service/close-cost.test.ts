/**
 * A connection's close touches the blocks it made and no other: it scanned every handle of the
 * server twice (orphan, and free-on-close's search), 15 ms per close with a million handles, for
 * every connection that came and went. Other connections' blocks here count every read of their
 * `conn` field; a close must read none, with free-on-close or without, and still free (or keep)
 * its own blocks.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Service } from "../../src/service/server.js";
import { frame, startService } from "./helpers.js";
import { RespConn } from "./resp-conn.js";

let svc: Service | null = null;

afterEach(async () => {
  await svc?.close();
  svc = null;
});

/** Blocks of some other connection (ids are never reused), each counting reads of its `conn`. */
function othersBlocks(s: Service, count: number): { reads: () => number } {
  let reads = 0;
  for (let i = 0; i < count; i++) {
    const cap = s.caps.grant(s.pool.heap.malloc(16), 16, 16, "default", "anon", 1_000_000 + i);
    const conn = cap.conn;
    Object.defineProperty(cap, "conn", {
      get: () => {
        reads++;
        return conn;
      },
    });
  }
  return { reads: () => reads };
}

async function untilNoClients(s: Service): Promise<void> {
  for (let i = 0; i < 2000 && s.clientCount > 0; i++) await new Promise((r) => setTimeout(r, 5));
  expect(s.clientCount).toBe(0);
}

describe("closing a connection", () => {
  for (const freeOnClose of [false, true]) {
    it(`reads none of the other connections' blocks (free-on-close ${freeOnClose ? "on" : "off"})`, async () => {
      svc = await startService({ freeOnClose });
      const others = othersBlocks(svc, 1000);
      const c = await RespConn.open(svc.port);
      c.send(Buffer.concat([frame("ALLOC", "100"), frame("ALLOC", "5000"), frame("MAP", "8192")]));
      const handles = [await c.next(), await c.next(), await c.next()].map(String);
      expect(svc.caps.size).toBe(1003);
      c.destroy();
      await untilNoClients(svc);
      expect(others.reads()).toBe(0);
      // Free-on-close frees the connection's two blocks (not its MAP region); otherwise all stay.
      expect(svc.caps.size).toBe(freeOnClose ? 1001 : 1003);
      expect(svc.caps.lookup(handles[0], "default") === undefined).toBe(freeOnClose);
      expect(svc.caps.lookup(handles[2], "default")).toBeDefined();
    });
  }
});
