/**
 * Two RedisStore objects of one server, database and prefix name the same keys (two stores given
 * one prefix for two regions, say). Mapped in one space they had a page cache each: a
 * page written through one region showed up in the other once evicted and read back, and the
 * last write back of a page undid the other's. Such a store now has a Store.identity, and map()
 * refuses the second object as it refuses a second FileStore of a mapped file. map() does no I/O,
 * so no server is needed.
 */
import { describe, expect, it } from "vitest";
import { AddressSpace, InvalidArgumentError, RedisStore } from "../../src/index.js";

const PS = 4096;

describe("RedisStore identity", () => {
  it("a second store of the same server, database and prefix is refused; others map", async () => {
    const stores = [
      new RedisStore({ url: "redis://127.0.0.1:1", prefix: "q" }),
      new RedisStore({ url: "redis://127.0.0.1:1/0", prefix: "q" }),
      new RedisStore({ url: "redis://user:secret@LOCALHOST:1", prefix: "p" }),
      new RedisStore({ url: "redis://localhost:1/0", prefix: "p" }),
      new RedisStore({ url: "redis://127.0.0.1:1", prefix: "other" }),
      new RedisStore({ url: "redis://127.0.0.1:1/3", prefix: "q" }),
    ];
    const space = new AddressSpace({ frames: 2 });
    space.map({ length: PS, store: stores[0] });
    space.map({ length: PS, store: stores[2] });
    const before = JSON.stringify(space.stats()) + space.debugInfo();
    expect(() => space.map({ length: PS, store: stores[1] })).toThrow(InvalidArgumentError);
    expect(() => space.map({ length: PS, store: stores[3] })).toThrow(/same bytes/);
    expect(JSON.stringify(space.stats()) + space.debugInfo()).toBe(before);
    space.map({ length: PS, store: stores[4] }); // another prefix
    space.map({ length: PS, store: stores[5] }); // another database
    space.map({ length: PS, store: stores[0], offset: PS }); // the one object again
    // Nor may another space write through the same keys.
    const other = new AddressSpace({ frames: 2 });
    expect(() => other.map({ length: PS, store: stores[1] })).toThrow(/another address space/);
    expect(space.stats().mappings).toBe(5);
    await space.close();
    other.map({ length: PS, store: stores[1] });
    await other.close();
    for (const s of stores) s.client.disconnect();
  });
});
