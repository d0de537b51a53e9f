/**
 * RedisStore.clear() deletes its own prefix's pages and page-size record, and nothing else. It
 * scanned for "<prefix>:*", which also matches every key of a longer prefix ("cl:a" pages under
 * "cl") and, with glob characters in the prefix ("c*"), keys of other prefixes altogether: clearing
 * one store deleted the pages of others. Real redis-server (test/helpers/redis.ts).
 */
import { describe, expect, it } from "vitest";
import { AddressSpace, RedisStore } from "../../src/index.js";
import { redisForTests } from "../helpers/redis.js";
import { pattern } from "./helpers.js";

const PS = 4096;
const { redis, client } = await redisForTests();

/** Writes `pages` pages through a space into `store` and syncs them out. */
async function fill(store: RedisStore, pages: number, seed: number): Promise<void> {
  const space = new AddressSpace({ frames: 2 });
  const v = space.map({ length: pages * PS, store });
  for (let p = 0; p < pages; p++) await space.write(v + p * PS, pattern(PS, seed + p));
  await space.close();
}

describe("RedisStore.clear", () => {
  it("leaves the pages of a longer prefix and of prefixes its glob characters would match", async (ctx) => {
    if (!redis) return ctx.skip();
    const url = redis.url;
    const short = new RedisStore({ url, prefix: "cl" });
    const longer = new RedisStore({ url, prefix: "cl:a" });
    const glob = new RedisStore({ url, prefix: "c*" });
    const other = new RedisStore({ url, prefix: "cx" });
    await fill(short, 3, 1);
    await fill(longer, 2, 10);
    await fill(glob, 2, 20);
    await fill(other, 2, 30);
    await client!.set("cl:unrelated", "kept");
    const before = (await client!.keys("c*")).sort();

    expect(await short.clear()).toBe(3);
    const afterShort = (await client!.keys("c*")).sort();
    expect(afterShort).toEqual(before.filter((k) => !/^cl:(\d+|pagesize)$/.test(k)));
    expect(await glob.clear()).toBe(2);
    expect((await client!.keys("c*")).sort()).toEqual(
      afterShort.filter((k) => !/^c\*:(\d+|pagesize)$/.test(k)),
    );

    // The longer prefix's pages are all there.
    const space = new AddressSpace({ frames: 2 });
    const v = space.map({ length: 2 * PS, store: longer });
    for (let p = 0; p < 2; p++) expect(await space.read(v + p * PS, PS)).toEqual(pattern(PS, 10 + p));
    await space.close();
    expect(await longer.clear()).toBe(2);
    expect(await other.clear()).toBe(2);
    expect(await client!.get("cl:unrelated")).toBe("kept");
    for (const s of [short, longer, glob, other]) await s.close();
  });
});
