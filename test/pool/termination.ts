/**
 * Termination suites (shared by the single- and multi-segment runs): a worker terminated while it
 * holds the pool's lock, and workers terminated at random moments of a busy run. The others go on,
 * pool.watch() recovers the dead worker (its lock, its cached pages and objects), its blocks stay
 * allocated and listed under it until freed, and the pool stays consistent.
 */
import { expect } from "vitest";
import { Mempool, type MempoolOptions, reviveError } from "../../src/index.js";
import type { ChurnReply, ChurnRequest } from "./fixtures/churn-worker.js";
import { fixture, rng, type Started, start } from "./helpers.js";

const entry = fixture("churn-worker.ts");

function launch(pool: Mempool, req: Omit<ChurnRequest, "handle">): Started<ChurnReply> {
  return start<ChurnReply>(entry, { ...req, handle: pool.handle }, pool);
}

async function expectKind<K extends ChurnReply["kind"]>(
  w: Started<ChurnReply>,
  kind: K,
): Promise<Extract<ChurnReply, { kind: K }>> {
  const m = await w.next();
  if (m.kind === "failed") {
    const e = reviveError(m.error);
    throw e instanceof Error ? e : new Error(m.text);
  }
  expect(m.kind).toBe(kind);
  return m as Extract<ChurnReply, { kind: K }>;
}

/** Resolves once the pool has recovered `n` dead workers in all (pool.watch runs on exit). */
async function recovered(pool: Mempool, n: number): Promise<void> {
  while (pool.stats().recoveries < n * pool.segments.length) await new Promise((r) => setTimeout(r, 5));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function terminateWhileHoldingTheLock(bytes: number, options?: MempoolOptions): Promise<void> {
  const pool = Mempool.create(bytes, options);
  const fresh = pool.stats();
  const ps = pool.pageSize;
  const fill = 0x3c;
  // A worker whose allocations all need the lock; it attaches first (attaching takes the lock).
  const control = new SharedArrayBuffer(12);
  const words = new Int32Array(control);
  const waiter = launch(pool, { mode: "locked-allocs", count: 50, control });
  await expectKind(waiter, "ready");
  const holder = launch(pool, {
    mode: "hold",
    poolSizes: [ps, 3 * ps + 5, 10 * ps],
    heapSizes: [24, 700, 5000, 20000],
    fill,
  });
  const held = await expectKind(holder, "holding");
  for (const s of pool.segments) expect(s.mutex!.owner()).toBe(held.slots[s.index]);
  expect(held.cachedPages).toBeGreaterThan(0);
  expect(held.cachedObjects).toBeGreaterThan(0);

  // The other worker starts its allocations, and cannot get anywhere.
  Atomics.store(words, 2, 1);
  Atomics.notify(words, 2);
  await expectKind(waiter, "running");
  await sleep(50);
  expect(Atomics.load(words, 1)).toBe(0);
  for (const s of pool.segments) expect(s.mutex!.owner()).toBe(held.slots[s.index]);

  // Kill the holder. pool.watch() learns of it; the lock is taken over, the pool repaired.
  await holder.worker.terminate();
  const done = await expectKind(waiter, "done");
  expect(done.ops).toBe(50);
  await waiter.exited;
  await recovered(pool, 1);
  pool.check();

  // The dead worker's cached pages and objects went back; its blocks stay allocated, intact and
  // listed under it.
  const st = pool.stats();
  for (const s of pool.segments) expect(s.mutex!.owner()).toBe(0);
  // Per-worker figures: the creator, and the gone worker still charged with its three blocks.
  expect(st.workers.map((w) => [w.threadId, w.state])).toEqual([
    [0, "alive"],
    [held.threadId, "gone"],
  ]);
  expect(st.workers[1]).toMatchObject({ allocations: 3, bytes: 15 * ps, cachedPages: 0 });
  const dump = pool.debugInfo();
  const line = dump.split("\n").find((l) => l.includes(`(thread ${held.threadId},`));
  expect(line, dump).toBeDefined();
  expect(line).toMatch(/gone|dead/);
  for (const a of held.blocks) expect(line).toContain(`${a} (`);
  const sizes = held.blocks.map((a) => pool.size(a));
  expect(sizes).toEqual([ps, 4 * ps, 10 * ps]);
  for (const [i, a] of held.blocks.entries()) {
    expect(
      pool
        .view(a, sizes[i])
        .subarray(0, [ps, 3 * ps + 5, 10 * ps][i])
        .every((b) => b === fill),
    ).toBe(true);
  }
  for (const a of held.objects) expect(pool.heap.usableSize(a)).toBeGreaterThan(0);
  const blockBytes = sizes.reduce((x, y) => x + y, 0);
  expect(st.free).toBeLessThanOrEqual(fresh.free - blockBytes);

  // Freed by someone else (here the main thread), everything is back: nothing was lost.
  for (const a of held.blocks) pool.free(a);
  for (const a of held.objects) pool.heap.free(a);
  pool.heap.shrink();
  expect(pool.stats().free).toBe(fresh.free);
  expect(pool.stats().workers.map((w) => w.threadId)).toEqual([0]);
  expect(pool.debugInfo()).not.toContain(`(thread ${held.threadId},`);
  pool.check();
}

export async function terminateMidRun(
  bytes: number,
  options: MempoolOptions | undefined,
  rounds: number,
  seed: number,
): Promise<void> {
  const pool = Mempool.create(bytes, options);
  const r = rng(seed);
  const control = new SharedArrayBuffer(12);
  const survivors = [0, 1].map((i) => launch(pool, { mode: "churn", seed: seed + i, control }));
  for (const s of survivors) await expectKind(s, "running");
  const victimIds: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const victim = launch(pool, { mode: "churn", seed: seed + 100 + round });
    const running = await expectKind(victim, "running");
    victimIds.push(running.threadId);
    // Somewhere in the middle of its work: inside a fast path, holding the lock, or between calls.
    await sleep(r() * 20);
    await victim.worker.terminate();
    await recovered(pool, round + 1);
    // (pool.check() waits for the end: it is exact only while no other worker is allocating.)
  }
  // The survivors went on all along: they still make progress, then stop cleanly.
  const before = Atomics.load(new Int32Array(control), 1);
  while (Atomics.load(new Int32Array(control), 1) === before) await sleep(5);
  Atomics.store(new Int32Array(control), 0, 1);
  for (const s of survivors) {
    const done = await expectKind(s, "done");
    expect(done.ops).toBeGreaterThan(2048);
    await s.exited;
  }
  pool.check();
  const st = pool.stats();
  expect(st.workers.filter((w) => w.state !== "gone").map((w) => w.threadId)).toEqual([0]);
  for (const w of st.workers.filter((w) => w.state === "gone")) expect(victimIds).toContain(w.threadId);
  expect(st.recoveries).toBe(rounds * pool.segments.length);
  // What the victims still held is listed under them; once freed, the pool is whole again.
  const dump = pool.debugInfo();
  for (const s of pool.segments) {
    const ps = pool.pageSize;
    for (let p = 0; p < s.owners.length; p++) {
      if (s.owners[p] === 0) continue;
      const a = s.index * 2 ** 32 + p * ps;
      const line = dump.split("\n").find((l) => l.includes(`segment ${s.index} slot ${s.owners[p]} `));
      expect(victimIds.some((id) => line?.includes(`(thread ${id}, gone)`))).toBe(true);
      pool.free(a);
    }
  }
  pool.check();
  expect(pool.stats().workers.map((w) => w.threadId)).toEqual([0]);
  // Every page that is not in a live heap object is allocatable again.
  expect(pool.stats().free).toBeGreaterThan(0);
}
