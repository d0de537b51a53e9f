/**
 * realloc of a large block that grows in place takes pages from the page layer like any other
 * allocation, so it obeys the same rules: the pages below the min watermark are kept for critical
 * ({ wait: false }) requests, and a refusal changes nothing. It used to take them without asking.
 */
import { describe, expect, it } from "vitest";
import { Heap, OutOfMemoryError } from "../../src/index.js";
import { expectCleanFailure } from "./helpers.js";

const PS = 4096;

/** A 16-page block `a` whose next 16 pages are free, and watermarks that leave 8 pages above min. */
function setup(): { heap: Heap; a: number } {
  const heap = new Heap({ bytes: 4 << 20 });
  const a = heap.malloc(16 * PS);
  const b = heap.malloc(16 * PS);
  expect(b, "the second block follows the first").toBe(a + 16 * PS);
  for (let i = 0; i < 16 * PS; i++) heap.memory[a + i] = (i * 7) & 0xff;
  heap.free(b);
  heap.shrink();
  const free = heap.pages.freePages;
  heap.setWatermarks({ min: free - 8, low: free - 4, high: free });
  return { heap, a };
}

describe("realloc growing a large block in place", () => {
  it("refuses to take pages below the min watermark, as malloc does, changing nothing", () => {
    const { heap, a } = setup();
    expectCleanFailure(heap, OutOfMemoryError, () => heap.malloc(16 * PS), "malloc of 16 pages");
    const e = expectCleanFailure(
      heap,
      OutOfMemoryError,
      () => heap.realloc(a, 32 * PS),
      "realloc to 32 pages",
    );
    expect(e.reason).toBe("watermark");
    expect(heap.usableSize(a)).toBe(16 * PS);
  });

  it("runs the shrinkers first, and grows in place when they free enough", () => {
    const { heap, a } = setup();
    // A cache that holds 16 pages of objects the shrinker gives back.
    const held: number[] = [];
    heap.setWatermarks(null);
    for (let i = 0; i < 16; i++) held.push(heap.malloc(PS / 2 + 1));
    const free = heap.pages.freePages;
    heap.setWatermarks({ min: free - 8, low: free - 4, high: free });
    let asked = 0;
    heap.registerShrinker({
      name: "test-cache",
      count: () => held.length * PS,
      scan: () => {
        asked++;
        let n = 0;
        for (const x of held.splice(0)) {
          heap.free(x);
          n += PS;
        }
        heap.shrink();
        return n;
      },
    });
    expect(heap.realloc(a, 32 * PS)).toBe(a);
    expect(asked).toBe(1);
    expect(heap.usableSize(a)).toBe(32 * PS);
    let kept = true;
    for (let i = 0; i < 16 * PS; i++) if (heap.memory[a + i] !== ((i * 7) & 0xff)) kept = false;
    expect(kept, "the block's first 16 pages kept their contents").toBe(true);
    heap.check();
  });

  it("with { wait: false } may use the pages below min", () => {
    const { heap, a } = setup();
    expect(heap.realloc(a, 32 * PS, { wait: false })).toBe(a);
    expect(heap.usableSize(a)).toBe(32 * PS);
    heap.check();
  });
});
