/**
 * Per-worker block caches and the lock-free remote-free lists (src/pool/block-cache.ts): a freed
 * block of a few pages is parked for the worker that allocated it, counts as free everywhere, is
 * refused as a second free, goes back to the pool when its worker leaves or dies and before any
 * allocation fails; a block another worker frees goes back to its allocator without the lock.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CorruptionError,
  DoubleFreeError,
  InvalidAddressError,
  InvalidArgumentError,
  Mempool,
  OutOfPoolMemoryError,
  reviveError,
} from "../../src/index.js";
import { OWNER_PARKED, SL_INFLIGHT_CUR, SL_INFLIGHT_NEXT, SL_REMOTE_HEAD } from "../../src/pool/layout.js";
import type { RemoteCommand, RemoteReply } from "./fixtures/remote-worker.js";
import { expectCleanFailure, fillPool, fixture, start } from "./helpers.js";

const PS = 4096;
const MiB = 2 ** 20;

/** Pages the dump says are parked for the main thread's slot (0 when it says nothing). */
function parkedForMain(pool: Mempool): number {
  const line = pool
    .debugInfo()
    .split("\n")
    .find((l) => l.includes(`slot ${pool.segments[0].slot} `));
  const m = line?.match(/(\d+) free page\(s\) parked/);
  return m ? Number(m[1]) : 0;
}

function command(w: ReturnType<typeof start<RemoteReply>>, c: RemoteCommand): Promise<RemoteReply> {
  w.worker.postMessage(c);
  return w.next();
}

describe("block cache", () => {
  it("a freed 2-8 page block stays free for its worker and is its next block of that size", () => {
    const pool = Mempool.create(16 * MiB);
    const free0 = pool.stats().free;
    const a = pool.alloc(3 * PS - 10);
    const b = pool.alloc(5 * PS);
    pool.free(a);
    pool.free(b);
    // Parked, and free as far as anyone can tell.
    expect(pool.stats().free).toBe(free0);
    expect(parkedForMain(pool)).toBe(8);
    // Its owner entry stays the worker's: parking writes no line of the owner map.
    expect(pool.segments[0].owners[a / PS]).toBe(pool.segments[0].slot);
    expect(pool.segments[0].blocks.holds(pool.segments[0].slot, a / PS)).toBe(true);
    pool.check();
    expect(pool.alloc(3 * PS)).toBe(a);
    expect(pool.alloc(4 * PS + 1)).toBe(b);
    expect(parkedForMain(pool)).toBe(0);
    // Served by the fast paths (no lock), charged to the worker exactly.
    expect(pool.stats().workers[0]).toMatchObject({ allocations: 2, bytes: 8 * PS });
    pool.free(b);
    expect(pool.stats().workers[0]).toMatchObject({ allocations: 1, bytes: 3 * PS });
    pool.check();
  });

  it("workerCachePages: 0 turns it off: a freed block goes straight back to the buddy lists", () => {
    const pool = Mempool.create(16 * MiB, { workerCachePages: 0 });
    const a = pool.alloc(3 * PS);
    pool.free(a);
    expect(pool.segments[0].owners[a / PS]).toBe(0);
    expect(parkedForMain(pool)).toBe(0);
    pool.check();
    // Every size the block caches would serve still works, with exact figures (and with objects on
    // the array caches, which sit where the block caches would be).
    const objects = [8, 16, 24, 32].map((n) => pool.heap.malloc(n));
    const blocks = [2, 3, 4, 5, 6, 7, 8, 8, 2].map((n) => pool.alloc(n * PS - 1));
    expect(new Set(blocks).size).toBe(blocks.length);
    expect(pool.stats().workers[0]).toMatchObject({ allocations: 9, bytes: 45 * PS });
    for (const b of blocks) pool.free(b);
    expect(pool.stats().workers[0]).toMatchObject({ allocations: 0, bytes: 0 });
    for (const o of objects) pool.heap.free(o);
    pool.check();
  });

  it("refuses bad cache options with a typed error", () => {
    for (const v of [-1, 1.5, Number.NaN, 2 ** 21])
      expect(() => Mempool.create(MiB, { workerCachePages: v })).toThrow(InvalidArgumentError);
    for (const v of [0, 13, 2.5, 5000])
      expect(() => Mempool.create(MiB, { workerCacheObjects: v })).toThrow(InvalidArgumentError);
  });

  it("a parked block is free: a second free is a DoubleFreeError and size() an InvalidAddressError, nothing changes", () => {
    const pool = Mempool.create(16 * MiB);
    const a = pool.alloc(4 * PS);
    pool.free(a);
    expectCleanFailure(pool, DoubleFreeError, () => pool.free(a));
    expectCleanFailure(pool, InvalidAddressError, () => pool.size(a));
    expectCleanFailure(pool, InvalidAddressError, () => pool.free(a + PS));
  });

  it("a worker parks at most workerCachePages pages; the rest goes back at once", () => {
    const pool = Mempool.create(16 * MiB, { workerCachePages: 8 });
    const blocks = [0, 1, 2, 3].map(() => pool.alloc(3 * PS));
    for (const b of blocks) pool.free(b);
    expect(parkedForMain(pool)).toBe(6);
    const seg = pool.segments[0];
    expect(blocks.filter((b) => seg.blocks.holds(seg.owners[b / PS], b / PS))).toHaveLength(2);
    expect(blocks.filter((b) => seg.owners[b / PS] === 0)).toHaveLength(2);
    pool.check();
  });

  it("by default a worker parks at most its share of an eighth of the pool among the workers attached", async () => {
    const pool = Mempool.create(MiB, { maxWorkers: 4 });
    const pages = pool.segments[0].pages.pageCount;
    const blocks = Array.from({ length: 12 }, () => pool.alloc(3 * PS));
    for (const b of blocks) pool.free(b);
    const alone = Math.floor(pages / 8);
    expect(parkedForMain(pool)).toBe(3 * Math.floor(alone / 3));
    const w = start<RemoteReply>(fixture("remote-worker.ts"), { handle: pool.handle }, pool);
    await w.next();
    const again = blocks.map(() => pool.alloc(3 * PS));
    for (const b of again) pool.free(b);
    expect(parkedForMain(pool)).toBe(3 * Math.floor(Math.floor(pages / 16) / 3));
    pool.check();
    await command(w, { op: "close" });
    await w.exited;
  });

  it("what is parked goes back before an allocation would fail", () => {
    const pool = Mempool.create(MiB, { workerCachePages: 64, maxWorkers: 2 });
    const blocks = fillPool(pool, 4 * PS);
    // Free 12 neighbouring blocks: all parked, so the buddy lists alone have no 8 free pages.
    blocks.sort((x, y) => x - y);
    const run = blocks.findIndex((b, i) => blocks[i + 11] === b + 11 * 4 * PS);
    expect(run).toBeGreaterThanOrEqual(0);
    for (const b of blocks.slice(run, run + 12)) pool.free(b);
    expect(parkedForMain(pool)).toBe(48);
    expect(pool.segments[0].pages.largestFree).toBeLessThan(8 * PS);
    const big = pool.alloc(8 * PS);
    expect(pool.size(big)).toBe(8 * PS);
    expect(parkedForMain(pool)).toBe(0);
    pool.check();
  });

  it("another worker's free of a block parked on its owner's cache is a DoubleFreeError, nothing changes", async () => {
    const pool = Mempool.create(16 * MiB, { maxWorkers: 2 });
    const a = pool.alloc(4 * PS);
    pool.free(a);
    const w = start<RemoteReply>(fixture("remote-worker.ts"), { handle: pool.handle }, pool);
    await w.next();
    const before = pool.debugInfo();
    const reply = await command(w, { op: "free", addresses: [a] });
    expect(reviveError(reply.error)).toBeInstanceOf(DoubleFreeError);
    expect(pool.debugInfo()).toBe(before);
    expect(parkedForMain(pool)).toBe(4);
    pool.check();
    expect(pool.alloc(4 * PS)).toBe(a);
    await command(w, { op: "close" });
    await w.exited;
  });

  it("check() finds a parked block that is not on any cache or list", () => {
    const pool = Mempool.create(16 * MiB);
    const a = pool.alloc(2 * PS);
    const b = pool.alloc(2 * PS);
    pool.free(a);
    const owners = pool.segments[0].owners;
    owners[b / PS] = OWNER_PARKED;
    expect(() => pool.check()).toThrow(CorruptionError);
    owners[b / PS] = pool.segments[0].slot;
    owners[a / PS] = OWNER_PARKED;
    expect(() => pool.check()).toThrow(/has owner entry/);
    owners[a / PS] = pool.segments[0].slot;
    pool.check();
  });

  it("random alloc/free sequences keep every page accounted for and the pool checkable", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 12 }), fc.nat()), { maxLength: 300 }),
        fc.integer({ min: 0, max: 40 }),
        (ops, cachePages) => {
          const pool = Mempool.create(MiB, { workerCachePages: cachePages, maxWorkers: 2 });
          const total = pool.stats().free;
          const live = new Map<number, number>();
          for (const [isAlloc, pages, pick] of ops) {
            if (isAlloc || live.size === 0) {
              let a: number;
              try {
                a = pool.alloc(pages * PS);
              } catch (e) {
                expect(e).toBeInstanceOf(OutOfPoolMemoryError);
                continue;
              }
              for (const [b, n] of live) expect(a + pages * PS <= b || b + n * PS <= a).toBe(true);
              live.set(a, pages);
            } else {
              const keys = [...live.keys()];
              const a = keys[pick % keys.length];
              pool.free(a);
              live.delete(a);
              expect(() => pool.free(a)).toThrow(DoubleFreeError);
            }
            let used = 0;
            for (const n of live.values()) used += n * PS;
            expect(pool.stats().free).toBe(total - used);
          }
          pool.check();
          for (const a of live.keys()) pool.free(a);
          pool.close();
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("remote-free lists", () => {
  it("blocks another worker frees go back to the worker that allocated them, without the lock", async () => {
    const pool = Mempool.create(16 * MiB);
    const free0 = pool.stats().free;
    const blocks = [3 * PS, 5 * PS, PS, 12 * PS].map((n) => pool.alloc(n));
    const w = start<RemoteReply>(fixture("remote-worker.ts"), { handle: pool.handle }, pool);
    await w.next();
    const mutex = pool.segments[0].mutex!;
    // The lock is held here the whole time: a free that needed it would wait for ever.
    mutex.lock();
    let reply: RemoteReply | "timeout";
    try {
      reply = await Promise.race([
        command(w, { op: "free", addresses: blocks }),
        new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 5000)),
      ]);
    } finally {
      mutex.unlock();
    }
    expect(reply).not.toBe("timeout");
    expect((reply as RemoteReply).error).toBeUndefined();
    expect(pool.stats().free).toBe(free0);
    expect(parkedForMain(pool)).toBe(21);
    expect(pool.stats().workers.find((f) => f.slot === pool.segments[0].slot)?.allocations).toBe(0);
    pool.check();
    expectCleanFailure(pool, DoubleFreeError, () => pool.free(blocks[1]));
    // The main thread's next 3-page block is the one the worker freed for it.
    expect(pool.alloc(3 * PS)).toBe(blocks[0]);
    pool.check();
    await command(w, { op: "close" });
    await w.exited;
  });

  it("a worker that dies gives back what it parked and what others freed for it; its other blocks stay its own", async () => {
    const pool = Mempool.create(16 * MiB);
    const free0 = pool.stats().free;
    const w = start<RemoteReply>(fixture("remote-worker.ts"), { handle: pool.handle }, pool);
    const { threadId } = await w.next();
    const { addresses } = await command(w, { op: "alloc", sizes: [2, 3, 4, 6, 1, 7].map((n) => n * PS) });
    // The worker parks two of its blocks itself; the main thread frees two for it.
    await command(w, { op: "free", addresses: addresses.slice(0, 2) });
    pool.free(addresses[2]);
    pool.free(addresses[3]);
    const slot = pool.stats().workers.find((f) => f.threadId === threadId)!;
    expect(slot.cachedPages).toBeGreaterThanOrEqual(2 + 3 + 4 + 6);
    await w.worker.terminate();
    await w.exited;
    await new Promise((r) => setTimeout(r, 50));
    pool.check();
    const kept = (1 + 7) * PS;
    expect(pool.stats().free).toBe(free0 - kept);
    expect(pool.debugInfo()).not.toMatch(/parked for it/);
    // Frees of a gone worker's blocks go straight back to the pool.
    pool.free(addresses[4]);
    pool.free(addresses[5]);
    expect(pool.stats().free).toBe(free0);
    pool.check();
  });

  it("recovery finishes a drain that its worker did not: the block in hand and the rest of the chain", async () => {
    const pool = Mempool.create(16 * MiB);
    const free0 = pool.stats().free;
    const w = start<RemoteReply>(fixture("remote-worker.ts"), { handle: pool.handle }, pool);
    const { threadId } = await w.next();
    const { addresses } = await command(w, { op: "alloc", sizes: [3, 5, 2].map((n) => n * PS) });
    for (const a of addresses) pool.free(a);
    // The worker's state as if it died inside a drain: the list taken off its head, the first
    // block in hand, the rest of the chain reachable only through INFLIGHT_NEXT.
    const seg = pool.segments[0];
    const slot = pool.stats().workers.find((f) => f.threadId === threadId)!.slot;
    const sw = seg.slotWord(slot);
    const head = Atomics.exchange(seg.w, sw + SL_REMOTE_HEAD, 0);
    expect(head).not.toBe(0);
    Atomics.store(seg.w, sw + SL_INFLIGHT_CUR, head);
    Atomics.store(seg.w, sw + SL_INFLIGHT_NEXT, seg.w[(head * PS) >> 2]);
    await w.worker.terminate();
    await w.exited;
    await new Promise((r) => setTimeout(r, 50));
    pool.check();
    expect(pool.stats().free).toBe(free0);
  });

  it("a worker whose allocation would fail takes back what sits on other workers' lists", async () => {
    const pool = Mempool.create(MiB, { workerCachePages: 64, maxWorkers: 2 });
    const mine = fillPool(pool, 4 * PS);
    const w = start<RemoteReply>(fixture("remote-worker.ts"), { handle: pool.handle }, pool);
    await w.next();
    mine.sort((x, y) => x - y);
    const run = mine.findIndex((b, i) => mine[i + 7] === b + 7 * 4 * PS);
    const freed = mine.slice(run, run + 8);
    // The worker frees 8 neighbouring blocks of the main thread (pending on its list), then asks
    // for 8 pages: only the main thread's list has them.
    await command(w, { op: "free", addresses: freed });
    expect(pool.segments[0].pages.largestFree).toBeLessThan(8 * PS);
    const reply = await command(w, { op: "alloc", sizes: [8 * PS] });
    expect(reply.error).toBeUndefined();
    expect(pool.size(reply.addresses[0])).toBe(8 * PS);
    pool.check();
    await command(w, { op: "close" });
    await w.exited;
  });
});
