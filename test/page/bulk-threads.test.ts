/**
 * allocBulk in an arena shared by several threads. Another thread's hot pages count as free
 * (stats, freePages) but only that thread hands them out, so a bulk request that needs them must
 * fail cleanly: it used to pass the all-or-nothing check, then walk past the highest free list
 * and hand out addresses read from unrelated words of the page meta (4622260641792, ...).
 */
import { describe, expect, it } from "vitest";
import { Mempool, OutOfMemoryError } from "../../src/index.js";
import type { RemoteCommand, RemoteReply } from "../pool/fixtures/remote-worker.js";
import { fixture, start } from "../pool/helpers.js";

const PS = 4096;

describe("allocBulk beside another thread's hot pages", () => {
  it("refuses what only the other thread's hot stack could serve, changing nothing; vmalloc too", async () => {
    const pool = Mempool.create(4 * 2 ** 20);
    const pages = pool.segments[0].pages;
    const w = start<RemoteReply>(fixture("remote-worker.ts"), { handle: pool.handle }, pool);
    try {
      await w.next();
      // The worker takes single pages (its hot stack is refilled with a whole run) and frees them
      // onto that stack.
      w.worker.postMessage({ op: "alloc", sizes: new Array(16).fill(PS) } satisfies RemoteCommand);
      const { addresses, error } = await w.next();
      expect(error).toBeUndefined();
      w.worker.postMessage({ op: "free", addresses } satisfies RemoteCommand);
      expect((await w.next()).error).toBeUndefined();
      pages.drainHot();
      const own = pages.freePages - pages.otherHotStacks().reduce((n, h) => n + h.count, 0);
      expect(pages.freePages - own, "pages on the worker's hot stack").toBeGreaterThan(0);

      const before = pool.memory.slice();
      expect(() => pages.allocBulk(pages.freePages)).toThrow(OutOfMemoryError);
      expect(() => pages.allocBulk(own + 1)).toThrow(OutOfMemoryError);
      expect(Buffer.compare(pool.memory, before), "arena bytes after the refused allocBulk").toBe(0);
      pool.check();

      // The public road to allocBulk: a vmalloc area one page larger than this thread can take
      // (its page table comes from the heap's reserve, which is not on the free lists).
      const heap = pool.heap;
      const reachable = pages.freePages - pages.otherHotStacks().reduce((n, h) => n + h.count, 0);
      expect(() => heap.vmalloc((reachable + 1) * PS)).toThrow(OutOfMemoryError);
      pool.check();

      // What this thread can reach is still served, every page once and inside the arena.
      const got = pages.allocBulk(own);
      expect(new Set(got).size).toBe(own);
      for (const a of got) {
        expect(a % PS).toBe(0);
        expect(a).toBeLessThan(pool.memory.length);
      }
      pool.check();
      for (const a of got) pages.free(a);
      pool.check();
    } finally {
      w.worker.postMessage({ op: "close" } satisfies RemoteCommand);
      await w.next();
      await w.exited;
    }
  });
});
