/**
 * AddressSpace options the constructor used to take without a look: a `now` that is not a
 * function (accepted; the first write then threw a TypeError from inside the pager, after
 * counting the page dirty, so check() failed from then on), a null policy (a TypeError instead
 * of InvalidArgumentError), a readahead that is not an object (ignored), and a larger initial
 * read-ahead window given alone (refused, naming readahead.max, which the caller never set).
 */
import { describe, expect, it } from "vitest";
import { AddressSpace, InvalidArgumentError } from "../../src/index.js";
import { MemoryStore } from "./helpers.js";

describe("AddressSpace options", () => {
  it("refuses a now that is not a function, a null policy and a readahead that is not an object", () => {
    for (const bad of [5, "Date.now", null, {}]) {
      expect(() => new AddressSpace({ frames: 2, now: bad as unknown as () => number })).toThrow(
        InvalidArgumentError,
      );
    }
    expect(() => new AddressSpace({ frames: 2, policy: null as unknown as string })).toThrow(
      InvalidArgumentError,
    );
    for (const bad of [5, "fast", true]) {
      expect(
        () => new AddressSpace({ frames: 2, readahead: bad as unknown as { initial?: number } }),
      ).toThrow(InvalidArgumentError);
    }
  });

  it("a given now is the clock of dirty ages; a write works and the counters stay exact", async () => {
    let t = 1000;
    const space = new AddressSpace({ frames: 2, pageSize: 512, now: () => t++ });
    const v = space.map({ length: 2048, store: new MemoryStore() });
    await space.write(v, new Uint8Array([1]));
    expect(space.stats().dirty).toBe(1);
    space.check();
    expect(await space.writeback(1, 1001)).toBe(1);
  });

  it("an initial read-ahead window above the default largest one, given alone, raises that too", async () => {
    const store = new MemoryStore();
    const space = new AddressSpace({ frames: 512, pageSize: 512, readahead: { initial: 64 } });
    const v = space.map({ length: 512 * 512, store, hint: "sequential" });
    await space.read(v, 1);
    expect(space.stats().readahead).toBe(64);
  });
});
