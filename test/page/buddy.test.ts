import { describe, expect, it } from "vitest";
import {
  CorruptionError,
  OutOfMemoryError,
  PageAllocator,
  type PageAllocatorOptions,
} from "../../src/index.js";
import { M_HOT_LIMIT } from "../../src/page/layout.js";
import {
  coalescedBlocks,
  firstDifference,
  fragmentationOf,
  freshStats,
  geometry,
  largestBlockPages,
  thrown,
} from "./helpers.js";

const PS = 4096;

/** 1 MiB of 4 KiB pages, one header page: usable pages 1..255 are one block of each order 0..7. */
const MIB: PageAllocatorOptions = { bytes: 1 << 20, hotPages: 0 };

function fresh(options: PageAllocatorOptions = MIB): PageAllocator {
  return new PageAllocator(options);
}

/** Asserts [address, address + bytes) lies in the usable part of the arena. */
function expectInArena(pages: PageAllocator, address: number, bytes: number): void {
  const { ps, first, count } = geometry(pages);
  expect(address % ps).toBe(0);
  expect(address).toBeGreaterThanOrEqual(first * ps);
  expect(address + bytes).toBeLessThanOrEqual(count * ps);
}

describe("allocPages", () => {
  it.each([0, 1, 2, 3, 5, 8, 10])("returns 2^%i pages aligned to their size, as many as fit", (order) => {
    // 8 MiB: 2048 pages, so even one order-10 block fits after the header.
    const pages = fresh({ bytes: 8 << 20, hotPages: 0 });
    const { first, count, usable } = geometry(pages);
    const n = 2 ** order;
    const bytes = PS * n;
    const got: number[] = [];
    for (;;) {
      const free = pages.stats().free;
      let a: number;
      try {
        a = pages.allocPages(order);
      } catch (e) {
        expect(e).toBeInstanceOf(OutOfMemoryError);
        break;
      }
      expect(a % bytes).toBe(0);
      expectInArena(pages, a, bytes);
      expect(pages.sizeOf(a)).toBe(bytes);
      expect(pages.stats().free).toBe(free - bytes);
      got.push(a);
    }
    // Exactly the aligned blocks that lie wholly after the header.
    const expected = Math.floor(count / n) - Math.ceil(first / n);
    expect(got).toHaveLength(expected);
    expect(new Set(got).size).toBe(expected);
    expect(pages.stats().free).toBe((usable - expected * n) * PS);
    pages.check();
  });

  it("takes the smallest block that fits and splits it, leaving larger blocks alone", () => {
    const pages = fresh();
    // Blocks of order 0..7 are free; order 2 can come from the order-2 block without any split.
    const before = pages.stats().freeBlocksPerOrder;
    const a = pages.allocPages(2);
    expect(a).toBe(4 * PS);
    const after = pages.stats().freeBlocksPerOrder;
    expect(after).toEqual(before.map((n, o) => (o === 2 ? n - 1 : n)));
    // No order-2 block left: order 2 now splits the order-3 block into 2 + the other half.
    const b = pages.allocPages(2);
    expect(b).toBe(8 * PS);
    expect(pages.stats().freeBlocksPerOrder[2]).toBe(1);
    expect(pages.stats().freeBlocksPerOrder[3]).toBe(0);
    pages.check();
  });

  it("frees back into the block it came from", () => {
    const options: PageAllocatorOptions = { bytes: 64 * PS, maxOrder: 3, hotPages: 0 };
    const pages = fresh(options);
    const blocks = [pages.allocPages(3), pages.allocPages(1), pages.allocPages(0), pages.allocPages(3)];
    for (const b of blocks) pages.free(b);
    expect(pages.stats()).toEqual(freshStats(options));
  });
});

describe("alloc(bytes, align)", () => {
  it.each([
    [1, 1],
    [PS - 1, 1],
    [PS, 1],
    [PS + 1, 2],
    [3 * PS, 3],
    [5 * PS - 7, 5],
    [7 * PS, 7],
    [100 * PS + 1, 101],
  ])("alloc(%i) takes exactly %i pages", (bytes, n) => {
    const pages = fresh();
    const total = pages.stats().total;
    const a = pages.alloc(bytes);
    expectInArena(pages, a, n * PS);
    expect(pages.sizeOf(a)).toBe(n * PS);
    // The unused tail of the power-of-two block went back: only n pages are gone.
    expect(pages.stats().free).toBe(total - n * PS);
    expect(pages.stats().allocations).toBe(1);
    pages.check();
    pages.free(a);
    expect(pages.stats()).toEqual(freshStats(MIB));
  });

  it("three 3-page allocations cost 9 pages, and the tails stay usable", () => {
    const options: PageAllocatorOptions = { bytes: 17 * PS, hotPages: 0 };
    const pages = fresh(options);
    expect(pages.stats().total).toBe(16 * PS);
    const live = [pages.alloc(3 * PS), pages.alloc(3 * PS), pages.alloc(3 * PS)];
    expect(pages.stats().free).toBe(7 * PS);
    // What is left is still fully usable, one page at a time.
    live.push(...pages.allocBulk(7));
    expect(pages.stats().free).toBe(0);
    for (const a of live) pages.free(a);
    expect(pages.stats()).toEqual(freshStats(options));
  });

  it.each([1, 2, 8, 64, 512, PS])("alignments up to the page size (%i) are implied", (align) => {
    const pages = fresh();
    const a = pages.alloc(100, align);
    expect(a % align).toBe(0);
    expect(a % PS).toBe(0);
    expect(pages.sizeOf(a)).toBe(PS);
  });

  it.each([
    [PS, 2 * PS],
    [PS, 8 * PS],
    [3 * PS, 16 * PS],
    [5 * PS, 8 * PS],
    [2 * PS + 1, 64 * PS],
    [9 * PS, 32 * PS],
    [1, 128 * PS],
  ])("alloc(%i, align %i) is aligned and costs only its own pages", (bytes, align) => {
    const pages = fresh();
    // Take the first page so the natural placement is misaligned for every alignment tested.
    const first = pages.allocPages(0);
    const free = pages.stats().free;
    const a = pages.alloc(bytes, align);
    expect(a % align).toBe(0);
    const n = Math.ceil(bytes / PS);
    expectInArena(pages, a, n * PS);
    expect(pages.sizeOf(a)).toBe(n * PS);
    // The head and the tail of the over-aligned block went back to the free lists.
    expect(pages.stats().free).toBe(free - n * PS);
    pages.check();
    pages.free(a);
    pages.free(first);
    expect(pages.stats()).toEqual(freshStats(MIB));
  });

  it("serves sizes larger than a max-order block from adjacent blocks", () => {
    const options: PageAllocatorOptions = { bytes: 64 * PS, maxOrder: 2, hotPages: 0 };
    const pages = fresh(options);
    const total = pages.stats().total;
    expect(pages.stats().contiguous).toBe(4 * PS);
    const a = pages.alloc(10 * PS);
    expectInArena(pages, a, 10 * PS);
    expect(pages.sizeOf(a)).toBe(10 * PS);
    const b = pages.alloc(13 * PS - 100);
    expect(pages.sizeOf(b)).toBe(13 * PS);
    expect(Math.abs(a - b)).toBeGreaterThanOrEqual(10 * PS);
    expect(pages.stats().free).toBe(total - 23 * PS);
    pages.check();
    pages.free(a);
    pages.check();
    pages.free(b);
    expect(pages.stats()).toEqual(freshStats(options));
  });

  it("serves the whole usable arena as one allocation, whatever maxOrder", () => {
    for (const maxOrder of [0, 2, 10]) {
      const options: PageAllocatorOptions = { bytes: 45 * PS, maxOrder, hotPages: 0 };
      const pages = fresh(options);
      const total = pages.stats().total;
      const a = pages.alloc(total);
      expect(pages.sizeOf(a)).toBe(total);
      expect(pages.stats().free).toBe(0);
      expect(pages.stats().contiguous).toBe(0);
      pages.check();
      pages.free(a);
      pages.check();
      expect(pages.stats()).toEqual(freshStats(options));
    }
  });

  it.each([
    [PS, 8 * PS],
    [PS, 32 * PS],
    [3 * PS, 16 * PS],
    [6 * PS, 32 * PS],
  ])("honours alignment beyond the max-order block: alloc(%i, align %i) with maxOrder 2", (bytes, align) => {
    const options: PageAllocatorOptions = { bytes: 100 * PS, maxOrder: 2, hotPages: 0 };
    const pages = fresh(options);
    const free = pages.stats().free;
    const a = pages.alloc(bytes, align);
    expect(a % align).toBe(0);
    expect(pages.stats().free).toBe(free - Math.ceil(bytes / PS) * PS);
    pages.check();
    pages.free(a);
    pages.check();
    expect(pages.stats()).toEqual(freshStats(options));
  });

  // A power-of-two run larger than a max-order block, placed at a multiple of its size, must go
  // back as max-order blocks: there is no free list above maxOrder.
  it.each([
    [8 * PS, 8 * PS, 2],
    [16 * PS, 16 * PS, 3],
    [2 * PS, 2 * PS, 0],
    [16 * PS, 1, 3],
  ])(
    "frees a run of %i bytes (align %i, maxOrder %i) back into max-order blocks",
    (bytes, align, maxOrder) => {
      const options: PageAllocatorOptions = { bytes: 64 * PS, maxOrder, hotPages: 0 };
      const pages = fresh(options);
      // Without an explicit alignment, fill pages 1..15 so the run starts at page 16.
      const filler = align === 1 ? pages.alloc(15 * PS) : 0;
      const a = pages.alloc(bytes, align);
      expect(a % bytes).toBe(0);
      pages.check();
      pages.free(a);
      pages.check();
      if (filler) pages.free(filler);
      pages.check();
      expect(pages.stats()).toEqual(freshStats(options));
      // And all of it can be handed out again.
      expect(pages.alloc(pages.stats().total)).toBe(PS);
    },
  );
});

describe("allocBulk", () => {
  it("returns count distinct single pages", () => {
    const pages = fresh();
    const total = pages.stats().total;
    const got = pages.allocBulk(37);
    expect(got).toHaveLength(37);
    expect(new Set(got).size).toBe(37);
    for (const a of got) {
      expectInArena(pages, a, PS);
      expect(pages.sizeOf(a)).toBe(PS);
    }
    expect(pages.stats().free).toBe(total - 37 * PS);
    expect(pages.stats().allocations).toBe(37);
    pages.check();
    for (const a of got) pages.free(a);
    expect(pages.stats()).toEqual(freshStats(MIB));
  });

  it("takes the smallest blocks first so large blocks stay whole", () => {
    const pages = fresh();
    const before = pages.stats();
    // Orders 0..5 hold 1+2+...+32 = 63 pages: enough without touching the 64- and 128-page blocks.
    const got = pages.allocBulk(63);
    const after = pages.stats();
    expect(after.contiguous).toBe(before.contiguous);
    expect(after.freeBlocksPerOrder.slice(6)).toEqual(before.freeBlocksPerOrder.slice(6));
    expect(Math.max(...got)).toBeLessThan(64 * PS);
    pages.check();
  });

  it("prefers scattered single pages to a large block", () => {
    const pages = fresh({ bytes: 4 << 20, hotPages: 0 });
    const { total } = pages.stats();
    const all = pages.allocBulk(total / PS);
    // Scattered single pages (odd pages below 64) and one whole 128-page block (pages 128..255).
    const holes = all.filter((a) => a < 64 * PS && (a / PS) % 2 === 1);
    for (const a of holes) pages.free(a);
    for (const a of all) if (a >= 128 * PS && a < 256 * PS) pages.free(a);
    const contiguous = pages.stats().contiguous;
    expect(contiguous).toBe(128 * PS);
    const got = pages.allocBulk(holes.length);
    expect(got.sort((x, y) => x - y)).toEqual(holes.sort((x, y) => x - y));
    expect(pages.stats().contiguous).toBe(contiguous);
    pages.check();
  });

  it("hands out hot pages too (they count as free)", () => {
    const pages = fresh({ bytes: 4 << 20 });
    expect(pages.stats().hotCapacity).toBeGreaterThan(0);
    const singles = pages.allocBulk(8);
    for (const a of singles) pages.free(a);
    const got = pages.allocBulk(8);
    expect(new Set(got)).toEqual(new Set(singles));
    pages.check();
  });

  it("is all or nothing", () => {
    const pages = fresh();
    const taken = pages.allocBulk(200);
    const stats = JSON.stringify(pages.stats());
    const e = thrown(OutOfMemoryError, () => pages.allocBulk(56));
    expect(e.requested).toBe(56 * PS);
    expect(JSON.stringify(pages.stats())).toBe(stats);
    expect(pages.allocBulk(55)).toHaveLength(55);
    expect(pages.stats().free).toBe(0);
    for (const a of taken) pages.free(a);
    pages.check();
  });
});

describe("free and sizeOf", () => {
  it("sizeOf reports whole pages until the allocation is freed", () => {
    const pages = fresh();
    const a = pages.alloc(3 * PS + 5);
    expect(pages.sizeOf(a)).toBe(4 * PS);
    expect(pages.free(a)).toBeUndefined();
    expect(() => pages.sizeOf(a)).toThrow();
    expect(pages.stats().allocations).toBe(0);
  });

  it("coalesces buddies on free, in any order", () => {
    const options: PageAllocatorOptions = { bytes: 64 * PS, maxOrder: 5, hotPages: 0 };
    const pages = fresh(options);
    const singles = pages.allocBulk(63);
    // Free odd pages first (no buddy is free yet), then even ones (each completes a pair).
    for (const a of singles.filter((a) => (a / PS) % 2 === 1)) pages.free(a);
    expect(pages.stats().freeBlocksPerOrder).toEqual([32, 0, 0, 0, 0, 0]);
    for (const a of singles.filter((a) => (a / PS) % 2 === 0)) pages.free(a);
    expect(pages.stats().freeBlocksPerOrder).toEqual([1, 1, 1, 1, 1, 1]);
    expect(pages.stats()).toEqual(freshStats(options));
  });

  it("lets freed memory be allocated again", () => {
    const pages = fresh({ bytes: 9 * PS, hotPages: 0 });
    for (let round = 0; round < 20; round++) {
      const a = pages.alloc(8 * PS);
      expect(a).toBe(PS);
      pages.free(a);
    }
    pages.check();
  });

  it("keeps its bookkeeping outside allocated memory: callers may write every byte", () => {
    const pages = fresh({ bytes: 64 * PS, maxOrder: 3 });
    const live = [
      pages.alloc(3 * PS),
      pages.allocPages(2),
      ...pages.allocBulk(5),
      pages.alloc(9 * PS, 16 * PS),
    ];
    for (const a of live) pages.memory.fill(0xff, a, a + pages.sizeOf(a));
    pages.check();
    for (const a of live) pages.free(a);
    pages.check();
    expect(pages.stats().free).toBe(pages.stats().total);
  });
});

describe("hot pages", () => {
  it("single pages freed recently are reused, and count as free", () => {
    const pages = fresh({ bytes: 4 << 20, hotPages: 8 });
    const total = pages.stats().total;
    const a = pages.alloc(1);
    pages.free(a);
    expect(pages.alloc(1)).toBe(a);
    pages.free(a);
    // More frees than the stack holds: the oldest go back to the buddy lists.
    const many = pages.allocBulk(40);
    for (const p of many) pages.free(p);
    pages.check();
    expect(pages.stats().free).toBe(total);
    expect(pages.stats()).toEqual(freshStats({ bytes: 4 << 20, hotPages: 8 }));
  });

  it("a large request still finds pages that sit on the hot stack", () => {
    const options: PageAllocatorOptions = { bytes: 32 * PS, hotPages: 32 };
    const pages = fresh(options);
    const all = pages.allocBulk(31);
    for (const a of all) pages.free(a);
    // Every page is on the hot stack; a 16-page block needs them merged first.
    const whole = pages.allocPages(4);
    expect(pages.sizeOf(whole)).toBe(16 * PS);
    pages.free(whole);
    expect(pages.stats()).toEqual(freshStats(options));
  });
});

describe("the hot stack's limit adapts (lazy coalescing)", () => {
  /** 256 pages of 512 B: the limit starts at 16, the stack holds up to every page. */
  const SMALL: PageAllocatorOptions = { bytes: 256 * 512, pageSize: 512 };

  function singles(pages: PageAllocator, n: number): number[] {
    return Array.from({ length: n }, () => pages.allocPages(0));
  }

  it("doubles when the stack overflows after allocations found it empty", () => {
    const pages = fresh({ bytes: 64 << 20 });
    expect(pages.hotLimit).toBe(1024);
    const a = singles(pages, 3000);
    for (const p of a) pages.free(p);
    // The first overflow followed 3000 allocations from the buddy lists: 2048. The second came
    // with no allocation in between, so the oldest pages went back instead.
    expect(pages.hotLimit).toBe(2048);
    expect(pages.ownHotStack().count).toBeLessThanOrEqual(2048);
    const b = singles(pages, 3000);
    for (const p of b) pages.free(p);
    // ~950 of those allocations found the stack empty: this time all 3000 pages stay hot, and
    // the next 3000 allocations touch no free list.
    expect(pages.hotLimit).toBe(4096);
    expect(pages.ownHotStack().count).toBe(3000);
    const listed = pages.stats().freeBlocksPerOrder;
    const c = singles(pages, 3000);
    expect(pages.ownHotStack().count).toBe(0);
    for (const p of c) pages.free(p);
    pages.check();
    expect(pages.stats().freeBlocksPerOrder).toEqual(listed);
  });

  it("does not grow while frees outrun allocations", () => {
    const pages = fresh({ bytes: 64 << 20 });
    const a = singles(pages, 6000);
    for (const p of a) pages.free(p);
    expect(pages.hotLimit).toBe(2048);
    const b = singles(pages, 1000);
    for (const p of b) pages.free(p);
    expect(pages.hotLimit).toBe(2048);
    expect(pages.ownHotStack().count).toBeLessThanOrEqual(2048);
  });

  it("stops at the stack's capacity", () => {
    const pages = fresh({ bytes: 64 << 20, hotPages: 1500 });
    for (let round = 0; round < 4; round++) for (const p of singles(pages, 5000)) pages.free(p);
    expect(pages.hotLimit).toBe(1500);
    pages.check();
  });

  it("falls back to its start when a larger request had to merge the hot pages", () => {
    const pages = fresh(SMALL);
    const usable = geometry(pages).usable;
    expect(pages.hotLimit).toBe(16);
    for (let round = 0; round < 6; round++) for (const p of singles(pages, usable)) pages.free(p);
    expect(pages.hotLimit).toBe(256);
    expect(pages.ownHotStack().count).toBe(usable);
    pages.check();
    // Every free page is hot: a 64-page block exists only once they are merged.
    const block = pages.allocPages(6);
    expect(pages.hotLimit).toBe(16);
    expect(pages.ownHotStack().count).toBe(0);
    pages.free(block);
    expect(pages.stats()).toEqual(freshStats(SMALL));
  });

  it("keeps its limit when a request fails", () => {
    const pages = fresh(SMALL);
    const usable = geometry(pages).usable;
    for (let round = 0; round < 6; round++) for (const p of singles(pages, usable)) pages.free(p);
    const held = singles(pages, 2);
    expect(() => pages.alloc(usable * 512)).toThrow(OutOfMemoryError);
    expect(pages.hotLimit).toBe(256);
    for (const p of held) pages.free(p);
    pages.check();
  });

  it("check() reports a limit outside 0..capacity", () => {
    const pages = fresh(SMALL);
    const word = (pages.arena.metaOffset >> 2) + M_HOT_LIMIT;
    for (const bad of [-1, pages.ownHotStack().pages.length + 1]) {
      const good = pages.w[word];
      pages.w[word] = bad;
      thrown(CorruptionError, () => pages.check());
      pages.w[word] = good;
      pages.check();
    }
  });
});

describe("non-power-of-two arenas", () => {
  it.each([
    { bytes: 100 * PS, maxOrder: 10 },
    { bytes: 100 * PS, maxOrder: 3 },
    { bytes: 1000 * 512 + 3, pageSize: 512, maxOrder: 10 },
    { bytes: 3 * PS, maxOrder: 10 },
    { bytes: 77 * PS, maxOrder: 0 },
  ])("are fully usable: %o", (options) => {
    const pages = fresh({ ...options, hotPages: 0 });
    const { ps, first, usable, count } = geometry(pages);
    // Carved into maximal aligned blocks, exactly what full coalescing of all free pages gives.
    const perOrder = coalescedBlocks((p) => p >= first, count, pages.maxOrder);
    const s = pages.stats();
    expect(s.freeBlocksPerOrder).toEqual(perOrder);
    expect(s.contiguous).toBe(largestBlockPages(perOrder) * ps);
    const all = pages.allocBulk(usable);
    expect(new Set(all).size).toBe(usable);
    expect(pages.stats().free).toBe(0);
    for (const a of all) pages.free(a);
    const whole = pages.alloc(s.total);
    expect(whole).toBe(first * ps);
    pages.free(whole);
    expect(pages.stats()).toEqual(s);
  });
});

describe("stats()", () => {
  it("reports total, free, used, contiguous, blocks per order and allocations", () => {
    const pages = fresh();
    const s = pages.stats();
    expect(s.pageSize).toBe(PS);
    expect(s.headerPages).toBe(1);
    expect(s.total).toBe(255 * PS);
    expect(s.free).toBe(255 * PS);
    expect(s.used).toBe(0);
    expect(s.allocations).toBe(0);
    expect(s.maxOrder).toBe(10);
    expect(s.freeBlocksPerOrder).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
    expect(s.contiguous).toBe(128 * PS);

    const a = pages.alloc(3 * PS);
    const b = pages.allocPages(5);
    const s2 = pages.stats();
    expect(s2.free).toBe(s.free - 35 * PS);
    expect(s2.used).toBe(35 * PS);
    expect(s2.allocations).toBe(2);
    expect(s2.free + s2.used).toBe(s2.total);
    pages.free(a);
    pages.free(b);
    expect(pages.stats()).toEqual(s);
  });

  it("fragmentation is the share of free memory below a max-order block, in [0, 1]", () => {
    const pages = fresh({ bytes: 65 * PS, maxOrder: 3, hotPages: 0 });
    const check = () => {
      const s = pages.stats();
      expect(s.fragmentation).toBeGreaterThanOrEqual(0);
      expect(s.fragmentation).toBeLessThanOrEqual(1);
      expect(s.fragmentation).toBeCloseTo(fragmentationOf(s.freeBlocksPerOrder), 12);
      return s.fragmentation;
    };
    // Pages 1..64: blocks of order 0,1,2 then seven of order 3, then page 64 alone.
    expect(check()).toBeCloseTo(8 / 64, 12);
    const all = pages.allocBulk(64);
    expect(check()).toBe(0);
    // Every other page free: nothing is usable as a max-order block.
    for (const a of all.filter((a) => (a / PS) % 2 === 0)) pages.free(a);
    expect(check()).toBe(1);
    for (const a of all.filter((a) => (a / PS) % 2 === 1)) pages.free(a);
    expect(check()).toBeCloseTo(8 / 64, 12);
  });

  it("contiguous is the largest free block", () => {
    const pages = fresh({ bytes: 64 * PS, maxOrder: 5, hotPages: 0 });
    expect(pages.stats().contiguous).toBe(32 * PS);
    const a = pages.allocPages(5);
    expect(pages.stats().contiguous).toBe(16 * PS);
    const rest = pages.allocBulk(31);
    expect(pages.stats().contiguous).toBe(0);
    pages.free(rest[5]);
    expect(pages.stats().contiguous).toBe(PS);
    pages.free(a);
    for (const r of rest) if (r !== rest[5]) pages.free(r);
    expect(pages.stats().contiguous).toBe(32 * PS);
  });

  it("returns a plain object that survives JSON and structured clone", () => {
    const s = fresh().stats();
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
    expect(structuredClone(s)).toEqual(s);
  });
});

describe("debugInfo()", () => {
  it("lists every order with its free block count and draws a map", () => {
    const pages = fresh({ bytes: 100 * PS, maxOrder: 6, hotPages: 0 });
    const used = pages.allocBulk(10).map((a) => a / PS);
    const s = pages.stats();
    const text = pages.debugInfo();
    expect(typeof text).toBe("string");
    for (let o = 0; o <= 6; o++) {
      const line = text.split("\n").find((l) => new RegExp(`order\\s+${o}\\b`).test(l));
      expect(line, `a line for order ${o}`).toBeDefined();
      expect(line).toMatch(new RegExp(`:\\s*${s.freeBlocksPerOrder[o]}\\s*$`));
    }
    expect(text).not.toMatch(/order\s+7\b/);
    // With fewer pages than map cells, each cell is one page: the map reads page by page.
    const lines = text.split("\n");
    const at = lines.findIndex((l) => /^map/.test(l));
    expect(at).toBeGreaterThan(0);
    const map = lines
      .slice(at + 1)
      .map((l) => l.trim())
      .join("");
    expect(map).toHaveLength(100);
    expect(map[0]).toBe("H");
    expect([...map].filter((c) => c === "#")).toHaveLength(10);
    expect([...map].filter((c) => c === ".")).toHaveLength(89);
    for (const p of used) expect(map[p]).toBe("#");
  });

  it("does not change the allocator", () => {
    const pages = fresh();
    pages.alloc(3 * PS);
    const stats = JSON.stringify(pages.stats());
    const bytes = pages.memory.slice();
    pages.debugInfo();
    expect(firstDifference(pages.memory, bytes)).toBe(-1);
    expect(JSON.stringify(pages.stats())).toBe(stats);
  });
});

describe("check()", () => {
  // Every other test leans on check(); these show it can fail at all.
  it("passes on a fresh allocator and after any valid sequence", () => {
    const pages = fresh();
    pages.check();
    pages.free(pages.alloc(3 * PS, 16 * PS));
    pages.check();
  });

  it("throws CorruptionError when a free block's links are overwritten", () => {
    const pages = fresh();
    // Page 1 is the order-0 free block of this geometry; its first words link the free list.
    const copy = PageAllocator.attach(pages.arena.buffer.slice(0));
    copy.memory.fill(0x7f, PS, PS + 8);
    thrown(CorruptionError, () => copy.check());
    pages.check();
  });

  it("throws CorruptionError when the page metadata is wiped", () => {
    const pages = fresh();
    const a = pages.alloc(PS);
    // A stray write over the header page, past the arena header: the state and run maps go.
    const copy = PageAllocator.attach(pages.arena.buffer.slice(0));
    copy.memory.fill(0, 256, PS);
    thrown(CorruptionError, () => copy.check());
    expect(pages.sizeOf(a)).toBe(PS);
  });
});

describe("memory", () => {
  it("is a Uint8Array over the whole arena", () => {
    for (const shared of [false, true]) {
      const pages = fresh({ bytes: 10 * PS + 1, shared });
      expect(pages.memory).toBeInstanceOf(Uint8Array);
      expect(pages.memory.buffer).toBe(pages.arena.buffer);
      expect(pages.memory.byteOffset).toBe(0);
      expect(pages.memory.byteLength).toBe(11 * PS);
      const a = pages.alloc(PS);
      pages.memory[a] = 42;
      expect(new Uint8Array(pages.arena.buffer)[a]).toBe(42);
    }
  });
});
