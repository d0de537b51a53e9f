/**
 * willneed reads in no more pages than the frames not pinned can hold: beyond that each page read
 * would evict one the same advise() had just read, the first pages of the range among them.
 */
import { describe, expect, it } from "vitest";
import { AddressSpace } from "../../src/index.js";
import { MemoryStore } from "./helpers.js";

const PS = 4096;

describe("willneed next to pinned pages", () => {
  it("prefetches only what the unpinned frames hold, so the range's first page is a hit", async () => {
    const space = new AddressSpace({ frames: 4, policy: "lru" });
    const v = space.map({ length: 16 * PS, store: new MemoryStore(), hint: "random" });
    const pin = await space.pin(v, 3 * PS, { owner: "test" });
    await space.advise(v + 4 * PS, 8 * PS, "willneed");
    const s = space.stats();
    expect(s).toMatchObject({ resident: 4, prefetched: 1, evictions: 0 });
    await space.read(v + 4 * PS, 1);
    expect(space.stats()).toMatchObject({ faults: s.faults, hits: s.hits + 1 });
    space.check();
    pin.release();
  });

  it("the range's own pinned pages take no more room", async () => {
    const space = new AddressSpace({ frames: 4, policy: "lru" });
    const v = space.map({ length: 16 * PS, store: new MemoryStore(), hint: "random" });
    const pin = await space.pin(v, 2 * PS, { owner: "test" });
    await space.advise(v, 8 * PS, "willneed"); // pages 0 and 1 pinned, room for 2 and 3
    expect(space.stats()).toMatchObject({ resident: 4, prefetched: 2, evictions: 0 });
    space.check();
    pin.release();
  });

  it("every frame pinned: willneed still fails at once, with reason all-pinned", async () => {
    const space = new AddressSpace({ frames: 2 });
    const v = space.map({ length: 8 * PS, store: new MemoryStore() });
    const pin = await space.pin(v, 2 * PS);
    await expect(space.advise(v + 2 * PS, 4 * PS, "willneed")).rejects.toMatchObject({
      reason: "all-pinned",
    });
    expect(space.stats()).toMatchObject({ resident: 2, prefetched: 0 });
    pin.release();
  });
});
