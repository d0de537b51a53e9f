/**
 * examples/shared-hash-table runs for real: four worker threads attach one pool and the table in
 * it, insert, update, look up and delete at the same time (started together through a gate), and
 * the main thread finds exactly what the workers report. A version of the table without its
 * stripe locks loses entries and counter increments here. The table's own argument checks run
 * in this thread.
 */

import { InvalidAddressError, InvalidArgumentError, Mempool, MnemeError } from "mneme";
import { describe, expect, it, vi } from "vitest";
import { SharedHashTable } from "../../examples/shared-hash-table/hash-table.js";
import type { Summary } from "../../examples/shared-hash-table/main.js";
import { lastJson, runExample } from "./run-example.js";

// "mneme" (here and in the table module) is the sources, not dist/ (vi.mock is hoisted above the
// imports); the types stay those of the package, as the example sees them.
vi.mock("mneme", () => import("../../src/index.js"));

describe("shared-hash-table example", () => {
  it("four workers share one table in pool memory, and the main thread finds what they report", async () => {
    const { stdout } = await runExample("examples/shared-hash-table/main.ts");
    const s = lastJson<Summary>(stdout);
    expect(s).toMatchObject({
      workers: 4,
      threads: 4,
      inserts: 12_000,
      deletes: 4000,
      lookups: 12_000,
      foreignBad: 0,
      contentsMatch: true,
      sizeMatches: true,
      countersExact: true,
      claimsUnique: true,
      accountingExact: true,
      checkPassed: true,
    });
    // 4 x (3000 own keys - 1000 deleted) + 16 counters + 256 claims.
    expect(s.entries).toBe(8000 + 16 + 256);
    expect(s.foreignFound).toBeGreaterThan(0);
  });

  it("get, set, update and delete in one thread, entries() and size", async () => {
    expect(Mempool).toBe((await import("../../src/index.js")).Mempool);
    const pool = Mempool.create(4 << 20);
    const t = SharedHashTable.create(pool, { buckets: 4, stripes: 2 });
    expect(t.set("a", 1)).toBe(true);
    expect(t.set("a", 2)).toBe(false);
    expect(t.set("ключ", 3)).toBe(true);
    for (let i = 0; i < 20; i++) t.set(`k${i}`, i);
    expect(t.get("a")).toBe(2);
    expect(t.get("ключ")).toBe(3);
    expect(t.get("missing")).toBeUndefined();
    expect(t.update("a", (v) => (v ?? 0) * 10)).toBe(2);
    expect(t.update("fresh", (v) => (v ?? 0) + 1)).toBeUndefined();
    expect(t.delete("k3")).toBe(true);
    expect(t.delete("k3")).toBe(false);
    expect(t.size).toBe(22);
    const all = new Map(t.entries());
    expect(all.size).toBe(22);
    expect(all.get("a")).toBe(20);
    expect(all.has("k3")).toBe(false);
    expect(SharedHashTable.attach(pool, t.address).get("ключ")).toBe(3);
    t.destroy();
    pool.check();
  });

  it("bad arguments throw typed errors and change nothing", () => {
    const pool = Mempool.create(4 << 20);
    const free = pool.stats().free;
    expect(() => SharedHashTable.create(pool, { buckets: 1000 })).toThrow(InvalidArgumentError);
    expect(() => SharedHashTable.create(pool, { buckets: 16, stripes: 32 })).toThrow(InvalidArgumentError);
    expect(pool.stats().free).toBe(free);
    const t = SharedHashTable.create(pool, { buckets: 16, stripes: 4 });
    t.set("kept", 7);
    const size = t.size;
    expect(() => t.set(42 as unknown as string, 1)).toThrow(InvalidArgumentError);
    expect(() => t.get("x".repeat(2000))).toThrow(InvalidArgumentError);
    expect(() =>
      t.update("new", () => {
        throw new Error("refused");
      }),
    ).toThrow("refused");
    expect(t.get("new")).toBeUndefined();
    expect(t.size).toBe(size);
    expect(() => SharedHashTable.attach(pool, t.address + 8)).toThrow(InvalidAddressError);
    expect(() => SharedHashTable.attach(pool, -1)).toThrow(InvalidAddressError);
    t.destroy();
    // A destroyed table cannot be attached any more.
    expect(() => SharedHashTable.attach(pool, t.address)).toThrow(InvalidAddressError);
    // A pool too small for the buckets (the heap refuses the size): the header allocated first is given back.
    const tiny = Mempool.create(1 << 20);
    const tinyFree = tiny.stats().free;
    expect(() => SharedHashTable.create(tiny, { buckets: 1 << 18 })).toThrow(MnemeError);
    tiny.heap.shrink();
    expect(tiny.stats().free).toBe(tinyFree);
  });
});
