/** Frames from a shared pool: each frame is a pool block, counted by the pool, returned on close. */
import { describe, expect, it } from "vitest";
import { AddressSpace, InvalidArgumentError, Mempool, PageAllocator } from "../../src/index.js";
import { MemoryStore, pattern } from "./helpers.js";

const PS = 4096;

async function roundTrip(space: AddressSpace, pages: number): Promise<void> {
  const v = space.map({ length: pages * PS, store: new MemoryStore() });
  for (let p = 0; p < pages; p++) await space.write(v + p * PS, pattern(PS, p));
  // A write across a page boundary, then everything back, in reverse to force more evictions.
  await space.write(v + PS - 3, Uint8Array.of(1, 2, 3, 4, 5, 6));
  for (let p = pages - 1; p >= 0; p--) {
    const want = pattern(PS, p);
    if (p === 0) want.set([1, 2, 3], PS - 3);
    if (p === 1) want.set([4, 5, 6], 0);
    expect(await space.read(v + p * PS, PS)).toEqual(want);
  }
}

describe("an address space whose frames come from a Mempool", () => {
  it("works across evictions; the pool counts the frames as this thread's and gets them back on close", async () => {
    const pool = Mempool.create(1 << 20);
    const free0 = pool.stats().free;
    const space = new AddressSpace({ frames: 16, pool });
    expect(space.pages).toBeNull();
    expect(space.pool).toBe(pool);
    await roundTrip(space, 64);
    const s = pool.stats();
    expect(free0 - s.free).toBe(16 * PS);
    expect(s.workers.find((w) => w.state === "alive")?.bytes).toBe(16 * PS);
    expect(space.stats().evictions).toBeGreaterThan(0);
    space.check();
    await space.close();
    expect(pool.stats().free).toBe(free0);
    pool.check();
  });

  it("a multi-segment pool: frames from several segments", async () => {
    const pool = Mempool.create(1 << 20, { segmentBytes: 256 << 10 });
    expect(pool.stats().segments).toBe(4);
    const space = new AddressSpace({ frames: 100, pool });
    await roundTrip(space, 160);
    const segmentsUsed = new Set(
      pool.debugInfo().match(/segment \d+ slot \d+ \(thread \d+, alive\): [1-9]/g),
    );
    expect(segmentsUsed.size).toBeGreaterThan(1);
    await space.close();
    pool.check();
  });

  it("rejects a pool that is not a Mempool, and pages and pool together, changing nothing", () => {
    const pool = Mempool.create(1 << 20);
    const free0 = pool.stats().free;
    expect(() => new AddressSpace({ frames: 4, pool: {} as Mempool })).toThrow(InvalidArgumentError);
    expect(() => new AddressSpace({ frames: 4, pool, pages: new PageAllocator({ bytes: 1 << 16 }) })).toThrow(
      /pages or pool, not both/,
    );
    expect(() => new AddressSpace({ frames: 4, pool, pageSize: 8192 })).toThrow(InvalidArgumentError);
    expect(pool.stats().free).toBe(free0);
  });
});
