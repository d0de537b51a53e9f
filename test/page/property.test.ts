/**
 * Model-based property tests: random command sequences run against the allocator and against a
 * reference model that knows only which pages are live. The model decides what must succeed,
 * what must fail, and (through the unique fully coalesced decomposition of the free pages) what
 * stats() must report, so the allocator is never checked against itself.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DoubleFreeError,
  InvalidAddressError,
  OutOfMemoryError,
  PageAllocator,
  type PageAllocatorOptions,
} from "../../src/index.js";
import { coalescedBlocks, fragmentationOf, freshStats, geometry, largestBlockPages } from "./helpers.js";

type Command =
  | { kind: "alloc"; bytes: number; alignLog: number }
  | { kind: "pages"; order: number }
  | { kind: "bulk"; count: number }
  | { kind: "free"; pick: number }
  | { kind: "bad"; page: number; offset: number }
  | { kind: "stats" };

interface Geometry {
  ps: number;
  first: number;
  count: number;
  maxOrder: number;
}

/**
 * Requests are drawn mostly small (where the hot stack and splitting live), sometimes around
 * and beyond a max-order block, now and then as large as the arena.
 */
function commands(g: Geometry): fc.Arbitrary<Command[]> {
  const usable = g.count - g.first;
  const arenaLog = Math.floor(Math.log2(g.count * g.ps));
  const pagesArb = fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 1, max: Math.min(4, usable) }) },
    { weight: 3, arbitrary: fc.integer({ min: 1, max: Math.min(2 ** (g.maxOrder + 2), usable) }) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: usable }) },
  );
  const bytesArb = fc
    .tuple(pagesArb, fc.integer({ min: 0, max: g.ps - 1 }))
    .map(([n, short]) => Math.max(1, n * g.ps - short));
  const alignArb = fc.oneof(
    { weight: 5, arbitrary: fc.constant(0) },
    {
      weight: 4,
      arbitrary: fc.integer({ min: 0, max: Math.min(arenaLog, Math.log2(g.ps) + g.maxOrder + 2) }),
    },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: arenaLog }) },
  );
  const command: fc.Arbitrary<Command> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant("alloc"), bytes: bytesArb, alignLog: alignArb }) },
    {
      weight: 3,
      arbitrary: fc.record({ kind: fc.constant("pages"), order: fc.integer({ min: 0, max: g.maxOrder }) }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant("bulk"),
        count: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: usable + 1 })),
      }),
    },
    { weight: 8, arbitrary: fc.record({ kind: fc.constant("free"), pick: fc.nat() }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("bad"),
        page: fc.integer({ min: 0, max: g.count }),
        offset: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: g.ps - 1 })),
      }),
    },
    { weight: 2, arbitrary: fc.constant({ kind: "stats" as const }) },
  ) as fc.Arbitrary<Command>;
  // size "max": the default size keeps arrays to about ten commands, too short to fill the arena.
  return fc.array(command, { minLength: 1, maxLength: 80, size: "max" });
}

/** The reference: live allocations and which page each covers. */
class Model {
  /** address -> bytes */
  readonly live = new Map<number, number>();
  /** page -> start page of the live allocation covering it, -1 when free or header */
  readonly owner: Int32Array;

  constructor(readonly g: Geometry) {
    this.owner = new Int32Array(g.count).fill(-1);
  }

  isFree(page: number): boolean {
    return page >= this.g.first && page < this.g.count && this.owner[page] === -1;
  }

  freePages(): number {
    let n = 0;
    for (let p = this.g.first; p < this.g.count; p++) if (this.owner[p] === -1) n++;
    return n;
  }

  /** Whether n free pages start somewhere at a multiple of a (both in pages). */
  fits(n: number, a: number): boolean {
    const { first, count } = this.g;
    // run[p]: free pages from p onwards, so each candidate start costs O(1).
    const run = new Int32Array(count + 1);
    for (let p = count - 1; p >= first; p--) run[p] = this.owner[p] === -1 ? run[p + 1] + 1 : 0;
    for (let s = Math.ceil(first / a) * a; s + n <= count; s += a) if (run[s] >= n) return true;
    return false;
  }

  add(address: number, bytes: number, pages: PageAllocator): void {
    const { ps, first, count } = this.g;
    const start = address / ps;
    const n = bytes / ps;
    if (!Number.isInteger(start)) fail(`address ${address} is not page aligned`);
    if (start < first || start + n > count) fail(`[${address}, +${bytes}) is not inside the usable arena`);
    for (let p = start; p < start + n; p++) {
      if (this.owner[p] !== -1) fail(`page ${p} handed out twice (live since page ${this.owner[p]})`);
      this.owner[p] = start;
    }
    this.live.set(address, bytes);
    // Tag both ends: if the allocator ever writes its own links into live memory, a tag breaks.
    tag(pages.memory, address, bytes);
  }

  remove(address: number, pages: PageAllocator): void {
    const bytes = this.live.get(address)!;
    expectTag(pages.memory, address, bytes);
    const start = address / this.g.ps;
    this.owner.fill(-1, start, start + bytes / this.g.ps);
    this.live.delete(address);
  }

  liveBytes(): number {
    let sum = 0;
    for (const b of this.live.values()) sum += b;
    return sum;
  }
}

/** Plain throws in the per-page loops: expect() is too slow to call thousands of times a run. */
function fail(what: string): never {
  throw new Error(what);
}

function tagByte(address: number, i: number): number {
  return (address * 31 + i * 7 + 1) & 0xff;
}

function tag(memory: Uint8Array, address: number, bytes: number): void {
  for (let i = 0; i < 8; i++) {
    memory[address + i] = tagByte(address, i);
    memory[address + bytes - 1 - i] = tagByte(address, i + 8);
  }
}

function expectTag(memory: Uint8Array, address: number, bytes: number): void {
  for (let i = 0; i < 8; i++) {
    if (memory[address + i] !== tagByte(address, i)) fail(`head of live block ${address} overwritten`);
    if (memory[address + bytes - 1 - i] !== tagByte(address, i + 8))
      fail(`tail of live block ${address} overwritten`);
  }
}

/** Everything stats() must say, derived from the model alone. */
function expectStatsMatch(pages: PageAllocator, model: Model): void {
  const { ps, first, count, maxOrder } = model.g;
  const s = pages.stats();
  const perOrder = coalescedBlocks((p) => model.isFree(p), count, maxOrder);
  const capacity = (count - first) * ps;
  expect(s.total).toBe(capacity);
  expect(s.free).toBe(capacity - model.liveBytes());
  expect(s.used).toBe(model.liveBytes());
  expect(s.allocations).toBe(model.live.size);
  expect(s.freeBlocksPerOrder).toEqual(perOrder);
  expect(s.contiguous).toBe(largestBlockPages(perOrder) * ps);
  expect(s.fragmentation).toBeGreaterThanOrEqual(0);
  expect(s.fragmentation).toBeLessThanOrEqual(1);
  expect(s.fragmentation).toBeCloseTo(fragmentationOf(perOrder), 12);
  for (const [address, bytes] of model.live) {
    const size = pages.sizeOf(address);
    if (size !== bytes) fail(`sizeOf(${address}) is ${size}, the model says ${bytes}`);
  }
}

/** Fails unless `fn` throws OutOfMemoryError; the model is then unchanged by construction. */
function expectOutOfMemory(fn: () => unknown, requested: number): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(OutOfMemoryError);
  expect((error as OutOfMemoryError).requested).toBe(requested);
}

function step(pages: PageAllocator, model: Model, c: Command): void {
  const { ps, first, count } = model.g;
  switch (c.kind) {
    case "alloc": {
      const align = 2 ** c.alignLog;
      const n = Math.ceil(c.bytes / ps);
      if (model.fits(n, Math.max(1, align / ps))) {
        const a = pages.alloc(c.bytes, align);
        expect(a % align).toBe(0);
        expect(pages.sizeOf(a)).toBe(n * ps);
        model.add(a, n * ps, pages);
      } else {
        expectOutOfMemory(() => pages.alloc(c.bytes, align), c.bytes);
        expectStatsMatch(pages, model);
      }
      break;
    }
    case "pages": {
      const n = 2 ** c.order;
      if (model.fits(n, n)) {
        const a = pages.allocPages(c.order);
        expect(a % (n * ps)).toBe(0);
        model.add(a, n * ps, pages);
      } else {
        expectOutOfMemory(() => pages.allocPages(c.order), n * ps);
        expectStatsMatch(pages, model);
      }
      break;
    }
    case "bulk": {
      if (c.count <= model.freePages()) {
        const got = pages.allocBulk(c.count);
        expect(got).toHaveLength(c.count);
        for (const a of got) {
          expect(pages.sizeOf(a)).toBe(ps);
          model.add(a, ps, pages);
        }
      } else {
        // All or nothing: not one page may have been taken.
        expectOutOfMemory(() => pages.allocBulk(c.count), c.count * ps);
        expectStatsMatch(pages, model);
      }
      break;
    }
    case "free": {
      if (model.live.size === 0) break;
      const addresses = [...model.live.keys()];
      const a = addresses[c.pick % addresses.length];
      model.remove(a, pages);
      pages.free(a);
      break;
    }
    case "bad": {
      const address = c.page * ps + c.offset;
      if (c.offset === 0 && model.live.has(address)) break;
      const expected =
        c.offset === 0 && c.page >= first && c.page < count && model.owner[c.page] === -1
          ? DoubleFreeError
          : InvalidAddressError;
      let error: unknown;
      try {
        pages.free(address);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(expected);
      if (expected === InvalidAddressError) expect(error).not.toBeInstanceOf(DoubleFreeError);
      expect(() => pages.sizeOf(address)).toThrow(InvalidAddressError);
      break;
    }
    case "stats":
      expectStatsMatch(pages, model);
      break;
  }
  // Not stats(): it would merge the hot stack after every step and hide its paths.
  pages.check();
}

function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let x = seed | 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const j = (x >>> 0) % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function runSequence(options: PageAllocatorOptions, cmds: Command[], freeSeed: number): void {
  const pages = new PageAllocator(options);
  const { ps, first, count } = geometry(pages);
  const model = new Model({ ps, first, count, maxOrder: pages.maxOrder });
  for (const c of cmds) step(pages, model, c);
  expectStatsMatch(pages, model);
  const rest = shuffled([...model.live.keys()], freeSeed);
  // A bulk command can leave thousands of single pages: check about 32 times along the way.
  const every = Math.ceil(rest.length / 32);
  rest.forEach((a, k) => {
    model.remove(a, pages);
    pages.free(a);
    if (k % every === 0) pages.check();
  });
  pages.check();
  // Full coalescing: back to the maximal blocks of a fresh allocator.
  expect(pages.stats()).toEqual(freshStats(options));
}

/** Derives the model geometry without keeping the allocator. */
function geometryOf(options: PageAllocatorOptions): Geometry {
  const pages = new PageAllocator(options);
  const { ps, first, count } = geometry(pages);
  return { ps, first, count, maxOrder: pages.maxOrder };
}

const CASES: [string, PageAllocatorOptions, number][] = [
  ["4 KiB pages, 64 pages, maxOrder 10, no hot stack", { bytes: 64 * 4096, hotPages: 0 }, 800],
  [
    "4 KiB pages, 100 pages, maxOrder 3, hot stack of 6",
    { bytes: 100 * 4096, maxOrder: 3, hotPages: 6 },
    800,
  ],
  ["4 KiB pages, 37 pages, maxOrder 0", { bytes: 37 * 4096, maxOrder: 0, hotPages: 0 }, 600],
  ["4 KiB pages, 19 pages, maxOrder 2, hot stack of 3", { bytes: 19 * 4096, maxOrder: 2, hotPages: 3 }, 800],
  ["512 B pages, 256 pages, maxOrder 10, default hot stack", { bytes: 256 * 512, pageSize: 512 }, 600],
  [
    "512 B pages, odd size, maxOrder 3, default hot stack",
    { bytes: 300 * 512 + 17, pageSize: 512, maxOrder: 3 },
    600,
  ],
  [
    "512 B pages, 1000 pages, maxOrder 10, hot stack of 2",
    { bytes: 1000 * 512, pageSize: 512, hotPages: 2 },
    400,
  ],
  ["512 B pages, 4096 pages, maxOrder 10, default hot stack", { bytes: 2 << 20, pageSize: 512 }, 120],
];

describe("buddy allocator against a reference model", () => {
  CASES.forEach(([name, options, numRuns], i) => {
    it(name, () => {
      const g = geometryOf(options);
      fc.assert(
        fc.property(commands(g), fc.integer(), (cmds, freeSeed) => runSequence(options, cmds, freeSeed)),
        { seed: 0x6d6e656d + i, numRuns },
      );
    });
  });

  it("a shared arena behaves the same when two views of it take turns", () => {
    const options: PageAllocatorOptions = { bytes: 96 * 4096, maxOrder: 5, hotPages: 4, shared: true };
    const g = geometryOf(options);
    fc.assert(
      fc.property(commands(g), (cmds) => {
        const pages = new PageAllocator(options);
        expect(pages.arena.buffer).toBeInstanceOf(SharedArrayBuffer);
        // A second allocator over the same buffer, as a worker would have: it keeps no state.
        const other = PageAllocator.attach(pages.arena.buffer);
        const model = new Model(g);
        cmds.forEach((c, k) => {
          // Alternate which view acts; the model does not care.
          step(k % 2 === 0 ? pages : other, model, c);
        });
        expectStatsMatch(other, model);
        for (const a of [...model.live.keys()]) {
          model.remove(a, pages);
          other.free(a);
        }
        other.check();
        expect(pages.stats()).toEqual(freshStats(options));
      }),
      { seed: 0x5ab, numRuns: 600 },
    );
  });
});
