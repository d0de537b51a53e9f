/**
 * Each hint's effect, shown in the fault and eviction figures (hints.ts has the table). The
 * scenes use LRU so that any protection of a working set comes from the hint, not the policy.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AddressSpace } from "../../src/index.js";
import { HintRanges, type KeptHint } from "../../src/vm/hints.js";
import { heldHandle, MemoryStore, pattern, settle } from "./helpers.js";

const PS = 4096;

async function readPages(space: AddressSpace, v: number, pages: Iterable<number>): Promise<void> {
  for (const p of pages) await space.read(v + p * PS, 16);
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Faults taken by re-reading a hot set of 8 pages after a 200-page scan under `hint`. */
async function hotFaultsAfterScan(hint: "normal" | "sequential" | "readOnce"): Promise<number> {
  const space = new AddressSpace({ frames: 16, policy: "lru" });
  const hot = space.map({ length: 8 * PS, store: new MemoryStore("hot"), hint: "random" });
  const scan = space.map({ length: 200 * PS, store: new MemoryStore("scan"), hint });
  await readPages(space, hot, range(8));
  await readPages(space, scan, range(200));
  const before = space.stats().faults;
  await readPages(space, hot, range(8));
  space.check();
  return space.stats().faults - before;
}

describe("hints", () => {
  it("normal: read-ahead starts once faults look sequential, not on scattered faults", async () => {
    const space = new AddressSpace({ frames: 64 });
    const v = space.map({ length: 64 * PS, store: new MemoryStore() });
    await readPages(space, v, [10, 3, 30, 17, 50]);
    expect(space.stats().readahead).toBe(0);
    await readPages(space, v, range(10));
    const s = space.stats();
    expect(s.readahead).toBeGreaterThan(0);
    expect(s.readaheadHits).toBeGreaterThan(0);
    expect(s.faults).toBeLessThan(5 + 10);
  });

  it("random: no read-ahead even for sequential access (every page faults)", async () => {
    const space = new AddressSpace({ frames: 64 });
    const v = space.map({ length: 64 * PS, store: new MemoryStore(), hint: "random" });
    await readPages(space, v, range(40));
    expect(space.stats()).toMatchObject({ readahead: 0, faults: 40 });
  });

  it("sequential: read-ahead from the first fault with a growing window", async () => {
    const store = new MemoryStore();
    const space = new AddressSpace({ frames: 128 });
    const v = space.map({ length: 100 * PS, store, hint: "sequential" });
    await space.read(v, 1);
    expect(space.stats().readahead).toBe(4);
    await readPages(space, v, range(100));
    const s = space.stats();
    expect(s.faults).toBeLessThan(10);
    expect(s.readahead + s.faults).toBe(100);
    expect(s.readaheadHits).toBe(s.readahead);
  });

  it("sequential: drop-behind keeps a scan from evicting the working set", async () => {
    expect(await hotFaultsAfterScan("normal")).toBe(8);
    expect(await hotFaultsAfterScan("sequential")).toBe(0);
  });

  it("readOnce: pages go to the eviction front after use, so the working set survives", async () => {
    expect(await hotFaultsAfterScan("readOnce")).toBe(0);
    const space = new AddressSpace({ frames: 4, policy: "lru" });
    const hot = space.map({ length: 2 * PS, store: new MemoryStore(), hint: "random" });
    const once = space.map({ length: 10 * PS, store: new MemoryStore() });
    await space.advise(once, 10 * PS, "readOnce");
    // Scattered pages, so that no read-ahead muddles the count.
    await readPages(space, once, [0, 2]);
    await readPages(space, hot, [0, 1]);
    await readPages(space, once, [4, 6, 8, 1]);
    const s = space.stats();
    expect(s.evictions).toBe(4);
    const before = s.faults;
    await readPages(space, hot, [0, 1]);
    expect(space.stats().faults).toBe(before); // every eviction took a readOnce page
  });

  it("willneed: prefetches the range now, so the reads that follow are hits", async () => {
    const store = new MemoryStore();
    for (let p = 0; p < 10; p++) store.data.set(p * PS, pattern(PS, p));
    const space = new AddressSpace({ frames: 32 });
    const v = space.map({ length: 10 * PS, store, hint: "random" });
    await space.advise(v, 10 * PS, "willneed");
    const s = space.stats();
    expect(s.resident).toBe(10);
    expect(s.prefetched).toBeGreaterThan(0);
    expect(s.faults).toBe(0);
    for (let p = 0; p < 10; p++) expect(await space.read(v + p * PS, PS)).toEqual(pattern(PS, p));
    expect(space.stats()).toMatchObject({ faults: 0, hits: 10 });
  });

  it("willneed: read-ahead hits count only read-ahead pages, never more than were read ahead", async () => {
    const space = new AddressSpace({ frames: 32 });
    const v = space.map({ length: 10 * PS, store: new MemoryStore(), hint: "random" });
    await space.advise(v, 10 * PS, "willneed"); // two batches: 1 + 7 and 1 + 1 pages
    await readPages(space, v, range(10));
    const s = space.stats();
    expect(s).toMatchObject({ prefetched: 2, readahead: 8, hits: 10 });
    expect(s.readaheadHits).toBe(s.readahead);
  });

  it("dontneed: writes dirty pages first, then drops them; the data comes back on the next fault", async () => {
    const store = new MemoryStore();
    const space = new AddressSpace({ frames: 8 });
    const v = space.map({ length: 8 * PS, store, hint: "random" });
    for (let p = 0; p < 6; p++) await space.write(v + p * PS, pattern(100, p));
    expect(space.stats()).toMatchObject({ resident: 6, dirty: 6, writebacks: 0 });
    await space.advise(v + 2 * PS, 3 * PS, "dontneed");
    expect(space.stats()).toMatchObject({ resident: 3, dirty: 3, writebacks: 3, dropped: 3 });
    expect(store.data.get(3 * PS)?.subarray(0, 100)).toEqual(pattern(100, 3));
    const faults = space.stats().faults;
    expect(await space.read(v + 3 * PS, 100)).toEqual(pattern(100, 3));
    expect(space.stats().faults).toBe(faults + 1);
    space.check();
  });

  it("dontneed loses no write acknowledged while it waits: a re-dirtied page is written again before the drop", async () => {
    // gather() holds a transient ref on the page while its file write is pending, so dontneed
    // cleans the page and then waits; a write lands meanwhile and is acknowledged. Dropping the
    // page when the ref goes would throw that write away.
    const { handle, finish: finishGather } = heldHandle();
    const store = new MemoryStore();
    const space = new AddressSpace({ frames: 4 });
    const v = space.map({ length: PS, store, hint: "random" });
    await space.write(v, new Uint8Array([1]));
    const gathering = space.gather(v, 1, handle, 0);
    await settle();
    const dropping = space.advise(v, PS, "dontneed"); // cleans (writes 1), then waits for the ref
    await settle();
    await space.write(v, new Uint8Array([2])); // acknowledged
    finishGather();
    await Promise.all([gathering, dropping]);
    expect(store.data.get(0)?.[0]).toBe(2);
    expect((await space.read(v, 1))[0]).toBe(2);
    expect(space.stats().dirty).toBe(0);
    space.check();
  });

  it("advise on part of a mapping splits its hints; map({ hint }) sets the whole mapping", async () => {
    const space = new AddressSpace({ frames: 8 });
    const v = space.map({ length: 10 * PS, store: new MemoryStore(), hint: "sequential" });
    await space.advise(v + 2 * PS, 3 * PS, "random");
    await space.advise(v + 3 * PS, PS, "readOnce");
    expect(space.debugInfo()).toContain("hints sequential@0 random@2 readOnce@3 random@4 sequential@5");
    await space.advise(v, 10 * PS, "normal");
    expect(space.debugInfo()).toContain("hints normal@0\n");
  });
});

describe("hints changed while faults are in flight", () => {
  it("willneed racing an unmap: the prefetch stops, no page of the removed mapping stays resident", async () => {
    for (const hold of [true, false]) {
      const store = new MemoryStore();
      const space = new AddressSpace({ frames: 32, policy: "lru" });
      const v = space.map({ length: 20 * PS, store, hint: "random" });
      if (hold) store.hold(); // the first batch is in flight when the unmap begins
      const prefetching = space.advise(v, 20 * PS, "willneed").catch((e: unknown) => e);
      await Promise.resolve();
      const unmapping = space.unmap(v);
      store.release();
      await unmapping;
      await prefetching;
      await settle();
      expect(space.stats()).toMatchObject({ resident: 0, mappings: 0, inFlight: 0 });
      space.check(); // no resident page outside every mapping
      await space.close();
    }
  });

  it("readOnce switched on under a pin: the pinned page is passed over, the others go first", async () => {
    const space = new AddressSpace({ frames: 4, policy: "lru" });
    const store = new MemoryStore();
    const v = space.map({ length: 8 * PS, store, hint: "random" });
    await readPages(space, v, range(4));
    const pin = await space.pin(v, PS, { owner: "keep" });
    await space.advise(v, 4 * PS, "readOnce");
    await readPages(space, v, [0, 1, 2, 3]); // each goes to the eviction front after use
    await readPages(space, v, [4, 5, 6]); // three evictions: pages 1, 2, 3, never the pinned 0
    expect(space.stats()).toMatchObject({ pinned: 1, resident: 4 });
    const faults = space.stats().faults;
    await space.read(v, 1);
    expect(space.stats().faults).toBe(faults); // page 0 stayed
    pin.release();
    space.check();
    await space.close();
  });
});

describe("HintRanges", () => {
  it("agrees with an array of one hint per page after any sequence of set(), in the fewest segments", () => {
    const kept: KeptHint[] = ["normal", "sequential", "random", "readOnce"];
    const setArb = fc.tuple(fc.nat(24), fc.nat(24), fc.constantFrom(...kept));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.array(setArb, { maxLength: 30 }), (pages, sets) => {
        const ranges = new HintRanges("normal", pages);
        const model: KeptHint[] = new Array(pages).fill("normal");
        for (const [a, b, h] of sets) {
          const from = Math.min(a, pages - 1);
          const to = Math.min(pages, Math.max(from + 1, b));
          ranges.set(from, to, h);
          model.fill(h, from, to);
          for (let p = 0; p < pages; p++) expect(ranges.at(p)).toBe(model[p]);
          const segs = ranges.segments();
          expect(segs[0].start).toBe(0);
          for (let i = 1; i < segs.length; i++) {
            expect(segs[i].start).toBeGreaterThan(segs[i - 1].start);
            expect(segs[i].start).toBeLessThan(pages);
            expect(segs[i].hint).not.toBe(segs[i - 1].hint); // equal neighbours merged
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
