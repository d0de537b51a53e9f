/**
 * heap.check() on a heap whose pages were freed behind its back, through the page layer it
 * shares (new Heap({ pages }), heap.pages): a CorruptionError that says what is wrong, as for
 * any broken invariant, not the page layer's InvalidAddressError from inside the checker.
 */
import { describe, expect, it } from "vitest";
import { CorruptionError, Heap, PageAllocator } from "../../src/index.js";
import { thrown } from "./helpers.js";

const PS = 4096;

describe("check() after the page layer freed the heap's pages", () => {
  const cases: Array<[string, (heap: Heap) => number, RegExp]> = [
    [
      "a slab",
      (heap) => Math.floor(heap.malloc(100) / PS) * PS,
      /slab \d+ of kmalloc-112 is not a 1-page block/,
    ],
    ["a large block", (heap) => heap.malloc(5 * PS), /large allocation at page \d+ is not allocated/],
    ["a vmalloc page", (heap) => heap.vtranslate(heap.vmalloc(10)), /vmalloc area \d+ page 0 maps page \d+/],
  ];
  for (const [what, take, message] of cases) {
    it(`reports ${what} as corruption`, () => {
      // Regression (fixed): check() threw InvalidAddressError ('free memory, not an allocation')
      // from the page layer's sizeOf, which its callers do not expect from a check.
      const pages = new PageAllocator({ bytes: 1 << 20, pageSize: PS });
      const heap = new Heap({ pages });
      const page = take(heap);
      heap.check();
      pages.free(page);
      expect(thrown(CorruptionError, () => heap.check()).message).toMatch(message);
    });
  }
});
