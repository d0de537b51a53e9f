/**
 * vmalloc, like every other allocation that may wait, asks the registered shrinkers for memory
 * before it throws OutOfMemoryError. It used to fail at once when the arena was full (it asked
 * only when watermarks were set), although a shrinker held all the memory it needed; and it had
 * no { wait: false } to fail at once on purpose.
 */
import { describe, expect, it } from "vitest";
import { Heap, OutOfMemoryError } from "../../src/index.js";
import { expectCleanFailure, hoardEverything } from "./helpers.js";

/** A heap whose every free page a shrinker's hoard holds; `asked` counts its scans. */
function fullHeap(): { heap: Heap; hoard: number[]; asked: () => number } {
  const heap = new Heap({ bytes: 2 << 20 });
  return { heap, ...hoardEverything(heap) };
}

describe("vmalloc under memory pressure", () => {
  it("runs the shrinkers before failing, and succeeds with what they free", () => {
    const { heap, asked } = fullHeap();
    expect(heap.pages.freePages).toBe(0);
    const v = heap.vmalloc(64 << 10);
    expect(asked()).toBe(1);
    const data = new Uint8Array(64 << 10).map((_, i) => i * 7);
    heap.vwrite(v, data);
    expect(Buffer.compare(heap.vread(v, data.length), data)).toBe(0);
    heap.check();
    heap.vfree(v);
    heap.check();
  });

  it("with { wait: false } fails at once, asking no shrinker and changing nothing", () => {
    const { heap, asked } = fullHeap();
    expectCleanFailure(
      heap,
      OutOfMemoryError,
      () => heap.vmalloc(64 << 10, { wait: false }),
      "atomic vmalloc",
    );
    expect(asked()).toBe(0);
    heap.vfree(heap.vmalloc(64 << 10));
    expect(asked()).toBe(1);
  });

  it("fails cleanly when the shrinkers free nothing", () => {
    const { heap, hoard, asked } = fullHeap();
    hoard.splice(0); // the shrinker has nothing left to give (the memory stays allocated)
    expectCleanFailure(heap, OutOfMemoryError, () => heap.vmalloc(64 << 10), "vmalloc of 64 KiB");
    expect(asked()).toBe(0);
  });
});
