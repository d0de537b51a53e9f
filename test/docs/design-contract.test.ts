/**
 * DESIGN.md's "Public contract", line by line, through the package root: the names outside checks
 * and the examples rely on, with the semantics each line states. A deviation here breaks users
 * who wrote code against DESIGN.md, whatever the layer tests say.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as mneme from "../../src/index.js";
import {
  AddressSpace,
  AnonymousStore,
  DoubleFreeError,
  FileStore,
  Heap,
  InvalidAddressError,
  InvalidArgumentError,
  Mempool,
  MnemeError,
  OutOfMemoryError,
  OutOfPoolMemoryError,
  PageAllocator,
  RedisStore,
  type Store,
} from "../../src/index.js";
import { type RedisServer, startRedis } from "../helpers/redis.js";

const root = new URL("../../", import.meta.url).pathname;
const CONTRACT_NAMES = [
  "PageAllocator",
  "Heap",
  "Mempool",
  "AddressSpace",
  "FileStore",
  "AnonymousStore",
  "RedisStore",
  "MnemeError",
  "OutOfMemoryError",
  "OutOfPoolMemoryError",
  "InvalidArgumentError",
  "InvalidAddressError",
  "DoubleFreeError",
];

describe("the package root", () => {
  it("exports every name of the contract, and every error extends MnemeError", () => {
    for (const name of CONTRACT_NAMES)
      expect(typeof (mneme as Record<string, unknown>)[name], name).toBe("function");
    for (const E of [
      OutOfMemoryError,
      OutOfPoolMemoryError,
      InvalidArgumentError,
      InvalidAddressError,
      DoubleFreeError,
    ])
      expect(E.prototype).toBeInstanceOf(MnemeError);
    expect(MnemeError.prototype).toBeInstanceOf(Error);
  });

  it('resolves as `import … from "mneme"` from the built package', () => {
    const dir = mkdtempSync(join(root, "test", "docs", ".contract-"));
    try {
      const file = join(dir, "names.mjs");
      writeFileSync(
        file,
        `import * as m from "mneme";\nconsole.log(JSON.stringify(${JSON.stringify(CONTRACT_NAMES)}.filter((n) => typeof m[n] !== "function")));\n`,
      );
      const out = execFileSync(process.execPath, [file], { cwd: root, encoding: "utf8" });
      expect(JSON.parse(out)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("page layer", () => {
  it("new PageAllocator({ bytes, pageSize?, maxOrder?, shared? }) and its calls", () => {
    const pages = new PageAllocator({ bytes: 8 << 20, pageSize: 4096, maxOrder: 10, shared: false });
    expect(pages.memory).toBeInstanceOf(Uint8Array);
    expect(pages.memory.length).toBe(8 << 20);
    const start = pages.stats();
    for (const k of ["total", "free", "contiguous"] as const) expect(typeof start[k]).toBe("number");

    // Any size, power-of-two alignment; never address 0.
    const a = pages.alloc(10_000, 65536);
    expect(a).toBeGreaterThan(0);
    expect(a % 65536).toBe(0);
    expect(pages.sizeOf(a)).toBeGreaterThanOrEqual(10_000);
    expect(pages.sizeOf(a) % 4096).toBe(0);
    const b = pages.alloc(1);
    expect(pages.sizeOf(b)).toBe(4096);

    // allocPages(order): 2^order contiguous pages.
    const c = pages.allocPages(3);
    expect(pages.sizeOf(c)).toBe(8 * 4096);
    expect(c % (8 * 4096)).toBe(0);

    // allocBulk(count): count single pages, distinct.
    const bulk = pages.allocBulk(37);
    expect(bulk).toHaveLength(37);
    expect(new Set(bulk).size).toBe(37);
    for (const p of bulk) expect(pages.sizeOf(p)).toBe(4096);

    // The arena is the memory: blocks do not overlap.
    const all = [a, b, c, ...bulk].map((x) => [x, x + pages.sizeOf(x)]).sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < all.length; i++) expect(all[i][0]).toBeGreaterThanOrEqual(all[i - 1][1]);
    const used = all.reduce((s, [x, y]) => s + (y - x), 0);
    expect(start.free - pages.stats().free).toBe(used);

    expect(typeof pages.debugInfo()).toBe("string");
    pages.check();
    for (const p of [a, b, c, ...bulk]) pages.free(p);
    expect(pages.stats().free).toBe(start.free);
    expect(() => pages.free(a)).toThrow(DoubleFreeError);
    expect(() => pages.alloc(0)).toThrow(InvalidArgumentError);
    expect(() => pages.alloc(4096, 3)).toThrow(InvalidArgumentError);
    // Larger than the arena can ever hold: a bad argument; larger than what is free now: no memory.
    expect(() => pages.alloc(1 << 30)).toThrow(InvalidArgumentError);
    const hog = pages.alloc(6 << 20);
    expect(() => pages.alloc(4 << 20)).toThrow(OutOfMemoryError);
    pages.free(hog);
    pages.check();
  });

  it("shared: true puts the arena in a SharedArrayBuffer; defaults are 4 KiB pages", () => {
    const pages = new PageAllocator({ bytes: 1 << 20, shared: true });
    expect(pages.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(pages.sizeOf(pages.alloc(1))).toBe(4096);
  });
});

describe("object layer", () => {
  it("kmalloc: malloc / calloc / realloc / alignedAlloc / free / usableSize", () => {
    const heap = new Heap({ bytes: 16 << 20 });
    const m = heap.memory;
    const a = heap.malloc(100);
    expect(heap.usableSize(a)).toBeGreaterThanOrEqual(100);
    m.fill(0xab, a, a + 100);
    const a2 = heap.realloc(a, 5000);
    expect(heap.usableSize(a2)).toBeGreaterThanOrEqual(5000);
    expect([...m.subarray(a2, a2 + 100)].every((x) => x === 0xab)).toBe(true);
    heap.free(a2);
    const c = heap.calloc(10, 100);
    expect([...m.subarray(c, c + 1000)].every((x) => x === 0)).toBe(true);
    const al = heap.alignedAlloc(4096, 24);
    expect(al % 4096).toBe(0);
    heap.free(c);
    heap.free(al);
    expect(() => heap.free(al)).toThrow(DoubleFreeError);
    expect(() => heap.free(12345)).toThrow(MnemeError);
    expect(() => heap.malloc(-1)).toThrow(InvalidArgumentError);
    heap.check();
  });

  it("createCache(name, objectSize, { align?, ctor? }) -> SlabCache", () => {
    const heap = new Heap({ bytes: 16 << 20, pageSize: 4096 });
    const made: number[] = [];
    const cache = heap.createCache("obj117", 117, { ctor: (addr: number) => made.push(addr) });
    expect(cache.objectsPerSlab).toBe(34);
    const xs = Array.from({ length: 100 }, () => cache.alloc());
    expect(new Set(xs).size).toBe(100);
    expect(made.length).toBeGreaterThanOrEqual(100);
    const s = cache.stats();
    expect(typeof s).toBe("object");
    for (const x of xs) cache.free(x);
    expect(() => cache.free(xs[0])).toThrow(DoubleFreeError);
    const aligned = heap.createCache("a64", 40, { align: 64 });
    const y = aligned.alloc();
    expect(y % 64).toBe(0);
    aligned.free(y);
    heap.shrink();
    heap.check();
  });

  it("vmalloc / vread / vwrite / vfree over scattered pages, and heap figures", () => {
    const heap = new Heap({ bytes: 16 << 20 });
    const before = heap.stats();
    for (const k of ["total", "free", "contiguous"] as const) expect(typeof before[k]).toBe("number");
    const v = heap.vmalloc(3 * 4096 + 100);
    // Virtual addresses do not pass for arena addresses.
    expect(() => heap.free(v)).toThrow(MnemeError);
    const data = Uint8Array.from({ length: 9000 }, (_, i) => (i * 7) & 255);
    heap.vwrite(v + 3000, data);
    expect([...heap.vread(v + 3000, 9000)]).toEqual([...data]);
    heap.vfree(v);
    expect(() => heap.vfree(v)).toThrow(MnemeError);
    expect(typeof heap.debugInfo()).toBe("string");
    heap.shrink();
    expect(heap.stats().free).toBe(before.free);
    heap.check();
  });
});

describe("pool layer", () => {
  it("create, attach in a worker (same addresses), alloc / allocView / free / size / stats", async () => {
    const pool = Mempool.create(8 << 20);
    const pageSize = 4096; // the default
    const a = pool.alloc(10);
    expect(pool.size(a)).toBe(pageSize);
    const view = pool.allocView(pageSize + 1);
    expect(view).toBeInstanceOf(Uint8Array);
    expect(pool.size(view)).toBe(2 * pageSize);
    pool.memory.set([1, 2, 3], a);
    const stats = pool.stats();
    for (const k of ["total", "free", "contiguous"] as const) expect(typeof stats[k]).toBe("number");
    expect(typeof pool.debugInfo()).toBe("string");
    expect(pool.heap).toBeInstanceOf(Heap);

    const code = `
      const { workerData, parentPort } = require("node:worker_threads");
      import(workerData.entry).then(({ Mempool }) => {
        const same = Mempool.attach(workerData.handle);
        const seen = [...same.memory.subarray(workerData.a, workerData.a + 3)];
        same.memory[workerData.a + 3] = 9;
        const b = same.alloc(1);
        parentPort.postMessage({ seen, b });
      });`;
    const worker = new Worker(code, {
      eval: true,
      workerData: { handle: pool.handle, a, entry: new URL("../../dist/index.js", import.meta.url).href },
    });
    const reply = await new Promise<{ seen: number[]; b: number }>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    });
    await worker.terminate();
    expect(reply.seen).toEqual([1, 2, 3]);
    expect(pool.memory[a + 3]).toBe(9);
    // The worker's block is a block of this pool: the same address here.
    expect(pool.size(reply.b)).toBe(pageSize);
    pool.free(reply.b);
    pool.free(a);
    pool.free(view);
    expect(() => pool.free(a)).toThrow(MnemeError);
    expect(() => pool.alloc(1 << 30)).toThrow(OutOfPoolMemoryError);
    expect(pool.stats().free).toBe(stats.free + 3 * pageSize);
  });
});

describe("vm layer", () => {
  let redis: RedisServer | undefined;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "mneme-contract-"));
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("map over every store, read / write / sync / advise / unmap / stats", async () => {
    const space = new AddressSpace({ frames: 8, pageSize: 4096, policy: "lru" });
    const stores: Store[] = [
      new FileStore(join(dir, "file.dat")),
      new AnonymousStore({ swap: join(dir, "swap") }),
    ];
    if (redis) stores.push(new RedisStore({ url: `redis://127.0.0.1:${redis.port}` }));
    const regions = stores.map((store) => space.map({ length: 64 * 4096, store, offset: 0, hint: "normal" }));
    // Touch more pages than there are frames, in every region, then read everything back.
    for (const [i, v] of regions.entries())
      for (let p = 0; p < 64; p += 3) await space.write(v + p * 4096 + 11, Uint8Array.of(i + 1, p));
    for (const [i, v] of regions.entries())
      for (let p = 0; p < 64; p += 3)
        expect([...(await space.read(v + p * 4096 + 11, 2))]).toEqual([i + 1, p]);
    space.advise(regions[0], 4096 * 8, "sequential");
    await space.sync();
    const s = space.stats();
    for (const k of ["faults", "hits", "evictions", "writebacks", "resident", "dirty"] as const)
      expect(typeof s[k]).toBe("number");
    expect(s.evictions).toBeGreaterThan(0);
    expect(s.resident).toBeLessThanOrEqual(8);
    expect(() => space.map({ length: 0, store: stores[0] })).toThrow(InvalidArgumentError);
    for (const v of regions) space.unmap(v);
    await expect(space.read(regions[0], 1)).rejects.toThrow(InvalidAddressError);
    await space.close();
  });
});
