/**
 * A cache with a constructor, used across threads: its constructor is a function of the creating
 * thread only, so what "this cache's free objects stay constructed" needs must be known to every
 * thread from the cache's descriptor in the pool.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Mempool } from "../../src/index.js";
import type { RemoteCommand, RemoteReply } from "./fixtures/remote-worker.js";
import { fixture, type Started, start } from "./helpers.js";

const MiB = 2 ** 20;
const MARK = 0xab;

async function command(w: Started<RemoteReply>, c: RemoteCommand): Promise<RemoteReply> {
  w.worker.postMessage(c);
  const reply = await w.next();
  expect(reply.error).toBeUndefined();
  return reply;
}

let running: Started<RemoteReply>[] = [];
afterEach(async () => {
  await Promise.all(running.map((w) => w.worker.terminate()));
  running = [];
});

describe("a constructed cache's objects freed by another worker", () => {
  for (const debug of [false, true]) {
    it(`stay constructed for the creator's next allocations (debug: ${debug})`, async () => {
      const pool = Mempool.create(4 * MiB, { debug });
      const cache = pool.heap.createCache("constructed", 64, {
        ctor: (a, mem) => mem.fill(MARK, a, a + 64),
      });
      const w = start<RemoteReply>(fixture("remote-worker.ts"), { handle: pool.handle }, pool);
      running.push(w);
      await w.next();
      const objects = Array.from({ length: 200 }, () => cache.alloc());
      await command(w, { op: "mfree", addresses: objects });
      // Before, a debug pool's foreign free poisoned the objects, and the creator's next
      // allocations handed them out unconstructed.
      const again = Array.from({ length: 200 }, () => cache.alloc());
      expect(again.filter((a) => objects.includes(a)).length).toBeGreaterThan(0);
      const unconstructed = again.filter((a) => pool.view(a, 64).some((b) => b !== MARK));
      expect(unconstructed).toEqual([]);
      for (const a of again) cache.free(a);
      await command(w, { op: "close" });
      pool.check();
    });
  }
});
