/**
 * Held slabs (object/slab.ts heldSlab): in a pool, each worker refills its array caches from
 * slabs no other worker refills from, so two workers' objects never share a slab (nor a cache
 * line); the holds end when the worker detaches or dies, and check() verifies them.
 */
import { describe, expect, it } from "vitest";
import { CorruptionError, Mempool } from "../../src/index.js";
import {
  HOLDER_SHIFT,
  LIST_CURRENT,
  LIST_MASK,
  LIST_PARTIAL,
  ownerSlab,
  S_LIST,
} from "../../src/object/layout.js";
import type { RemoteCommand, RemoteReply } from "./fixtures/remote-worker.js";
import { fillPool, fixture, type Started, start } from "./helpers.js";

const MiB = 2 ** 20;

async function command(w: Started<RemoteReply>, c: RemoteCommand): Promise<RemoteReply> {
  w.worker.postMessage(c);
  const reply = await w.next();
  expect(reply.error).toBeUndefined();
  return reply;
}

/** The first page of the slab that holds object `a`. */
function slabOf(pool: Mempool, a: number): number {
  const page = Math.floor(a / pool.pageSize);
  return ownerSlab(page, pool.segments[0].heap.owner[page]);
}

/** The LIST word of every slab of the heap, by first page. */
function listWords(pool: Mempool): Map<number, number> {
  const out = new Map<number, number>();
  const owner = pool.segments[0].heap.owner;
  const wpp = pool.pageSize >> 2;
  for (let p = 0; p < owner.length; p++)
    if (owner[p] > 0 && (owner[p] & 63) === 1) out.set(p, pool.segments[0].heap.slabs.w[p * wpp + S_LIST]);
  return out;
}

async function recovered(pool: Mempool, n: number): Promise<void> {
  while (pool.stats().recoveries < n) await new Promise((r) => setTimeout(r, 5));
}

describe("held slabs", () => {
  it("two workers' objects of one size class come from different slabs", async () => {
    const pool = Mempool.create(8 * MiB, { maxWorkers: 2 });
    // The main thread's first object fills its array cache from a slab that stays partial.
    const mine = Array.from({ length: 8 }, () => pool.heap.malloc(64));
    const w = start<RemoteReply>(fixture("remote-worker.ts"), { handle: pool.handle }, pool);
    await w.next();
    const theirs = (await command(w, { op: "malloc", sizes: Array(8).fill(64) })).addresses;
    const mySlabs = new Set(mine.map((a) => slabOf(pool, a)));
    const theirSlabs = new Set(theirs.map((a) => slabOf(pool, a)));
    expect([...mySlabs].filter((s) => theirSlabs.has(s))).toEqual([]);
    // Each holds its slab as its current one, marked with its slot.
    const words = listWords(pool);
    expect(words.get([...mySlabs][0])).toBe(
      LIST_PARTIAL | LIST_CURRENT | (pool.segments[0].slot << HOLDER_SHIFT),
    );
    expect((words.get([...theirSlabs][0])! >> HOLDER_SHIFT) & 0xff).not.toBe(pool.segments[0].slot);
    pool.check();
    // Either side frees the other's objects: correct wherever they land.
    await command(w, { op: "mfree", addresses: mine });
    for (const a of theirs) pool.heap.free(a);
    pool.check();
    await command(w, { op: "close" });
    await w.exited;
    pool.check();
  });

  it("a worker's holds end when it detaches: its slabs go back, the footprint returns", async () => {
    const pool = Mempool.create(8 * MiB, { maxWorkers: 2 });
    const before = pool.segments[0].heap.stats().footprint;
    const w = start<RemoteReply>(fixture("remote-worker.ts"), { handle: pool.handle }, pool);
    await w.next();
    const sizes = Array.from({ length: 300 }, (_, i) => 8 + ((i * 37) % 500));
    const theirs = (await command(w, { op: "malloc", sizes })).addresses;
    await command(w, { op: "mfree", addresses: theirs.slice(0, 150) });
    const slot = [...listWords(pool).values()].map((v) => v >> HOLDER_SHIFT).find((h) => h !== 0);
    expect(slot).toBeGreaterThan(0);
    await command(w, { op: "close" });
    await w.exited;
    pool.check();
    for (const v of listWords(pool).values()) expect(v >> HOLDER_SHIFT).toBe(0);
    for (const a of theirs.slice(150)) pool.heap.free(a);
    pool.heap.shrink();
    pool.check();
    expect(pool.segments[0].heap.stats().footprint).toBe(before);
  });

  it("a dead worker's holds end at recovery; its live objects stay allocated", async () => {
    const pool = Mempool.create(8 * MiB, { maxWorkers: 2 });
    const w = start<RemoteReply>(fixture("remote-worker.ts"), { handle: pool.handle }, pool);
    await w.next();
    const theirs = (await command(w, { op: "malloc", sizes: Array(40).fill(96) })).addresses;
    expect([...listWords(pool).values()].some((v) => v >> HOLDER_SHIFT !== 0)).toBe(true);
    await w.worker.terminate();
    await recovered(pool, 1);
    pool.check();
    for (const v of listWords(pool).values()) expect(v >> HOLDER_SHIFT).toBe(0);
    for (const a of theirs) expect(pool.heap.usableSize(a)).toBe(96);
    // Its partial slab is anybody's now: the main thread refills from it.
    const next = pool.heap.malloc(96);
    expect(slabOf(pool, next)).toBe(slabOf(pool, theirs[0]));
    pool.heap.free(next);
    for (const a of theirs) pool.heap.free(a);
    pool.check();
  });

  it("a thread out of memory for a new slab takes objects from a slab another worker holds", async () => {
    const pool = Mempool.create(2 * MiB, { maxWorkers: 2, workerCachePages: 0 });
    const w = start<RemoteReply>(fixture("remote-worker.ts"), { handle: pool.handle }, pool);
    await w.next();
    // The worker holds a partial slab of the 64-byte class (most of its objects free).
    const theirs = (await command(w, { op: "malloc", sizes: [64] })).addresses;
    const held = slabOf(pool, theirs[0]);
    // The main thread takes every page it can, so no new slab can be had.
    const blocks = fillPool(pool, pool.pageSize);
    const a = pool.heap.malloc(64);
    expect(slabOf(pool, a)).toBe(held);
    pool.check();
    pool.heap.free(a);
    for (const b of blocks) pool.free(b);
    await command(w, { op: "mfree", addresses: theirs });
    await command(w, { op: "close" });
    await w.exited;
    pool.check();
  });

  it("check() reports a hold that breaks the rules", () => {
    const pool = Mempool.create(8 * MiB);
    const a = pool.heap.malloc(64);
    const slab = slabOf(pool, a);
    const w = pool.segments[0].heap.slabs.w;
    const at = slab * (pool.pageSize >> 2) + S_LIST;
    const good = w[at];
    expect(good & LIST_MASK).toBe(LIST_PARTIAL);
    pool.check();
    for (const bad of [LIST_PARTIAL | LIST_CURRENT, 2 | (1 << HOLDER_SHIFT)]) {
      w[at] = bad;
      expect(() => pool.check()).toThrow(CorruptionError);
    }
    w[at] = good;
    pool.check();
  });
});
