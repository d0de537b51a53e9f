/**
 * A pool of several segments serves vmalloc from segment 0's heap; `{ wait: false }` must reach
 * it (it was dropped, so an atomic vmalloc of a segmented pool ran the shrinkers and waited).
 */
import { describe, expect, it } from "vitest";
import { Heap, Mempool, OutOfMemoryError } from "../../src/index.js";

describe("vmalloc of a segmented pool", () => {
  it("passes { wait: false } on: fails at once, asking no shrinker", () => {
    const pool = Mempool.create(4 << 20, { segmentBytes: 1 << 20 });
    expect(pool.heap).not.toBeInstanceOf(Heap);
    const segment0 = (pool.heap as unknown as { segments: { heap: Heap }[] }).segments[0].heap;
    let asked = 0;
    const hoard: number[] = [];
    segment0.registerShrinker({
      name: "hoard",
      count: () => hoard.length * 4096,
      scan: () => {
        asked++;
        let n = 0;
        for (const a of hoard.splice(0)) {
          n += segment0.usableSize(a);
          segment0.free(a);
        }
        return n;
      },
    });
    try {
      for (;;) hoard.push(segment0.malloc(4096, { wait: false }));
    } catch (e) {
      expect(e).toBeInstanceOf(OutOfMemoryError);
    }
    expect(() => pool.heap.vmalloc(64 << 10, { wait: false })).toThrow(OutOfMemoryError);
    expect(asked).toBe(0);
    const v = pool.heap.vmalloc(64 << 10);
    expect(asked).toBe(1);
    pool.heap.vfree(v);
  });
});
