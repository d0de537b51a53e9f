/**
 * Every bad input to the page layer, each checked twice: the error is of the documented class,
 * and the call left no trace (DESIGN.md principle 4), in the arena bytes as well as in stats().
 */
import { describe, expect, it } from "vitest";
import {
  DoubleFreeError,
  InvalidAddressError,
  InvalidArgumentError,
  MnemeError,
  OutOfMemoryError,
  PageAllocator,
  type PageAllocatorOptions,
} from "../../src/index.js";
import { expectCleanFailure, geometry, thrown } from "./helpers.js";

interface Scene {
  pages: PageAllocator;
  ps: number;
  first: number;
  count: number;
  total: number;
  maxOrder: number;
  /** A live multi-page allocation. */
  multi: number;
  /** Live single pages. */
  singles: number[];
  /** An allocation that was freed (and may have coalesced). */
  freed: number;
  /** Pages of a freed multi-page allocation, now inside a larger free block. */
  freedMulti: number;
  /** A page no allocation ever covered. */
  untouched: number;
}

/**
 * An allocator with a bit of everything: live single pages and runs, freed memory, and (when
 * the geometry has a hot stack) single pages waiting on it.
 */
function scene(options: PageAllocatorOptions): Scene {
  const pages = new PageAllocator(options);
  const { ps, first, count } = geometry(pages);
  const { total, maxOrder } = pages.stats();
  const multi = pages.alloc(5 * ps);
  const singles = pages.allocBulk(6);
  const freedMulti = pages.alloc(3 * ps, 4 * ps);
  const freed = pages.alloc(ps);
  const aligned = pages.alloc(3 * ps, 8 * ps);
  const touched = new Set<number>();
  for (const [a, n] of [
    [multi, 5],
    [freedMulti, 3],
    [freed, 1],
    [aligned, 3],
    ...singles.map((x) => [x, 1]),
  ]) {
    for (let i = 0; i < n; i++) touched.add(a / ps + i);
  }
  let untouched = count - 1;
  while (touched.has(untouched)) untouched--;
  pages.free(freedMulti);
  pages.free(freed);
  // Single pages freed last stay on the hot stack if there is one.
  pages.free(singles.pop()!);
  pages.free(singles.pop()!);
  return {
    pages,
    ps,
    first,
    count,
    total,
    maxOrder,
    multi,
    singles,
    freed,
    freedMulti,
    untouched: untouched * ps,
  };
}

const GEOMETRIES: [string, PageAllocatorOptions][] = [
  ["4 KiB pages, hot stack", { bytes: 1 << 20, hotPages: 8 }],
  ["4 KiB pages, no hot stack", { bytes: 1 << 20, hotPages: 0 }],
  [
    "512 B pages, odd size, maxOrder 3, shared",
    { bytes: 700 * 512 + 100, pageSize: 512, maxOrder: 3, shared: true },
  ],
  ["64 KiB pages, maxOrder 0", { bytes: 40 * 65536, pageSize: 65536, maxOrder: 0, hotPages: 4 }],
];

/**
 * Runs each case twice: once from a merged state (exact bytes), once with hot pages live. The
 * call must not use stats() itself (it would merge the hot pages before the failing call).
 */
function both<E extends MnemeError>(
  options: PageAllocatorOptions,
  cls: abstract new (...args: never[]) => E,
  call: (s: Scene) => unknown,
): E {
  const a = scene(options);
  const error = expectCleanFailure(a.pages, cls, () => call(a));
  const b = scene(options);
  expectCleanFailure(b.pages, cls, () => call(b), true);
  return error;
}

describe.each(GEOMETRIES)("page layer errors (%s)", (_, options) => {
  describe("alloc size", () => {
    it.each([0, -1, -4096, 1.5, 4096.25, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
      "alloc(%o) throws InvalidArgumentError",
      (size) => {
        const e = both(options, InvalidArgumentError, ({ pages }) => pages.alloc(size));
        expect(e.argument).toBe("size");
      },
    );

    it.each(["4096", null, undefined, {}, 10n, true])(
      "alloc(%o) (not a number) throws InvalidArgumentError",
      (size) => {
        both(options, InvalidArgumentError, ({ pages }) => pages.alloc(size as number));
      },
    );

    it("a size beyond the arena throws InvalidArgumentError", () => {
      both(options, InvalidArgumentError, ({ pages, total }) => pages.alloc(total + 1));
      both(options, InvalidArgumentError, ({ pages, count, ps }) => pages.alloc(count * ps + 1));
      both(options, InvalidArgumentError, ({ pages }) => pages.alloc(2 ** 53));
      both(options, InvalidArgumentError, ({ pages }) => pages.alloc(Number.MAX_VALUE));
    });
  });

  describe("alloc alignment", () => {
    it.each([0, 3, 6, 1.5, -1, -4096, Number.NaN, Number.POSITIVE_INFINITY, "4096", null])(
      "alloc(4096, %o) throws InvalidArgumentError",
      (align) => {
        const e = both(options, InvalidArgumentError, ({ pages }) => pages.alloc(4096, align as number));
        expect(e.argument).toBe("alignment");
      },
    );

    it("the size is checked even when the alignment is bad too", () => {
      both(options, InvalidArgumentError, ({ pages }) => pages.alloc(0, 3));
    });

    it("an alignment larger than the arena throws InvalidArgumentError", () => {
      both(options, InvalidArgumentError, ({ pages, count, ps }) =>
        pages.alloc(ps, 2 ** Math.ceil(Math.log2(count * ps) + 1)),
      );
    });
  });

  describe("allocPages order", () => {
    it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "0", null, undefined, 1n])(
      "allocPages(%o) throws InvalidArgumentError",
      (order) => {
        const e = both(options, InvalidArgumentError, ({ pages }) => pages.allocPages(order as number));
        expect(e.argument).toBe("order");
      },
    );

    it("allocPages(maxOrder + 1) throws InvalidArgumentError", () => {
      both(options, InvalidArgumentError, ({ pages, maxOrder }) => pages.allocPages(maxOrder + 1));
      both(options, InvalidArgumentError, ({ pages }) => pages.allocPages(31));
    });
  });

  describe("allocBulk count", () => {
    it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "2", null])(
      "allocBulk(%o) throws InvalidArgumentError",
      (count) => {
        const e = both(options, InvalidArgumentError, ({ pages }) => pages.allocBulk(count as number));
        expect(e.argument).toBe("count");
      },
    );

    it("more pages than are free throws OutOfMemoryError and takes none", () => {
      both(options, OutOfMemoryError, ({ pages, count }) => pages.allocBulk(count + 1));
      const { pages, ps } = scene(options);
      const { free, contiguous } = pages.stats();
      const e = expectCleanFailure(pages, OutOfMemoryError, () => pages.allocBulk(free / ps + 1));
      expect(e.requested).toBe(free + ps);
      expect(e.free).toBe(free);
      expect(e.largestFree).toBe(contiguous);
      // Exactly what is free still works, so the failure was about the count alone.
      expect(pages.allocBulk(free / ps)).toHaveLength(free / ps);
    });
  });

  describe("free and sizeOf of addresses that are not live allocations", () => {
    /** free and sizeOf must both reject `address`, with `cls`, and change nothing. */
    function rejects(
      cls: abstract new (...args: never[]) => InvalidAddressError,
      address: (s: Scene) => unknown,
      notDoubleFree = false,
    ): void {
      const e = both(options, cls, (s) => s.pages.free(address(s) as number));
      if (notDoubleFree) expect(e).not.toBeInstanceOf(DoubleFreeError);
      // sizeOf names no free, so only the broader class is required of it.
      both(options, InvalidAddressError, (s) => s.pages.sizeOf(address(s) as number));
    }

    it("a never-allocated page", () => {
      // It lies inside a free block, which is all the allocator can know about it.
      rejects(InvalidAddressError, ({ untouched }) => untouched);
    });

    it("an interior page of a multi-page allocation", () => {
      rejects(InvalidAddressError, ({ multi, ps }) => multi + ps, true);
      rejects(InvalidAddressError, ({ multi, ps }) => multi + 4 * ps, true);
    });

    it("something that is not a number (a BigInt, a numeric string)", () => {
      // Regression: the free fast path must test the type before doing arithmetic with it.
      rejects(InvalidAddressError, ({ singles }) => BigInt(singles[0]), true);
      rejects(InvalidAddressError, ({ singles }) => String(singles[0]), true);
    });

    it("an address out of range", () => {
      rejects(InvalidAddressError, ({ count, ps }) => count * ps, true);
      rejects(InvalidAddressError, ({ count, ps }) => (count + 100) * ps, true);
      rejects(InvalidAddressError, ({ ps }) => -ps, true);
      rejects(InvalidAddressError, () => 2 ** 40, true);
      rejects(InvalidAddressError, () => 2 ** 31 * 4096, true);
      rejects(InvalidAddressError, () => Number.MAX_SAFE_INTEGER, true);
      // 4 GiB away from a live single page: the same page once truncated to 32 bits.
      rejects(InvalidAddressError, ({ singles }) => singles[0] + 2 ** 32, true);
      rejects(InvalidAddressError, ({ singles }) => singles[0] - 2 ** 32, true);
    });

    it("an address inside the header", () => {
      rejects(InvalidAddressError, () => 0, true);
      rejects(InvalidAddressError, ({ first, ps }) => (first - 1) * ps, true);
      rejects(InvalidAddressError, ({ ps }) => ps / 2, true);
      rejects(InvalidAddressError, () => 4, true);
    });

    it("an unaligned address", () => {
      rejects(InvalidAddressError, ({ multi }) => multi + 1, true);
      rejects(InvalidAddressError, ({ singles, ps }) => singles[0] + ps / 2, true);
      rejects(InvalidAddressError, ({ singles }) => singles[0] - 8, true);
      rejects(InvalidAddressError, ({ multi }) => multi + 0.5, true);
    });

    it.each([
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      "4096",
      null,
      undefined,
      {},
      -0.5,
    ])("a non-address %o", (address) => {
      rejects(InvalidAddressError, () => address, true);
    });

    it("an address already freed throws DoubleFreeError", () => {
      rejects(DoubleFreeError, ({ freed }) => freed);
      // Freed twice in a row, from a state where it may still sit on the hot stack.
      const s = scene(options);
      const a = s.pages.alloc(1);
      s.pages.free(a);
      expectCleanFailure(s.pages, DoubleFreeError, () => s.pages.free(a), true);
    });

    it("an address freed and coalesced into a bigger block throws DoubleFreeError", () => {
      rejects(DoubleFreeError, ({ freedMulti }) => freedMulti);
      // Its interior pages now lie inside a free block: freeing them is a double free too.
      rejects(DoubleFreeError, ({ freedMulti, ps }) => freedMulti + ps);
      rejects(DoubleFreeError, ({ freedMulti, ps }) => freedMulti + 3 * ps);
    });

    it("both buddies freed and merged: either address throws DoubleFreeError", () => {
      const pages = new PageAllocator(options);
      const { ps } = geometry(pages);
      const all = new Set(pages.allocBulk(pages.stats().total / ps));
      const a = [...all].find((x) => (x / ps) % 2 === 0 && all.has(x + ps))!;
      const b = a + ps;
      pages.free(a);
      pages.free(b);
      expectCleanFailure(pages, DoubleFreeError, () => pages.free(b), true);
      expectCleanFailure(pages, DoubleFreeError, () => pages.free(a), true);
      // stats() merges the hot stack: now the pair is one block (unless maxOrder is 0).
      expectCleanFailure(pages, DoubleFreeError, () => pages.free(b));
      expectCleanFailure(pages, DoubleFreeError, () => pages.free(a));
    });
  });

  describe("out of memory", () => {
    it("carries the request and the largest contiguous free block", () => {
      const { pages, ps } = scene(options);
      const { free, contiguous, total } = pages.stats();
      const request = Math.min(total, free + ps);
      const e = expectCleanFailure(pages, OutOfMemoryError, () => pages.alloc(request));
      expect(e.requested).toBe(request);
      expect(e.largestFree).toBe(contiguous);
      expect(e.free).toBe(free);
      expect(e.code).toBe("ENOMEM");
      expect(e.message).toMatch(String(request));
    });

    it("when memory is fragmented, not exhausted", () => {
      const pages = new PageAllocator(options);
      const { ps } = geometry(pages);
      const all = pages.allocBulk(pages.stats().total / ps);
      // Free one page in two: half the memory is free, no two free pages touch.
      for (const a of all) if ((a / ps) % 2 === 0) pages.free(a);
      expectCleanFailure(pages, OutOfMemoryError, () => pages.alloc(2 * ps), true);
      const { free, contiguous } = pages.stats();
      expect(contiguous).toBe(ps);
      const direct = expectCleanFailure(pages, OutOfMemoryError, () => pages.alloc(2 * ps));
      expect(direct.requested).toBe(2 * ps);
      expect(direct.largestFree).toBe(ps);
      expect(direct.free).toBe(free);
      expect(direct.reason).toBe("fragmented");
      // Single pages still work, and so does a bulk request for all of them.
      expect(pages.allocBulk(free / ps)).toHaveLength(free / ps);
    });

    it("allocPages when no block of that order is left", () => {
      const { pages, ps } = scene(options);
      const maxOrder = pages.maxOrder;
      const taken: number[] = [];
      for (;;) {
        try {
          taken.push(pages.allocPages(maxOrder));
        } catch {
          break;
        }
      }
      const contiguous = pages.stats().contiguous;
      const e = expectCleanFailure(pages, OutOfMemoryError, () => pages.allocPages(maxOrder));
      expect(e.requested).toBe(ps * 2 ** maxOrder);
      expect(e.largestFree).toBe(contiguous);
      expect(e.largestFree).toBeLessThan(ps * 2 ** maxOrder);
    });

    it("an alignment no free page satisfies", () => {
      const pages = new PageAllocator(options);
      const { ps, count } = geometry(pages);
      // The largest power-of-two alignment inside the arena: only one aligned page can exist.
      const align = 2 ** Math.floor(Math.log2((count - 1) * ps));
      const a = pages.alloc(ps, align);
      expect(a).toBe(align);
      const e = expectCleanFailure(pages, OutOfMemoryError, () => pages.alloc(ps, align));
      expect(e.requested).toBe(ps);
      if (2 * align <= count * ps)
        expectCleanFailure(pages, OutOfMemoryError, () => pages.alloc(ps, 2 * align));
    });

    it("a full arena", () => {
      const pages = new PageAllocator(options);
      const { ps } = geometry(pages);
      pages.allocBulk(pages.stats().total / ps);
      for (const call of [() => pages.alloc(1), () => pages.allocPages(0), () => pages.allocBulk(1)]) {
        const e = expectCleanFailure(pages, OutOfMemoryError, call);
        expect(e.largestFree).toBe(0);
        expect(e.free).toBe(0);
        expect(e.reason).toBe("exhausted");
      }
    });
  });
});

describe("error classes", () => {
  it("form the documented hierarchy with stable codes", () => {
    const pages = new PageAllocator({ bytes: 1 << 16, hotPages: 0 });
    const a = pages.alloc(1);
    pages.free(a);
    const cases: [unknown, string, string][] = [
      [thrown(InvalidArgumentError, () => pages.alloc(0)), "InvalidArgumentError", "EINVAL"],
      [thrown(InvalidAddressError, () => pages.free(7)), "InvalidAddressError", "EFAULT"],
      [thrown(DoubleFreeError, () => pages.free(a)), "DoubleFreeError", "EDOUBLEFREE"],
      [thrown(OutOfMemoryError, () => pages.allocBulk(1000)), "OutOfMemoryError", "ENOMEM"],
    ];
    for (const [e, name, code] of cases) {
      expect(e).toBeInstanceOf(MnemeError);
      expect(e).toBeInstanceOf(Error);
      expect((e as MnemeError).name).toBe(name);
      expect((e as MnemeError).code).toBe(code);
    }
    expect(thrown(DoubleFreeError, () => pages.free(a))).toBeInstanceOf(InvalidAddressError);
    expect(thrown(InvalidAddressError, () => pages.free(7)).address).toBe(7);
  });
});
