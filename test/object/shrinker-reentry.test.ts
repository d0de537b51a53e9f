/**
 * Shrinkers that allocate: reclaim does not recurse into itself (Linux's PF_MEMALLOC). An
 * allocation made by a shrinker while the heap is short fails with its own OutOfMemoryError
 * instead of asking the same shrinkers again, so neither it nor the allocation that started the
 * reclaim ends in a stack overflow.
 */
import { describe, expect, it } from "vitest";
import { Heap, OutOfMemoryError } from "../../src/index.js";
import { thrown } from "./helpers.js";

const PS = 4096;

/** Fills `heap` with `size`-byte blocks (no shrinker may run meanwhile: { wait: false }). */
function fill(heap: Heap, size: number): number[] {
  const held: number[] = [];
  for (;;) {
    try {
      held.push(heap.malloc(size, { wait: false }));
    } catch (e) {
      if (!(e instanceof OutOfMemoryError)) throw e;
      return held;
    }
  }
}

describe("a shrinker that allocates", () => {
  for (const size of [100, 20_000]) {
    it(`lets a ${size}-byte malloc fail cleanly when it frees nothing`, () => {
      // Regression (fixed): the shrinker's malloc ran the shrinkers again, which malloc'd again:
      // a RangeError (maximum call stack size exceeded) came out of the caller's malloc.
      const heap = new Heap({ bytes: 1 << 20, pageSize: PS });
      fill(heap, size);
      let depth = 0;
      let deepest = 0;
      heap.registerShrinker({
        name: "allocating",
        count: () => 1,
        scan: () => {
          deepest = Math.max(deepest, ++depth);
          try {
            heap.malloc(size);
            return 0;
          } finally {
            depth--;
          }
        },
      });
      thrown(OutOfMemoryError, () => heap.malloc(size));
      expect(deepest).toBe(1);
      heap.check();
    });
  }

  it("serves the allocation that asked when it frees more than it takes", () => {
    const heap = new Heap({ bytes: 1 << 20, pageSize: PS });
    const held = fill(heap, 20_000);
    // Every last byte taken, so that the shrinker's own small allocation needs reclaim too.
    fill(heap, 64);
    const notes: number[] = [];
    heap.registerShrinker({
      name: "journaling",
      count: () => held.length * 20_000,
      scan: (bytes) => {
        // Note the eviction first; with the heap full, the note itself cannot be had.
        try {
          notes.push(heap.malloc(64));
        } catch (e) {
          if (!(e instanceof OutOfMemoryError)) throw e;
        }
        let freed = 0;
        while (freed < bytes && held.length > 0) {
          heap.free(held.pop() as number);
          freed += 20_000;
        }
        return freed;
      },
    });
    const a = heap.malloc(20_000);
    expect(heap.usableSize(a)).toBeGreaterThanOrEqual(20_000);
    expect(notes).toHaveLength(0);
    heap.check();
  });
});
