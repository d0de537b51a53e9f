/**
 * Kept hints set on part of a mapping with advise() act on that part only: neither drop-behind
 * nor read-ahead of a neighbouring range reaches pages hinted otherwise.
 */
import { describe, expect, it } from "vitest";
import { AddressSpace } from "../../src/index.js";
import { MemoryStore } from "./helpers.js";

const PS = 4096;

async function readPages(space: AddressSpace, v: number, from: number, to: number): Promise<void> {
  for (let p = from; p < to; p++) await space.read(v + p * PS, 16);
}

describe("hints on a range of a mapping", () => {
  for (const outside of ["normal", "random"] as const) {
    it(`sequential on pages 4..40: drop-behind never sends page 3 (${outside}) to the eviction front`, async () => {
      const space = new AddressSpace({ frames: 8, policy: "lru" });
      const v = space.map({ length: 40 * PS, store: new MemoryStore(), hint: outside });
      await space.advise(v + 4 * PS, 36 * PS, "sequential");
      for (let round = 0; round < 3; round++) {
        await readPages(space, v, 0, 4); // the hot header
        await readPages(space, v, 4, 40); // the scanned body, dropped behind as it goes
      }
      const before = space.stats().faults;
      await readPages(space, v, 0, 4);
      expect(space.stats().faults - before).toBe(0);
      space.check();
    });
  }

  it("random on pages 10..40: read-ahead of the sequential faults before it stops at page 10", async () => {
    const space = new AddressSpace({ frames: 32, policy: "lru" });
    const v = space.map({ length: 40 * PS, store: new MemoryStore() });
    await space.advise(v + 10 * PS, 30 * PS, "random");
    await readPages(space, v, 0, 10);
    const before = space.stats();
    expect(before.readahead).toBeGreaterThan(0); // the normal pages did read ahead
    expect(before.resident).toBe(10);
    await readPages(space, v, 10, 20);
    const after = space.stats();
    expect(after.faults - before.faults).toBe(10);
    expect(after.readahead).toBe(before.readahead);
    space.check();
  });
});
