/**
 * A ReplacementPolicy instance tracks the page keys of one address space. Two spaces given the
 * same instance (both fresh, so both constructors accepted it) fed it keys that are the same
 * numbers in each (store ids start at 1 per space): the policy held 4 pages for 2 resident in
 * either space, check() failed, and a victim it named could be the other space's page, absent
 * here. The second space is now refused.
 */
import { describe, expect, it } from "vitest";
import { AddressSpace, InvalidArgumentError, LruPolicy, registerPolicy } from "../../src/index.js";
import { MemoryStore } from "./helpers.js";

const PS = 4096;

describe("a policy instance belongs to one space", () => {
  it("a second space given the same instance is refused", async () => {
    const policy = new LruPolicy(2);
    const a = new AddressSpace({ frames: 2, policy });
    expect(() => new AddressSpace({ frames: 2, policy })).toThrow(InvalidArgumentError);
    expect(() => new AddressSpace({ frames: 2, policy })).toThrow(/no other address space/);
    const v = a.map({ length: 8 * PS, store: new MemoryStore() });
    for (let p = 0; p < 8; p++) await a.write(v + p * PS, new Uint8Array([p + 1]));
    for (let p = 0; p < 8; p++) expect(await a.read(v + p * PS, 1)).toEqual(new Uint8Array([p + 1]));
    a.check();
    expect(policy.size).toBe(2);
    await a.close();
  });
});

describe("a policy instance must have every method of ReplacementPolicy", () => {
  it("one without forget is refused at construction, naming it (unmap failed with a TypeError halfway)", async () => {
    const lru = new LruPolicy(2);
    // A custom policy that wraps LRU and forgot to implement forget().
    const partial = {
      name: "partial",
      capacity: 2,
      get size() {
        return lru.size;
      },
      has: (k: number) => lru.has(k),
      hit: (k: number) => lru.hit(k),
      insert: (k: number) => lru.insert(k),
      victim: (k: number, e?: (key: number) => boolean) => lru.victim(k, e),
      evict: (k: number) => lru.evict(k),
      stats: () => lru.stats(),
      check: () => lru.check(),
    };
    expect(() => new AddressSpace({ frames: 2, policy: partial as unknown as LruPolicy })).toThrow(
      /missing forget/,
    );
    expect(() => new AddressSpace({ frames: 2, policy: partial as unknown as LruPolicy })).toThrow(
      InvalidArgumentError,
    );
    // Nothing was taken: the complete policy it wraps is still free for a space.
    const space = new AddressSpace({ frames: 2, policy: lru });
    const v = space.map({ length: PS, store: new MemoryStore() });
    await space.write(v, new Uint8Array([1]));
    await space.unmap(v);
    space.check();
    await space.close();
  });
});

describe("a registered policy's factory is held to the same", () => {
  it("one whose policy lacks a method, has another capacity or is shared is refused by name", () => {
    registerPolicy("no-forget", "test: LRU without forget", (c) => {
      const lru = new LruPolicy(c) as Partial<LruPolicy>;
      lru.forget = undefined;
      return lru as LruPolicy;
    });
    expect(() => new AddressSpace({ frames: 2, policy: "no-forget" })).toThrow(/missing forget/);
    registerPolicy("fixed-size", "test: always 8 frames", () => new LruPolicy(8));
    expect(() => new AddressSpace({ frames: 2, policy: "fixed-size" })).toThrow(/capacity 2/);
    const one = new LruPolicy(2);
    registerPolicy("singleton", "test: one instance for all", () => one);
    const a = new AddressSpace({ frames: 2, policy: "singleton" });
    expect(() => new AddressSpace({ frames: 2, policy: "singleton" })).toThrow(InvalidArgumentError);
    expect(a.policy).toBe(one);
  });
});
