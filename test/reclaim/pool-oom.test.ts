/**
 * Pools as OOM consumers: three real worker threads on one Mempool, one growing without bound.
 * The main thread asks the reclaimer before each growth (the pool's free pages are the zone);
 * when reclaim can free nothing, the OOM killer terminates the worst worker and its pages return.
 */
import { afterEach, describe, expect, it } from "vitest";
import { InvalidArgumentError, Mempool } from "../../src/index.js";
import type { OomEvent } from "../../src/reclaim/oom.js";
import { workerConsumer } from "../../src/reclaim/pool-consumer.js";
import { Reclaimer } from "../../src/reclaim/reclaimer.js";
import { poolZone } from "../../src/reclaim/zones.js";
import { type Started, start } from "../pool/helpers.js";
import type { GrowerReply, GrowerRequest } from "./fixtures/pool-grower.js";

const grower = new URL("./fixtures/pool-grower.ts", import.meta.url).href;
const running: Started<GrowerReply>[] = [];
afterEach(async () => {
  for (const w of running.splice(0)) await w.worker.terminate();
});

function ask(w: Started<GrowerReply>, m: GrowerRequest): Promise<GrowerReply> {
  w.worker.postMessage(m);
  return w.next();
}

describe("pool workers as OOM consumers", () => {
  it("the worker growing without bound is killed, its pages return, the others lose nothing; -1000 is never chosen", async () => {
    const pool = Mempool.create(4 << 20);
    const ps = pool.pageSize;
    const spawn = (fill: number) => {
      const w = start<GrowerReply>(grower, { handle: pool.handle, fill }, pool);
      running.push(w);
      return w;
    };
    const steady = spawn(0x11);
    const protectedBig = spawn(0x22);
    const hog = spawn(0x33);
    const hogThread = hog.worker.threadId;
    const reclaimer = new Reclaimer({ maxRounds: 2 });
    const consumers = {
      steady: workerConsumer(pool, steady.worker, { name: "steady" }),
      protected: workerConsumer(pool, protectedBig.worker, { name: "protected", oomScoreAdj: -1000 }),
      hog: workerConsumer(pool, hog.worker, { name: "hog", freeOwned: true }),
    };
    for (const c of Object.values(consumers)) reclaimer.registerConsumer(c);
    const kills: OomEvent[] = [];
    reclaimer.on("oom", (e: OomEvent) => kills.push(e));

    await ask(steady, { op: "grow", pages: 50 });
    // The protected worker is the biggest consumer when the pressure starts.
    await ask(protectedBig, { op: "grow", pages: 400 });
    const zone = poolZone(pool, { min: 32, low: 48, high: 64 });
    let steps = 0;
    while (!consumers.hog.killed && steps < 100) {
      if (!(await reclaimer.beforeAllocate(zone, 64))) break;
      if (consumers.hog.killed) break;
      await ask(hog, { op: "grow", pages: 64 });
      steps++;
    }
    expect(consumers.hog.killed).toBe(true);
    expect(kills.map((k) => k.victim)).toEqual(["hog"]);
    expect(kills[0].footprint).toBeGreaterThan(400 * ps);
    expect(() => consumers.hog.assertAlive()).toThrow(/hog was killed by the OOM killer/);
    // Its pages came back (freeOwned), whoever reaped the thread first: the pool's watch() on its
    // exit, or the consumer. Nothing stays charged to it, and the pool is above the watermarks.
    const left = pool.stats().workers.find((w) => w.threadId === hogThread);
    expect(left?.allocations ?? 0, "blocks still charged to the killed worker").toBe(0);
    expect(zone.free()).toBeGreaterThan(zone.marks.high);
    expect(await ask(steady, { op: "verify" })).toEqual({ held: 50, ok: true });
    expect(await ask(protectedBig, { op: "verify" })).toEqual({ held: 400, ok: true });
    // The survivors keep working.
    expect(await ask(steady, { op: "grow", pages: 10 })).toEqual({ held: 60, ok: true });
    expect(consumers.steady.killed).toBe(false);
    expect(consumers.protected.killed).toBe(false);
    pool.check();
  });
});

describe("two allocations reclaiming at once", () => {
  it("share one OOM kill: the second waits for the victim to die instead of killing another", async () => {
    const pool = Mempool.create(4 << 20);
    const hog = start<GrowerReply>(grower, { handle: pool.handle, fill: 0x44 }, pool);
    const small = start<GrowerReply>(grower, { handle: pool.handle, fill: 0x55 }, pool);
    running.push(hog, small);
    const reclaimer = new Reclaimer({ maxRounds: 1 });
    const consumers = {
      hog: workerConsumer(pool, hog.worker, { name: "hog", freeOwned: true }),
      small: workerConsumer(pool, small.worker, { name: "small", freeOwned: true }),
    };
    for (const c of Object.values(consumers)) reclaimer.registerConsumer(c);
    const kills: OomEvent[] = [];
    reclaimer.on("oom", (e: OomEvent) => kills.push(e));
    await ask(small, { op: "grow", pages: 100 });
    const zone = poolZone(pool, { min: 32, low: 48, high: 64 });
    await ask(hog, { op: "grow", pages: pool.stats().free / pool.pageSize - 40 });
    expect(zone.free()).toBeLessThanOrEqual(40);
    // Both find nothing to shrink and reach the OOM killer while the hog's thread is terminating.
    const both = await Promise.all([reclaimer.beforeAllocate(zone, 16), reclaimer.beforeAllocate(zone, 16)]);
    expect(both).toEqual([true, true]);
    expect(kills.map((k) => k.victim)).toEqual(["hog"]);
    expect(consumers.small.killed).toBe(false);
    expect(await ask(small, { op: "verify" })).toEqual({ held: 100, ok: true });
    pool.check();
  });
});

describe("workerConsumer's arguments", () => {
  it("refuses something that is not a Worker, and an empty name", () => {
    const pool = Mempool.create(1 << 20);
    expect(() => workerConsumer(pool, {} as never, { name: "x" })).toThrow(InvalidArgumentError);
    const w = start<GrowerReply>(grower, { handle: pool.handle, fill: 1 }, pool);
    running.push(w);
    expect(() => workerConsumer(pool, w.worker, { name: "" })).toThrow(InvalidArgumentError);
  });
});
