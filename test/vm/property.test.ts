/**
 * Model-based property test of the address space: random maps, writes, reads, peeks, pins, hints,
 * syncs and unmaps, against a plain model of the stores' bytes. Every byte read equals the last
 * byte written, across evictions, read-ahead, swap and writeback, with every store kind (Redis
 * included, on a real server). The frames are few and the pages small (512 B), so nearly every
 * command evicts.
 *
 * Model semantics (documented in stores/anonymous.ts and address-space.ts): a store is an array
 * of bytes; a mapping shows a window of it; unmapping an anonymous store's window zeroes the
 * pages no other mapping of that store covers.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AddressSpace,
  AnonymousStore,
  FileStore,
  type Hint,
  policyNames,
  RedisStore,
  type Store,
} from "../../src/index.js";
import { type RedisServer, startRedis } from "../helpers/redis.js";
import { MemoryStore, tempDir } from "./helpers.js";

const PS = 512;
const tmp = tempDir();
let redis: RedisServer | undefined;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
  tmp.remove();
});

type Cmd =
  | { kind: "map"; store: number; pages: number; short: number; offset: number; hint: Hint }
  | { kind: "unmap"; pick: number }
  | { kind: "write"; pick: number; at: number; len: number; seed: number }
  | { kind: "read"; pick: number; at: number; len: number }
  | { kind: "peek"; pick: number; at: number; len: number }
  | { kind: "pin"; pick: number; at: number; len: number; seed: number }
  | { kind: "advise"; pick: number; at: number; len: number; hint: Hint }
  | { kind: "sync" }
  | { kind: "copy"; from: number; to: number; at: number; at2: number; len: number };

const unit = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("map" as const),
      store: fc.integer({ min: 0, max: 1 }),
      pages: fc.integer({ min: 1, max: 8 }),
      short: fc.integer({ min: 0, max: PS - 1 }),
      offset: fc.integer({ min: 0, max: 6 }),
      hint: fc.constantFrom<Hint>("normal", "sequential", "random", "readOnce", "willneed"),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("unmap" as const), pick: unit }) },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("write" as const),
      pick: unit,
      at: unit,
      len: fc.integer({ min: 1, max: 3 * PS }),
      seed: fc.integer({ min: 1, max: 255 }),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("read" as const),
      pick: unit,
      at: unit,
      len: fc.integer({ min: 1, max: 3 * PS }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("peek" as const),
      pick: unit,
      at: unit,
      len: fc.integer({ min: 1, max: 2 * PS }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("pin" as const),
      pick: unit,
      at: unit,
      len: fc.integer({ min: 1, max: 2 * PS }),
      seed: fc.integer({ min: 1, max: 255 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("advise" as const),
      pick: unit,
      at: unit,
      len: fc.integer({ min: 1, max: 4 * PS }),
      hint: fc.constantFrom<Hint>("normal", "sequential", "random", "readOnce", "willneed", "dontneed"),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("sync" as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("copy" as const),
      from: unit,
      to: unit,
      at: unit,
      at2: unit,
      len: fc.integer({ min: 1, max: 2 * PS }),
    }),
  },
);

interface ModelMapping {
  v: number;
  store: number;
  offset: number;
  length: number;
}

/** The bytes of each store as the model sees them. */
class ModelStore {
  bytes = new Uint8Array(0);
  constructor(readonly anonymous: boolean) {}
  ensure(n: number): void {
    if (n <= this.bytes.length) return;
    const b = new Uint8Array(Math.max(n, this.bytes.length * 2));
    b.set(this.bytes);
    this.bytes = b;
  }
  get(o: number, n: number): Uint8Array {
    this.ensure(o + n);
    return this.bytes.slice(o, o + n);
  }
  set(o: number, data: Uint8Array): void {
    this.ensure(o + data.length);
    this.bytes.set(data, o);
  }
}

function fill(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (seed + i * 7) & 0xff;
  return out;
}

/** Position and length of an access inside mapping m, from unit floats. */
function place(m: ModelMapping, at: number, len: number): [number, number] {
  const start = Math.floor(at * m.length);
  return [start, Math.max(1, Math.min(len, m.length - start))];
}

let runId = 0;

async function run(
  kind: "anonymous" | "file" | "memory" | "redis",
  frames: number,
  policy: string,
  cmds: Cmd[],
) {
  const id = ++runId;
  const space = new AddressSpace({ frames, pageSize: PS, policy, readahead: { initial: 2, max: 4 } });
  const stores: Store[] = [];
  const models: ModelStore[] = [];
  for (let i = 0; i < 2; i++) {
    if (kind === "anonymous") stores.push(new AnonymousStore({ swap: join(tmp.path, `p${id}-${i}.swap`) }));
    else if (kind === "file") stores.push(new FileStore(join(tmp.path, `p${id}-${i}.dat`)));
    else if (kind === "memory") stores.push(new MemoryStore());
    else stores.push(new RedisStore({ url: redis!.url, prefix: `prop:${id}:${i}` }));
    models.push(new ModelStore(kind === "anonymous"));
  }
  const maps: ModelMapping[] = [];
  const pick = (u: number) => maps[Math.floor(u * maps.length)];
  try {
    for (const c of cmds) {
      if (c.kind === "map") {
        const length = c.pages * PS - c.short;
        const v = space.map({ length, store: stores[c.store], offset: c.offset * PS, hint: c.hint });
        maps.push({ v, store: c.store, offset: c.offset * PS, length });
        continue;
      }
      if (c.kind === "sync") {
        await space.sync();
        continue;
      }
      if (maps.length === 0) continue;
      if (c.kind === "unmap") {
        const i = Math.floor(c.pick * maps.length);
        const m = maps[i];
        await space.unmap(m.v);
        maps.splice(i, 1);
        const model = models[m.store];
        if (model.anonymous) {
          for (let p = m.offset; p < m.offset + Math.ceil(m.length / PS) * PS; p += PS) {
            const covered = maps.some(
              (o) => o.store === m.store && p >= o.offset && p < o.offset + Math.ceil(o.length / PS) * PS,
            );
            if (!covered) model.set(p, new Uint8Array(PS));
          }
        }
      } else if (c.kind === "write") {
        const m = pick(c.pick);
        const [o, n] = place(m, c.at, c.len);
        const data = fill(n, c.seed);
        await space.write(m.v + o, data);
        models[m.store].set(m.offset + o, data);
      } else if (c.kind === "read" || c.kind === "peek") {
        const m = pick(c.pick);
        const [o, n] = place(m, c.at, c.len);
        const got = c.kind === "read" ? await space.read(m.v + o, n) : await space.peek(m.v + o, n);
        expect(got).toEqual(models[m.store].get(m.offset + o, n));
      } else if (c.kind === "pin") {
        const m = pick(c.pick);
        const [o, n] = place(m, c.at, c.len);
        if (Math.ceil((o % PS) + n) / PS > frames) continue;
        let pin: Awaited<ReturnType<AddressSpace["pin"]>>;
        try {
          pin = await space.pin(m.v + o, n, { owner: "property" });
        } catch (e) {
          if ((e as { reason?: string }).reason === "all-pinned") continue;
          throw e;
        }
        expect(pin.bytes).toEqual(models[m.store].get(m.offset + o, n));
        const data = fill(n, c.seed);
        pin.bytes.set(data);
        pin.release();
        models[m.store].set(m.offset + o, data);
      } else if (c.kind === "advise") {
        const m = pick(c.pick);
        const [o, n] = place(m, c.at, c.len);
        await space.advise(m.v + o, n, c.hint);
      } else if (c.kind === "copy") {
        const a = pick(c.from);
        const b = pick(c.to);
        const [o1, n1] = place(a, c.at, c.len);
        const [o2, n2] = place(b, c.at2, n1);
        const n = Math.min(n1, n2);
        await space.copy(a.v + o1, b.v + o2, n);
        models[b.store].set(b.offset + o2, models[a.store].get(a.offset + o1, n));
      }
      space.check();
    }
    // Finally every mapped byte, and for files the bytes on disk after sync.
    for (const m of maps)
      expect(await space.read(m.v, m.length)).toEqual(models[m.store].get(m.offset, m.length));
    await space.sync();
    if (kind === "file") {
      for (let i = 0; i < 2; i++) {
        const disk = await readFile(join(tmp.path, `p${id}-${i}.dat`)).catch(() => Buffer.alloc(0));
        expect(new Uint8Array(disk)).toEqual(models[i].get(0, disk.length));
      }
    }
  } finally {
    await space.close().catch(() => {});
    for (const s of stores) {
      if (s instanceof RedisStore) await s.clear().catch(() => {});
      await s.close();
    }
  }
}

const policies = policyNames();
const params = fc.tuple(
  fc.integer({ min: 1, max: 6 }),
  fc.constantFrom(...policies),
  fc.array(cmdArb, { minLength: 10, maxLength: 60 }),
);

describe("address space against a model of its stores", () => {
  for (const kind of ["memory", "anonymous", "file"] as const) {
    it(`${kind} stores: every byte read is the last byte written`, async () => {
      await fc.assert(
        fc.asyncProperty(params, ([frames, policy, cmds]) => run(kind, frames, policy, cmds)),
        { numRuns: 100 },
      );
    });
  }
  it("Redis stores (a real redis-server): every byte read is the last byte written", async (ctx) => {
    if (!redis) ctx.skip();
    await fc.assert(
      fc.asyncProperty(params, ([frames, policy, cmds]) => run("redis", frames, policy, cmds)),
      { numRuns: 50 },
    );
  });
});
