/**
 * pool.heap of a multi-segment pool answers as a Heap does (DESIGN: pool.heap -> Heap): stats()
 * is one { total, free, contiguous, ... } for the whole pool (it was an array, one entry per
 * segment, so stats().free was undefined), memory is a clear error, and shrinkers, reclaim and
 * vtranslate exist.
 */
import { describe, expect, it } from "vitest";
import { Heap, InvalidArgumentError, Mempool, SegmentedHeap } from "../../src/index.js";

const SEGMENT = 1 << 20;
const LARGE = 128 << 10;

function segmented() {
  const pool = Mempool.create(4 * SEGMENT, { segmentBytes: SEGMENT });
  expect(pool.heap).not.toBeInstanceOf(Heap);
  expect(pool.heap).toBeInstanceOf(SegmentedHeap);
  return { pool, heap: pool.heap as SegmentedHeap };
}

describe("pool.heap of a multi-segment pool", () => {
  it("stats() gives the pool's figures as one heap's, each segment's apart in segments", () => {
    const { pool, heap } = segmented();
    const before = heap.stats();
    // Large blocks fill segment after segment; small ones land in the segments' kmalloc caches.
    const large: number[] = [];
    const segmentsUsed = new Set<number>();
    while (segmentsUsed.size < 2) {
      large.push(heap.malloc(LARGE));
      segmentsUsed.add(Math.floor(large[large.length - 1] / 2 ** 32));
    }
    const small = Array.from({ length: 50 }, () => heap.malloc(100));

    const s = heap.stats();
    const parts = s.segments;
    expect(parts).toHaveLength(4);
    const sum = (read: (h: (typeof parts)[number]) => number) => parts.reduce((n, h) => n + read(h), 0);
    expect(s.total).toBe(sum((h) => h.total));
    expect(s.free).toBe(sum((h) => h.free));
    expect(s.free).toBeLessThanOrEqual(before.free - large.length * LARGE);
    expect(s.contiguous).toBe(Math.max(...parts.map((h) => h.contiguous)));
    expect(s.footprint).toBe(sum((h) => h.footprint));
    expect(s.large).toEqual({ count: large.length, bytes: large.length * LARGE });
    expect(s.objects).toBe(sum((h) => h.objects));
    expect(s.pageLayer.total).toBe(sum((h) => h.pageLayer.total));
    expect(s.pageLayer.free).toBe(s.free);
    expect(s.pageLayer.contiguous).toBe(s.contiguous);
    const orders = s.pageLayer.freeBlocksPerOrder;
    orders.forEach((n, o) => {
      expect(n).toBe(sum((h) => h.pageLayer.freeBlocksPerOrder[o] ?? 0));
    });
    // One entry per cache name, amounts added over the segments.
    const names = s.caches.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    const cls = s.caches.find((c) => c.kmalloc && c.objectSize >= 100 && c.inUse > 0);
    expect(cls).toBeDefined();
    expect(cls!.inUse).toBe(sum((h) => h.caches.find((c) => c.name === cls!.name)?.inUse ?? 0));
    expect(s.caches.reduce((n, c) => n + (c.kmalloc ? c.inUse : 0), 0)).toBeGreaterThanOrEqual(50);

    for (const a of [...large, ...small]) heap.free(a);
    heap.shrink();
    const after = heap.stats();
    expect(after.large).toEqual({ count: 0, bytes: 0 });
    expect(after.free).toBe(before.free);
    pool.close();
  });

  it("memory is a clear error; vtranslate, registerShrinker and reclaim work across the segments", () => {
    const { pool, heap } = segmented();
    expect(() => heap.memory).toThrow(InvalidArgumentError);

    const v = heap.vmalloc(3 * 4096);
    const address = heap.vtranslate(v + 4096 + 5);
    heap.vwrite(v + 4096 + 5, Uint8Array.of(42));
    expect(pool.view(address, 1)[0]).toBe(42);
    heap.vfree(v);

    let asked = 0;
    const remove = heap.registerShrinker({
      name: "test",
      count: () => 4096,
      scan: () => {
        asked++;
        return 4096;
      },
    });
    expect(heap.reclaim(4096)).toBe(true);
    expect(asked).toBe(1);
    remove();
    expect(heap.reclaim(4096)).toBe(false);
    expect(asked).toBe(1);
    pool.close();
  });
});
