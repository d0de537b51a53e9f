/**
 * vmalloc on a fragmented arena, for areas whose page table is larger than the reserve's blocks
 * (more than 4 pages of entries: above 16 MiB with 4 KiB pages, 256 KiB with 512 B pages).
 * Regression (fixed): such a table was one block of the page layer, so on an arena of scattered
 * single pages a 20 MiB vmalloc failed although the free pages held its data and its table (and
 * the error reported the table's 20480 bytes as the request). Tables are now two-level: leaves
 * are single pages under a directory of one page (with 4 KiB pages), or a few (small pages).
 */
import { describe, expect, it } from "vitest";
import { Heap, type HeapOptions, OutOfMemoryError } from "../../src/index.js";
import { expectCleanFailure, firstDifference, takeAllPages } from "./helpers.js";

/** A heap whose free memory is every other page: no two free pages adjacent. */
function scattered(options: HeapOptions): { heap: Heap; kept: number[] } {
  const heap = new Heap(options);
  const taken = takeAllPages(heap);
  for (let i = 0; i < taken.length; i += 2) heap.free(taken[i]);
  expect(heap.stats().contiguous).toBe(heap.pages.pageSize);
  return { heap, kept: taken.filter((_, i) => i % 2 === 1) };
}

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed + (i >> 12)) & 0xff;
  return out;
}

describe("vmalloc with a table of more than 4 pages", () => {
  it("maps an area over scattered single pages, table included", () => {
    const { heap, kept } = scattered({ bytes: 64 << 20, pageSize: 4096 });
    const before = heap.stats();
    const bytes = 20 << 20;
    const v = heap.vmalloc(bytes);
    heap.check();
    // 5120 data pages, 5 leaf tables and a one-page directory.
    expect(heap.stats().free).toBe(before.free - (5120 + 6) * 4096);
    const data = pattern(bytes, 7);
    heap.vwrite(v, data);
    expect(firstDifference(heap.vread(v, bytes), data)).toBe(-1);
    expect(Array.from(heap.vread(v + 5_000_000, 9))).toEqual(Array.from(data.subarray(5_000_000, 5_000_009)));
    expect(heap.vtranslate(v + bytes - 1) % 4096).toBe(4095);
    heap.vfree(v);
    heap.check();
    expect(heap.stats()).toEqual(before);
    for (const a of kept) heap.free(a);
    heap.check();
  });

  it("takes a directory of several pages on small pages, and says so when none is free", () => {
    // 512 B pages: 128 entries a page, so an area above 8 MiB needs a two-page directory.
    const fresh = new Heap({ bytes: 24 << 20, pageSize: 512 });
    const before = fresh.stats();
    const bytes = 9 << 20;
    const v = fresh.vmalloc(bytes);
    fresh.check();
    const data = pattern(bytes, 3);
    fresh.vwrite(v, data);
    expect(firstDifference(fresh.vread(v, bytes), data)).toBe(-1);
    fresh.vfree(v);
    expect({ ...fresh.stats(), peakFootprint: 0 }).toEqual({ ...before, peakFootprint: 0 });

    const { heap } = scattered({ bytes: 24 << 20, pageSize: 512 });
    const e = expectCleanFailure(heap, OutOfMemoryError, () => heap.vmalloc(bytes));
    expect(e.requested).toBe(bytes);
    expect(e.reason).toBe("fragmented");
    expect(e.message).toMatch(/directory needs 2 contiguous pages/);
    // Up to 8 MiB the directory is one page: that works on the same arena.
    heap.vfree(heap.vmalloc(8 << 20));
    heap.check();
  });
});
