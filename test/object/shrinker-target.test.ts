/**
 * The target of a reclaim (heap.reclaim, heap.shrinkers.shrink): each shrinker's scan gets what is
 * left of it, so it must be a number a shrinker can do sums with.
 */
import { describe, expect, it } from "vitest";
import { Heap, InvalidArgumentError } from "../../src/index.js";

describe("a reclaim target", () => {
  it("that is not a non-negative number is refused before any shrinker runs", () => {
    // Regression (fixed): heap.reclaim(NaN) asked every shrinker to scan NaN bytes, and "10" was
    // coerced to 10 on the way (NaN - 0, "10" - 0).
    const heap = new Heap({ bytes: 1 << 20 });
    const asked: unknown[] = [];
    heap.registerShrinker({
      name: "recording",
      count: () => 100,
      scan: (bytes) => {
        asked.push(bytes);
        return 0;
      },
    });
    for (const bytes of [Number.NaN, -1, "10", undefined, 10n]) {
      expect(() => heap.reclaim(bytes as number), String(bytes)).toThrow(InvalidArgumentError);
      expect(() => heap.shrinkers.shrink(bytes as number), String(bytes)).toThrow(InvalidArgumentError);
    }
    expect(asked).toEqual([]);
    expect(heap.reclaim(0)).toBe(false);
    heap.reclaim(Number.POSITIVE_INFINITY);
    expect(asked).toEqual([Number.POSITIVE_INFINITY]);
  });

  it("a scan that answers no finite count counts as freeing nothing; the shrinkers after it still run", () => {
    // Regression (fixed): undefined or NaN from one scan made the round's freed NaN, so the
    // target was never met by the sum and the result said NaN.
    const heap = new Heap({ bytes: 1 << 20 });
    const asked: string[] = [];
    for (const [name, answer] of [
      ["undefined", undefined],
      ["nan", Number.NaN],
      ["infinite", Number.POSITIVE_INFINITY],
      ["string", "4096"],
      ["honest", 4096],
    ] as const)
      heap.registerShrinker({
        name,
        count: () => 1,
        scan: () => {
          asked.push(name);
          return answer as number;
        },
      });
    const r = heap.shrinkers.shrink(8192);
    expect(r.freed).toBe(4096);
    expect(asked).toEqual(["undefined", "nan", "infinite", "string", "honest"]);
    expect(heap.shrinkers.shrink(4096).freed).toBe(4096);
  });

  it("a count that answers no finite number counts as nothing in the registry's total", () => {
    // Regression (fixed): heap.shrinkers.count() summed Math.max(0, count()), NaN for a count()
    // that returned undefined or NaN, so the total said NaN whatever the other shrinkers held.
    const heap = new Heap({ bytes: 1 << 20 });
    heap.free(heap.malloc(3 * 4096)); // a cached large run: the heap's own count is 12 KiB
    const own = heap.shrinkers.count();
    expect(own).toBe(3 * 4096);
    for (const [name, answer] of [
      ["undefined", undefined],
      ["nan", Number.NaN],
      ["infinite", Number.POSITIVE_INFINITY],
      ["string", "4096"],
      ["negative", -4096],
      ["honest", 4096],
    ] as const)
      heap.registerShrinker({ name, count: () => answer as number, scan: () => 0 });
    expect(heap.shrinkers.count()).toBe(own + 4096);
  });
});
