/**
 * A RedisStore's URL names a database (redis://host:port/N). ioredis reports a failed SELECT of
 * it (an index past the server's `databases`) only as an error event and goes on in database 0:
 * a store of redis://.../99 wrote its pages into database 0, among other stores' keys, and read
 * them back from there. The store now selects the database itself before its first page, so such
 * a store fails with StoreError and writes nothing. Real redis-server (test/helpers/redis.ts).
 */
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { AddressSpace, RedisStore, StoreError } from "../../src/index.js";
import { redisForTests } from "../helpers/redis.js";

const PS = 4096;
const { redis, client } = await redisForTests();

describe("RedisStore databases", () => {
  it("a database the server does not have fails with StoreError; nothing lands in database 0", async (ctx) => {
    if (!redis) return ctx.skip();
    const store = new RedisStore({ url: `${redis.url}/99`, prefix: "db99" });
    const space = new AddressSpace({ frames: 1 });
    const v = space.map({ length: 2 * PS, store });
    const noErrors = (s: AddressSpace) => {
      const { storeErrors: _, ...rest } = s.stats();
      return JSON.stringify(rest);
    };
    const before = noErrors(space);
    const error = await space.write(v, new Uint8Array([1])).catch((e) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toMatch(/DB index is out of range/);
    expect(noErrors(space)).toBe(before);
    await expect(space.read(v, 1)).rejects.toBeInstanceOf(StoreError);
    expect(noErrors(space)).toBe(before);
    expect(await client!.keys("db99:*")).toEqual([]);
    await space.close();
    await store.close();
  });

  it("a database the server has holds the pages, not database 0", async (ctx) => {
    if (!redis) return ctx.skip();
    const store = new RedisStore({ url: `${redis.url}/3`, prefix: "db3" });
    const space = new AddressSpace({ frames: 1 });
    const v = space.map({ length: 2 * PS, store });
    await space.write(v, new Uint8Array([1]));
    await space.write(v + PS, new Uint8Array([2]));
    await space.sync();
    const three = new Redis(`${redis.url}/3`);
    expect((await three.keys("db3:*")).sort()).toEqual(["db3:0", "db3:4096", "db3:pagesize"]);
    expect(await client!.keys("db3:*")).toEqual([]);
    three.disconnect();
    await space.close();
    await store.close();
  });
});
