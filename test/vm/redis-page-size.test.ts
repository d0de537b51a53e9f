/**
 * A RedisStore keeps one key per page, named by the page's byte offset, so the keys of a prefix
 * only make sense for one page size: 4 KiB pages read <prefix>:4096 for bytes that 8 KiB pages
 * wrote into the value of <prefix>:0. A space with another page size than the one that wrote a
 * prefix used to read zeros there (the data looked lost, and a write back would have put a second
 * layout beside the first). Now the prefix records its page size, and a store of another page size
 * fails with StoreError instead; a store object refuses a second page size at map().
 * Real redis-server (test/helpers/redis.ts: skipped loudly where missing, a failure under CI=true).
 */
import { describe, expect, it } from "vitest";
import { AddressSpace, InvalidArgumentError, RedisStore, StoreError } from "../../src/index.js";
import { redisForTests } from "../helpers/redis.js";
import { pattern } from "./helpers.js";

const { redis, client } = await redisForTests();

describe("RedisStore page sizes", () => {
  it("a space of another page size fails on a prefix written with 8 KiB pages instead of reading zeros", async (ctx) => {
    if (!redis) return ctx.skip();
    const big = new RedisStore({ url: redis.url, prefix: "ps1" });
    const a = new AddressSpace({ frames: 2, pageSize: 8192 });
    const va = a.map({ length: 16384, store: big });
    await a.write(va, pattern(16384, 1));
    await a.close();
    await big.close();
    expect(await client!.get("ps1:pagesize")).toBe("8192");

    const small = new RedisStore({ url: redis.url, prefix: "ps1" });
    const b = new AddressSpace({ frames: 2, pageSize: 4096 });
    const vb = b.map({ length: 16384, store: small });
    await expect(b.read(vb + 4096, 16)).rejects.toBeInstanceOf(StoreError);
    await expect(b.read(vb + 4096, 16)).rejects.toThrow(/holds 8192-byte pages/);
    expect(b.stats().resident).toBe(0);
    b.check();
    await b.close();

    // The same page size reads it all back; clear() frees the prefix for another size.
    const again = new RedisStore({ url: redis.url, prefix: "ps1" });
    const c = new AddressSpace({ frames: 2, pageSize: 8192 });
    const vc = c.map({ length: 16384, store: again });
    expect(await c.read(vc, 16384)).toEqual(pattern(16384, 1));
    await c.close();
    expect(await again.clear()).toBe(2);
    const d = new AddressSpace({ frames: 2, pageSize: 4096 });
    const vd = d.map({ length: 4096, store: small });
    expect((await d.read(vd, 4)).every((x) => x === 0)).toBe(true);
    await d.close();
    await again.close();
    await small.close();
  });

  it("a store object refuses to be mapped with a second page size, changing nothing", async (ctx) => {
    if (!redis) return ctx.skip();
    const store = new RedisStore({ url: redis.url, prefix: "ps2" });
    const a = new AddressSpace({ frames: 2, pageSize: 1024 });
    const v = a.map({ length: 4096, store });
    await a.write(v, new Uint8Array([1]));
    await a.unmap(v);
    const b = new AddressSpace({ frames: 2, pageSize: 2048 });
    expect(() => b.map({ length: 4096, store })).toThrow(InvalidArgumentError);
    expect(b.stats().mappings).toBe(0);
    await store.clear();
    await store.close();
  });
});
