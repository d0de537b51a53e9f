/**
 * RedisStore under concurrent faults, evictions, syncs and dontneed, against a model, on a real
 * redis-server (test/helpers/redis.ts; skipped loudly where it is missing). Each step starts one
 * command per page on distinct pages at once, with fewer frames than pages, so that evictions write
 * pages back (SETRANGE of a dirty prefix) while other pages are read in (pipelined GETs of a
 * read-ahead batch). Every read sees the model; after a final sync the server's keys hold the
 * model's bytes (a missing key is a page never written, zeros).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AddressSpace, RedisStore } from "../../src/index.js";
import { redisForTests } from "../helpers/redis.js";
import { pattern } from "./helpers.js";

const PS = 512;
const PAGES = 8;
const { redis, client } = await redisForTests();

type Op =
  | { page: number; kind: "write"; at: number; len: number; seed: number }
  | { page: number; kind: "read" | "dontneed" | "sync" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    page: fc.nat(PAGES - 1),
    kind: fc.constant("write" as const),
    at: fc.nat(PS - 1),
    len: fc.integer({ min: 1, max: PS }),
    seed: fc.nat(999),
  }),
  fc.record({
    page: fc.nat(PAGES - 1),
    kind: fc.constantFrom("read" as const, "read" as const, "dontneed" as const, "sync" as const),
  }),
);
const stepArb = fc.uniqueArray(opArb, { minLength: 1, maxLength: 6, selector: (op) => op.page });

let run = 0;

describe("RedisStore under concurrent commands", () => {
  it("reads see the model and, after a sync, the server holds it", async (ctx) => {
    if (!redis) return ctx.skip();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom("lru", "clock", "adaptive"),
        fc.array(stepArb, { minLength: 1, maxLength: 8 }),
        async (frames, policy, steps) => {
          const prefix = `model${run++}`;
          const store = new RedisStore({ url: redis!.url, prefix });
          const space = new AddressSpace({ frames, pageSize: PS, policy, readahead: { initial: 2, max: 4 } });
          const v = space.map({ length: PAGES * PS, store });
          const model = new Uint8Array(PAGES * PS);
          try {
            for (const step of steps) {
              await Promise.all(
                step.map(async (op) => {
                  const base = op.page * PS;
                  if (op.kind === "write") {
                    const n = Math.min(op.len, PS - op.at);
                    const data = pattern(n, op.seed);
                    await space.write(v + base + op.at, data);
                    model.set(data, base + op.at);
                  } else if (op.kind === "read") {
                    expect(await space.read(v + base, PS), `page ${op.page}`).toEqual(
                      model.subarray(base, base + PS),
                    );
                  } else if (op.kind === "dontneed") await space.advise(v + base, PS, "dontneed");
                  else await space.sync(v + base, PS);
                }),
              );
              space.check();
            }
            await space.sync();
            for (let p = 0; p < PAGES; p++) {
              const value = await client!.getBuffer(`${prefix}:${p * PS}`);
              const page = new Uint8Array(PS);
              if (value) page.set(value.subarray(0, PS));
              expect(page, `key of page ${p}`).toEqual(model.subarray(p * PS, (p + 1) * PS));
            }
            expect(await space.read(v, PAGES * PS)).toEqual(model);
          } finally {
            await space.close();
            await store.clear();
            await store.close();
          }
        },
      ),
      { numRuns: 60 },
    );
  }, 60_000);
});
