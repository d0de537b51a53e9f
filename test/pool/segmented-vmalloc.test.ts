/**
 * A pool of several segments serves vmalloc from segment 0's heap; `{ wait: false }` must reach
 * it (it was dropped, so an atomic vmalloc of a segmented pool ran the shrinkers and waited).
 */
import { describe, expect, it } from "vitest";
import { Heap, Mempool, OutOfMemoryError } from "../../src/index.js";
import { hoardEverything } from "../object/helpers.js";

describe("vmalloc of a segmented pool", () => {
  it("passes { wait: false } on: fails at once, asking no shrinker", () => {
    const pool = Mempool.create(4 << 20, { segmentBytes: 1 << 20 });
    expect(pool.heap).not.toBeInstanceOf(Heap);
    const segment0 = (pool.heap as unknown as { segments: { heap: Heap }[] }).segments[0].heap;
    const { asked } = hoardEverything(segment0, [4096]);
    expect(() => pool.heap.vmalloc(64 << 10, { wait: false })).toThrow(OutOfMemoryError);
    expect(asked()).toBe(0);
    const v = pool.heap.vmalloc(64 << 10);
    expect(asked()).toBe(1);
    pool.heap.vfree(v);
  });
});
