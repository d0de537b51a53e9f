/**
 * RedisStore without a prefix takes one of its own, like anonymous memory: two stores made with
 * just `{ url }` (as DESIGN.md writes them) are independent, a fresh one reads zeros whatever an
 * earlier store left on the server, and close() deletes its keys. With a fixed default prefix,
 * two such stores named the same keys: a region read the other's evicted pages, and a space could
 * not map a second one. A store given a prefix keeps its pages past close() for a later store.
 * Real redis-server (test/helpers/redis.ts).
 */
import { describe, expect, it } from "vitest";
import { AddressSpace, RedisStore } from "../../src/index.js";
import { redisForTests } from "../helpers/redis.js";
import { pattern } from "./helpers.js";

const PS = 4096;
const { redis, client } = await redisForTests();

async function keysOf(prefix: string): Promise<string[]> {
  return client!.keys(`${prefix}:*`);
}

describe("RedisStore's default prefix", () => {
  it("two stores made with just { url } are independent, in one space and in two", async (ctx) => {
    if (!redis) return ctx.skip();
    const a = new RedisStore({ url: redis.url });
    const b = new RedisStore({ url: redis.url });
    expect(a.prefix).not.toBe(b.prefix);
    const one = new AddressSpace({ frames: 2 });
    const va = one.map({ length: 8 * PS, store: a, hint: "random" });
    const vb = one.map({ length: 8 * PS, store: b, hint: "random" });
    for (let p = 0; p < 8; p++) await one.write(va + p * PS, pattern(PS, p));
    await one.sync(); // every page of a in Redis, most of them evicted
    for (let p = 0; p < 8; p++) expect(await one.read(vb + p * PS, PS)).toEqual(new Uint8Array(PS));
    for (let p = 0; p < 8; p++) expect(await one.read(va + p * PS, PS)).toEqual(pattern(PS, p));
    // A third store of the same server in another space: zeros too, and allowed.
    const c = new RedisStore({ url: redis.url });
    const two = new AddressSpace({ frames: 2 });
    const vc = two.map({ length: 8 * PS, store: c });
    expect(await two.read(vc + 3 * PS, PS)).toEqual(new Uint8Array(PS));
    await one.close();
    await two.close();
    for (const s of [a, b, c]) await s.close();
  });

  it("close() deletes a default-prefix store's keys; a given prefix keeps them for a later store", async (ctx) => {
    if (!redis) return ctx.skip();
    const temp = new RedisStore({ url: redis.url });
    const kept = new RedisStore({ url: redis.url, prefix: "dp:kept" });
    const space = new AddressSpace({ frames: 1 });
    const vt = space.map({ length: 4 * PS, store: temp });
    const vk = space.map({ length: 4 * PS, store: kept });
    for (let p = 0; p < 4; p++) {
      await space.write(vt + p * PS, pattern(PS, p));
      await space.write(vk + p * PS, pattern(PS, 10 + p));
    }
    await space.sync();
    expect((await keysOf(temp.prefix)).length).toBe(5); // 4 pages and the page-size record
    await space.close();
    await temp.close();
    await kept.close();
    expect(await keysOf(temp.prefix)).toEqual([]);
    expect((await keysOf("dp:kept")).length).toBe(5);
    const again = new RedisStore({ url: redis.url, prefix: "dp:kept" });
    const later = new AddressSpace({ frames: 1 });
    const v = later.map({ length: 4 * PS, store: again });
    for (let p = 0; p < 4; p++) expect(await later.read(v + p * PS, PS)).toEqual(pattern(PS, 10 + p));
    await later.close();
    await again.clear();
    await again.close();
  });
});
