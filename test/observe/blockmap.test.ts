import { describe, expect, it } from "vitest";
import { Heap } from "../../src/object/heap.js";
import { BLOCK_KINDS, type BlockMap, heapBlocks } from "../../src/object/inspect.js";
import { usedBlocksPerOrder } from "../../src/page/inspect.js";
import { Mempool } from "../../src/pool/mempool.js";

const kind = (name: (typeof BLOCK_KINDS)[number]) => BLOCK_KINDS.indexOf(name);

/** Runs cover every page once, in order, each at least one page long. */
function checkCoverage(m: BlockMap): void {
  let next = 0;
  for (let i = 0; i < m.start.length; i++) {
    expect(m.start[i]).toBe(next);
    expect(m.pages[i]).toBeGreaterThanOrEqual(1);
    next += m.pages[i];
  }
  expect(next).toBe(m.pageCount);
}

function pagesOf(m: BlockMap, k: number): number {
  let n = 0;
  for (let i = 0; i < m.start.length; i++) if (m.kind[i] === k) n += m.pages[i];
  return n;
}

describe("heapBlocks (the arena map)", () => {
  it("a fresh heap: header, metadata, the reserve, and free blocks matching the page layer's lists", () => {
    const heap = new Heap({ bytes: 4 << 20 });
    const m = heapBlocks(heap);
    checkCoverage(m);
    expect(m.kind[0]).toBe(kind("header"));
    const s = heap.stats();
    expect(pagesOf(m, kind("reserve"))).toBe(s.reserve.pages);
    expect(pagesOf(m, kind("meta")) + pagesOf(m, kind("reserve"))).toBe(s.footprint / s.pageLayer.pageSize);
    expect(pagesOf(m, kind("free")) * s.pageLayer.pageSize).toBe(s.free);
    const perOrder = new Array(s.pageLayer.maxOrder + 1).fill(0);
    for (let i = 0; i < m.start.length; i++) if (m.kind[i] === kind("free")) perOrder[m.detail[i]]++;
    expect(perOrder).toEqual(s.pageLayer.freeBlocksPerOrder);
  });

  it("names slabs of kmalloc classes and of named caches, large blocks and vmalloc pages", () => {
    const heap = new Heap({ bytes: 4 << 20 });
    const small = heap.malloc(100);
    const big = heap.malloc(256 * 1024);
    const cache = heap.createCache("session", 200);
    const obj = cache.alloc();
    const v = heap.vmalloc(5 * 4096);
    const m = heapBlocks(heap);
    checkCoverage(m);
    const at = (address: number) => {
      const page = Math.floor(address / m.pageSize);
      const i = m.start.findIndex((s, j) => page >= s && page < s + m.pages[j]);
      return { kind: BLOCK_KINDS[m.kind[i]], detail: m.detail[i], start: m.start[i], pages: m.pages[i] };
    };
    const k = at(small);
    expect(k.kind).toBe("kmalloc");
    expect(m.caches[k.detail]).toMatch(/^kmalloc-/);
    const n = at(obj);
    expect(n.kind).toBe("slab");
    expect(m.caches[n.detail]).toBe("session");
    const l = at(big);
    expect(l).toMatchObject({ kind: "large", start: big / m.pageSize, pages: 64 });
    expect(pagesOf(m, kind("vmalloc"))).toBe(5);
    heap.vfree(v);
    heap.free(big);
    const after = heapBlocks(heap);
    checkCoverage(after);
    expect(pagesOf(after, kind("vmalloc"))).toBe(0);
    expect(pagesOf(after, kind("large"))).toBe(0);
  });

  it("shows a freed large run the heap keeps for reuse as cached, and a reused one as large again", () => {
    const heap = new Heap({ bytes: 4 << 20 });
    heap.free(heap.malloc(1 << 20));
    const run = heap.malloc(5 * 4096);
    heap.free(run);
    const m = heapBlocks(heap);
    checkCoverage(m);
    const i = m.start.indexOf(run / m.pageSize);
    expect(BLOCK_KINDS[m.kind[i]]).toBe("cached");
    expect(m.pages[i]).toBe(5);
    expect(pagesOf(m, kind("cached"))).toBe(heap.slabs.runs.heldPages);
    expect(heap.malloc(5 * 4096)).toBe(run);
    const after = heapBlocks(heap);
    expect(pagesOf(after, kind("cached"))).toBe(0);
    expect(BLOCK_KINDS[after.kind[after.start.indexOf(run / m.pageSize)]]).toBe("large");
  });

  it("pool.blockMap() gives one map per segment; pool.alloc pages are plain page-layer blocks", () => {
    const pool = Mempool.create(8 << 20, { segmentBytes: 4 << 20 });
    try {
      pool.alloc(3 * 4096);
      const maps = pool.blockMap();
      expect(maps).toHaveLength(2);
      for (const m of maps) checkCoverage(m);
      expect(maps.reduce((n, m) => n + pagesOf(m, kind("pages")), 0)).toBeGreaterThanOrEqual(3);
    } finally {
      pool.close();
    }
  });

  it("usedBlocksPerOrder counts allocations by the order that would hold them", () => {
    const heap = new Heap({ bytes: 4 << 20 });
    const before = usedBlocksPerOrder(heap.pages);
    const a = heap.pages.alloc(3 * 4096);
    const after = usedBlocksPerOrder(heap.pages);
    expect(after[2]).toBe(before[2] + 1);
    heap.pages.free(a);
    expect(usedBlocksPerOrder(heap.pages)).toEqual(before);
  });
});
