/**
 * vmalloc on a fragmented arena, for an area whose page table is larger than the reserve's blocks
 * (more than 4 pages of entries: above 16 MiB with 4 KiB pages). The data pages are single pages;
 * the table is one block of the page layer. Regression (fixed): when no such block was free, the
 * OutOfMemoryError reported the table's bytes as the request ("20480 bytes requested" for a
 * 20 MiB vmalloc), not what the caller asked for.
 */
import { describe, expect, it } from "vitest";
import { Heap, OutOfMemoryError } from "../../src/index.js";
import { expectCleanFailure, takeAllPages } from "./helpers.js";

const PS = 4096;

describe("vmalloc whose page table finds no block", () => {
  it("fails with the caller's request, says why, and changes nothing", () => {
    const heap = new Heap({ bytes: 64 << 20, pageSize: PS });
    // Every other page free: thousands of single pages, no two adjacent.
    const taken = takeAllPages(heap);
    for (let i = 0; i < taken.length; i += 2) heap.free(taken[i]);
    const { free, contiguous } = heap.stats();
    expect(contiguous).toBe(PS);
    const bytes = 20 << 20;
    // 5120 data pages and a 5-page table: the free pages would hold both.
    expect(free / PS).toBeGreaterThan(bytes / PS + 5);
    const e = expectCleanFailure(heap, OutOfMemoryError, () => heap.vmalloc(bytes));
    expect(e.requested).toBe(bytes);
    expect(e.reason).toBe("fragmented");
    expect(e.largestFree).toBe(PS);
    expect(e.message).toMatch(/page table needs 5 contiguous pages/);
    // A table of up to 4 pages comes from the reserve: 16 MiB still works.
    heap.vfree(heap.vmalloc(16 << 20));
    heap.check();
  });
});
