/**
 * The heap's footprint (pages it holds from the page layer) on small and growing live sets: idle
 * memory goes back before a new peak (slab.ts trim), and a cache's slabs grow with it
 * (size-classes.ts slabOrder). Issue 3 wants footprint / peak live <= 1.25; these are the two
 * mechanisms that bring the real traces there (BENCHMARKS.md, "Where bash's footprint went").
 */
import { describe, expect, it } from "vitest";
import { Heap } from "../../src/index.js";
import { SIZEOF_SLAB_HEADER } from "../../src/object/layout.js";
import {
  CLASS_SIZES,
  GROW_SHIFT,
  grownOrder,
  slabGeometry,
  slabOrder,
} from "../../src/object/size-classes.js";
import { rng } from "../helpers/rng.js";

const PS = 4096;

function cacheOf(heap: Heap, name: string) {
  const c = heap.stats().caches.find((x) => x.name === name);
  if (!c) throw new Error(`no cache ${name}`);
  return c;
}

describe("trimming before a new peak", () => {
  it("idle size classes cost nothing at a new peak: their array caches drain and their slabs go back", () => {
    const heap = new Heap({ bytes: 4 << 20, pageSize: PS });
    const root = heap.stats().rootBytes;
    // A 512 KiB block sets a peak, under which nothing is trimmed...
    heap.free(heap.malloc(512 * 1024));
    const trims = heap.stats().trims;
    // ...so one object of every class, freed at once, waits on its class's array cache and pins
    // that class's slab (the bash trace's ~30 rarely used classes).
    for (const size of CLASS_SIZES) heap.free(heap.malloc(size));
    const idle = heap.stats().footprint - root;
    expect(idle).toBeGreaterThan(40 * PS);
    expect(heap.stats().trims).toBe(trims);
    // A live set of 32-byte objects grows past that peak.
    const n = 20_000;
    const live: number[] = [];
    for (let i = 0; i < n; i++) live.push(heap.malloc(32));
    const s = heap.stats();
    expect(s.trims).toBeGreaterThan(trims);
    const k32 = cacheOf(heap, "kmalloc-32");
    const needed = Math.ceil(n / k32.objectsPerSlab) * PS;
    // Without trimming, the peak would be root + idle + needed.
    expect(s.peakFootprint).toBeLessThanOrEqual(root + needed + 2 * PS);
    for (const c of s.caches) if (c.name !== "kmalloc-32") expect(c.slabs, c.name).toBe(0);
    for (const a of live) heap.free(a);
    heap.shrink();
    expect(heap.stats().footprint).toBe(root);
    heap.check();
  });

  it("keeps its array caches and empty slabs while the footprint stays under its peak", () => {
    const heap = new Heap({ bytes: 4 << 20, pageSize: PS });
    // One of the five stays cached (large-runs.ts), four set the room under the peak.
    const big = Array.from({ length: 5 }, () => heap.malloc(64 * 1024));
    for (const a of big) heap.free(a);
    const trims = heap.stats().trims;
    // Under the peak set by the large blocks: nothing is trimmed, freed objects stay cached.
    for (const size of CLASS_SIZES) heap.free(heap.malloc(size));
    const s = heap.stats();
    expect(s.trims).toBe(trims);
    expect(s.caches.filter((c) => c.cached > 0).length).toBe(CLASS_SIZES.length);
    heap.check();
  });

  it("a bash-like workload (a growing set of small strings, transient buffers of every class) stays within 1.25x", () => {
    // Modelled on ../shared/malloc/bash-assoc: ~800 KiB live in 8-32 byte objects, one transient
    // buffer of a log-uniform size every 16 steps. Before trimming and growing slabs: 1.44.
    const heap = new Heap({ bytes: 4 << 20, pageSize: PS });
    const r = rng(3);
    const live: number[] = [];
    const sizes = new Map<number, number>();
    let liveBytes = 0;
    let peakLive = 0;
    for (let i = 0; i < 40_000; i++) {
      const size = 8 * (1 + Math.floor(r() * 4));
      const a = heap.malloc(size);
      live.push(a);
      sizes.set(a, size);
      liveBytes += size;
      if (i % 16 === 0) {
        const t = Math.floor(16 * 512 ** r());
        const b = heap.malloc(t);
        peakLive = Math.max(peakLive, liveBytes + t);
        heap.free(b);
      }
      peakLive = Math.max(peakLive, liveBytes);
      if (r() < 0.1) {
        const k = Math.floor(r() * live.length);
        const x = live[k];
        live[k] = live[live.length - 1];
        live.pop();
        liveBytes -= sizes.get(x) ?? 0;
        heap.free(x);
      }
    }
    const ratio = heap.stats().peakFootprint / peakLive;
    expect(ratio).toBeLessThanOrEqual(1.25);
    heap.check();
  });
});

describe("slabs that grow with their cache", () => {
  it("start small and grow once the cache holds 8 times a bigger slab", () => {
    // 4096-byte objects: first slabs of 4 pages hold 3 (the header takes the rest of the 4th),
    // grown ones of 32 pages hold 31.
    expect(slabOrder(2, 5, 0)).toBe(2);
    expect(slabOrder(2, 5, 63)).toBe(2);
    expect(slabOrder(2, 5, 64)).toBe(3);
    expect(slabOrder(2, 5, 128)).toBe(4);
    expect(slabOrder(2, 5, 255)).toBe(4);
    expect(slabOrder(2, 5, 256)).toBe(5);
    expect(slabOrder(2, 5, 1 << 20)).toBe(5);
    expect(slabOrder(0, 0, 1 << 20)).toBe(0);
    // On a small arena, slabs stay under 1/64 of it, so a shrinker's frees still empty slabs.
    expect(grownOrder(4096, 8, PS, 10, 2)).toBe(5);
    expect(grownOrder(4096, 8, PS, 10, 2, 1024)).toBe(4);
    expect(grownOrder(8192, 8, PS, 10, 3, 256)).toBe(3);
    for (let pages = 0; pages < 2000; pages++) {
      const order = slabOrder(0, 5, pages);
      // A new slab is at most 1/2^GROW_SHIFT of what the cache holds (or of the first order).
      if (order > 0) expect(2 ** order).toBeLessThanOrEqual(pages >> GROW_SHIFT);
      if (order < 5) expect(2 ** (order + 1)).toBeGreaterThan(pages >> GROW_SHIFT);
    }
  });

  it("grow to an order wasting at most 1/32 in header and tail for every class up to 1 KiB, 1/16 up to 8 KiB", () => {
    for (const size of CLASS_SIZES) {
      const first = slabGeometry(size, 8, PS, 10).order;
      const order = grownOrder(size, 8, PS, 10, first);
      expect(order, `class ${size}`).toBeGreaterThanOrEqual(first);
      expect(order, `class ${size}`).toBeLessThanOrEqual(5);
      const bytes = PS * 2 ** order;
      const per = objectsIn(bytes, size);
      expect(per, `class ${size}`).toBeGreaterThanOrEqual(2);
      expect((bytes - per * size) / bytes, `class ${size}`).toBeLessThanOrEqual(
        size <= 1024 ? 1 / 32 : 1 / 16,
      );
    }
  });

  it("hold 4096-byte objects within 1.1x of their bytes once there are many (3 per 4 pages before)", () => {
    const heap = new Heap({ bytes: 16 << 20, pageSize: PS });
    const n = 1000;
    const live: number[] = [];
    for (let i = 0; i < n; i++) live.push(heap.malloc(4096));
    const c = cacheOf(heap, "kmalloc-4096");
    expect(c.objectsPerSlab).toBe(3);
    expect(c.slabBytes).toBe(4 * PS);
    expect(c.slabPages * PS).toBeLessThanOrEqual(1.1 * n * 4096);
    expect(c.capacity).toBeGreaterThanOrEqual(n);
    heap.check();
    // Freed in a random order, the big slabs empty and go back like the small ones.
    const r = rng(7);
    for (let i = live.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [live[i], live[j]] = [live[j], live[i]];
    }
    for (const a of live) heap.free(a);
    heap.shrink();
    expect(cacheOf(heap, "kmalloc-4096").slabs).toBe(0);
    expect(heap.stats().footprint).toBe(heap.stats().rootBytes);
    heap.check();
  });
});

/** Objects of `stride` bytes that fit in a slab of `bytes` after the header and bitmap (8-aligned). */
function objectsIn(bytes: number, stride: number): number {
  let n = Math.floor((bytes - SIZEOF_SLAB_HEADER) / stride);
  while (n > 0 && Math.ceil((SIZEOF_SLAB_HEADER + 4 * Math.ceil(n / 32)) / 8) * 8 + n * stride > bytes) n--;
  return n;
}
