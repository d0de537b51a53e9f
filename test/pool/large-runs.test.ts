/**
 * The heap's large-run cache (src/object/large-runs.ts) under real worker threads: four workers
 * malloc, alignedAlloc, realloc (across the slab/large boundary too) and free 1-64 KiB through
 * pool.heap over one shared table, so most frees are of another worker's allocation and a run one
 * worker frees into the cache is the next one another worker takes. Some workers are terminated
 * mid-run and replaced. Every allocation's bytes carry its tag (checked by the workers before each
 * free and realloc, and here at the end); pool.check() holds while they run and after; once
 * everything is freed and pool.heap.shrink() has run, the pool's free figures are what they were
 * at the start, less only what the killed workers had in flight.
 */
import { describe, expect, it } from "vitest";
import {
  DoubleFreeError,
  InvalidAddressError,
  Mempool,
  type MempoolOptions,
  reviveError,
} from "../../src/index.js";
import {
  EMPTY,
  ENTRY_WORDS,
  entryAddress,
  FULL,
  type LargeRunsReply,
  type LargeRunsRequest,
  verify,
} from "./fixtures/large-runs-worker.js";
import type { RemoteCommand, RemoteReply } from "./fixtures/remote-worker.js";
import { fillPool, fixture, type Started, start } from "./helpers.js";

const entry = fixture("large-runs-worker.ts");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function reply(w: Started<LargeRunsReply>): Promise<LargeRunsReply> {
  const m = await w.next();
  if (m.kind === "failed") {
    const e = reviveError(m.error);
    throw e instanceof Error ? Object.assign(e, { message: `${e.message}\n${m.text}` }) : new Error(m.text);
  }
  return m;
}

async function run(bytes: number, options: MempoolOptions, kills: number, seed: number): Promise<void> {
  const pool = Mempool.create(bytes, { maxWorkers: 8, ...options });
  const fresh = pool.stats();
  const entries = 96;
  const table = new Int32Array(new SharedArrayBuffer(entries * ENTRY_WORDS * 4));
  const control = new Int32Array(new SharedArrayBuffer(8));
  let nextId = 2;
  const launch = () => {
    const req: LargeRunsRequest = {
      handle: pool.handle,
      id: nextId,
      seed: seed * 31 + nextId++,
      table: table.buffer as SharedArrayBuffer,
      control: control.buffer as SharedArrayBuffer,
    };
    return start<LargeRunsReply>(entry, req, pool);
  };
  const workers = Array.from({ length: 4 }, launch);
  for (const w of workers) expect((await reply(w)).kind).toBe("running");
  // The most pages the caches were seen holding: the run must have gone through them.
  let seenHeld = 0;
  const ops = async (n: number) => {
    const until = Atomics.load(control, 1) + n;
    while (Atomics.load(control, 1) < until) {
      seenHeld = Math.max(seenHeld, held(pool));
      await sleep(1);
    }
  };
  const killed = new Set<number>();
  for (let k = 0; k < kills; k++) {
    await ops(300);
    const victim = 1 + (k % 3);
    killed.add(workers[victim].worker.threadId);
    await workers[victim].worker.terminate();
    workers[victim] = launch();
    expect((await reply(workers[victim])).kind).toBe("running");
    pool.check();
  }
  await ops(2000);
  expect(seenHeld).toBeGreaterThan(0);
  pool.check();
  Atomics.store(control, 0, 1);
  for (const w of workers) {
    if (!killed.has(w.worker.threadId)) expect((await reply(w)).kind).toBe("done");
    await w.exited;
  }
  while (pool.stats().recoveries < kills * pool.segments.length) await sleep(5);
  pool.check();

  // Every entry left FULL is intact; free it here (the main thread's frees of the workers' runs).
  let inFlight = 0;
  for (let e = 0; e < entries; e++) {
    const st = table[e * ENTRY_WORDS];
    if (st === EMPTY) continue;
    if (st !== FULL) {
      inFlight++;
      continue;
    }
    const a = entryAddress(table, e);
    verify(pool, a, table[e * ENTRY_WORDS + 2], table[e * ENTRY_WORDS + 1]);
    pool.heap.free(a);
  }
  expect(inFlight).toBeLessThanOrEqual(kills);
  pool.heap.shrink();
  // This thread's hot pages are free but not merged: merged, the largest block can be compared.
  for (const s of pool.segments) s.pages.drainHot();
  pool.check();
  const end = pool.stats();
  const large = pool.segments.reduce((n, s) => n + s.heap.stats().large.count, 0);
  if (kills === 0) {
    expect(large).toBe(0);
    expect(end.free).toBe(fresh.free);
    expect(end.contiguous).toBe(fresh.contiguous);
  } else {
    // A killed worker leaks at most what it had in hand: two runs inside a moving realloc, or a
    // slab (at most 32 pages) held by an object.
    expect(large).toBeLessThanOrEqual(2 * kills);
    expect(fresh.free - end.free).toBeLessThanOrEqual(kills * 64 * pool.pageSize);
  }
  pool.close();
}

describe("the large-run cache under worker threads", () => {
  it("four workers, cross-worker frees and reallocs of 1-64 KiB: contents intact, the pool back to its start", async () => {
    await run(8 << 20, {}, 0, 0x1a2b);
  });

  it("workers terminated mid-run: recovery rebuilds the lists, the rest stays intact", async () => {
    await run(8 << 20, {}, 4, 0x3c4d);
  });

  it("multi-segment pool, with terminations", async () => {
    await run(4 << 20, { segmentBytes: 1 << 20 }, 3, 0x5e6f);
  });

  for (const [label, bytes, options] of [
    ["one segment", 1 << 20, {}],
    ["two segments", 2 << 20, { segmentBytes: 1 << 20 }],
  ] as const) {
    it(`pool.alloc takes the heap's cached runs back before it fails; stats() counts them free (${label})`, () => {
      const pool = Mempool.create(bytes, options);
      const ps = pool.pageSize;
      const fresh = pool.stats();
      const a = pool.heap.malloc(5 * ps);
      pool.heap.free(a);
      expect(held(pool)).toBe(5);
      // Free as if the run had gone straight back to the page layer, as Heap.stats() reads it.
      expect(pool.stats().free).toBe(fresh.free);
      expect(pool.stats().contiguous).toBe(fresh.contiguous);

      const run = pool.heap.malloc(16 * ps);
      const blocks = fillPool(pool, ps);
      pool.heap.free(run);
      expect(held(pool)).toBe(16);
      // Idle memory of the heap, not memory in use: the pool's allocation gets it.
      const big = pool.alloc(16 * ps);
      expect(pool.size(big)).toBe(16 * ps);
      pool.free(big);
      for (const b of blocks) pool.free(b);
      pool.check();
      pool.close();
    });
  }

  it("a cached run freed again or inside by another worker: typed errors, the list intact", async () => {
    const pool = Mempool.create(4 << 20);
    const ps = pool.pageSize;
    const remote = start<RemoteReply>(fixture("remote-worker.ts"), { handle: pool.handle }, pool);
    await remote.next();
    const ask = async (c: RemoteCommand) => {
      remote.worker.postMessage(c);
      const r = await remote.next();
      return r.error === undefined ? undefined : reviveError(r.error);
    };
    const live = pool.heap.malloc(3 * ps);
    const a = pool.heap.malloc(5 * ps);
    pool.heap.free(a);
    expect(held(pool)).toBe(5);
    expect(await ask({ op: "mfree", addresses: [a] })).toBeInstanceOf(DoubleFreeError);
    expect(await ask({ op: "mfree", addresses: [a + 2 * ps] })).toBeInstanceOf(InvalidAddressError);
    expect(await ask({ op: "mfree", addresses: [a + 8] })).toBeInstanceOf(InvalidAddressError);
    expect(await ask({ op: "mfree", addresses: [live + ps] })).toBeInstanceOf(InvalidAddressError);
    expect(held(pool)).toBe(5);
    pool.segments[0].heap.check();
    // The run is still on its list: the next 5-page request, from the other worker, gets it.
    remote.worker.postMessage({ op: "malloc", sizes: [5 * ps - 100] } satisfies RemoteCommand);
    expect((await remote.next()).addresses).toEqual([a]);
    expect(held(pool)).toBe(0);
    expect(await ask({ op: "mfree", addresses: [a, live] })).toBeUndefined();
    expect(await ask({ op: "close" })).toBeUndefined();
    await remote.exited;
    pool.check();
    pool.close();
  });
});

/** Pages the heaps' large-run caches hold (read without stats(), which gives them back). */
function held(pool: Mempool): number {
  return pool.segments.reduce((n, s) => n + s.heap.slabs.runs.heldPages, 0);
}
