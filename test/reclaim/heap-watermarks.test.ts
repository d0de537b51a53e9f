/**
 * Watermarks on the object layer: ordinary allocations stop at min (after the shrinkers had their
 * chance), `{ wait: false }` ones may use the reserve below it, and background reclaim below low
 * brings free pages back to high.
 */
import { describe, expect, it } from "vitest";
import { Heap, InvalidArgumentError, OutOfMemoryError } from "../../src/index.js";
import { ManualClock } from "../../src/reclaim/clock.js";
import { Reclaimer } from "../../src/reclaim/reclaimer.js";
import { heapZone } from "../../src/reclaim/zones.js";

const PS = 4096;

function figures(heap: Heap) {
  const s = heap.stats();
  return { free: s.free, freePages: heap.pages.freePages };
}

/**
 * A user cache of heap blocks that gives them back when asked (a shrinker), filled with 8 KiB
 * blocks until free pages reach `floor` before it registers (so that filling it never reclaims
 * from it).
 */
function userCache(heap: Heap, floor: number, priority = 10) {
  const blocks: number[] = [];
  while (heap.pages.freePages - 2 >= floor) {
    try {
      blocks.push(heap.malloc(2 * PS));
    } catch (e) {
      if ((e as OutOfMemoryError).reason !== "watermark") throw e;
      break;
    }
  }
  let asked = 0;
  heap.registerShrinker({
    name: "user-cache",
    priority,
    count: () => blocks.length * 2 * PS,
    scan: (bytes) => {
      asked++;
      let freed = 0;
      while (freed < bytes && blocks.length > 0) {
        heap.free(blocks.pop()!);
        freed += 2 * PS;
      }
      return freed;
    },
  });
  return {
    blocks,
    get asked() {
      return asked;
    },
  };
}

describe("heap watermarks", () => {
  it("ordinary allocations stop at min with reason 'watermark' and change nothing; { wait: false } uses the reserve", () => {
    const heap = new Heap({ bytes: 1 << 20 });
    const m = heap.setWatermarks({ min: 16, low: 24, high: 32 })!;
    expect(heap.watermarks).toEqual(m);
    const held: number[] = [];
    let error: unknown;
    for (;;) {
      try {
        held.push(heap.malloc(8 * PS));
      } catch (e) {
        error = e;
        break;
      }
    }
    expect(error).toBeInstanceOf(OutOfMemoryError);
    expect((error as OutOfMemoryError).reason).toBe("watermark");
    expect(heap.pages.freePages).toBeGreaterThanOrEqual(16);
    // Small objects (a new slab) and vmalloc are refused the same way, changing nothing.
    const before = figures(heap);
    let small: unknown;
    for (let i = 0; i < 1000 && small === undefined; i++) {
      try {
        held.push(heap.malloc(PS));
      } catch (e) {
        small = e;
      }
    }
    expect((small as OutOfMemoryError).reason).toBe("watermark");
    const at = figures(heap);
    // A class never used before needs a new slab; vmalloc needs pages too.
    for (const call of [() => heap.malloc(PS), () => heap.malloc(6000), () => heap.vmalloc(2 * PS)]) {
      expect(call).toThrow(expect.objectContaining({ reason: "watermark" }));
      expect(figures(heap)).toEqual(at);
    }
    expect(at.free).toBeLessThan(before.free);
    // Critical callers may go below min, down to the last page.
    const critical: number[] = [];
    for (;;) {
      try {
        critical.push(heap.malloc(PS, { wait: false }));
      } catch (e) {
        // Only what is really there is left to refuse: the reserve itself is used up.
        expect((e as OutOfMemoryError).reason).not.toBe("watermark");
        break;
      }
    }
    expect(heap.pages.freePages).toBeLessThan(16);
    expect(critical.length).toBeGreaterThan(0);
    for (const a of [...held, ...critical]) heap.free(a);
    heap.check();
  });

  it("an allocation that would go below min asks the shrinkers first (direct reclaim), then proceeds", () => {
    const heap = new Heap({ bytes: 1 << 20 });
    heap.setWatermarks({ min: 16, low: 24, high: 32 });
    const cache = userCache(heap, 16);
    const cached = cache.blocks.length;
    const a = heap.malloc(8 * PS);
    expect(cache.asked).toBe(1);
    expect(cache.blocks.length).toBeLessThan(cached);
    expect(heap.pages.freePages).toBeGreaterThanOrEqual(16);
    // { wait: false } never runs shrinkers: it takes the reserve instead.
    const asked = cache.asked;
    heap.malloc(4 * PS, { wait: false });
    expect(cache.asked).toBe(asked);
    heap.free(a);
    heap.check();
  });

  it("background reclaim (a Reclaimer over the heap's shrinkers) brings free pages from below low to high", async () => {
    const heap = new Heap({ bytes: 1 << 20 });
    const m = heap.setWatermarks({ min: 16, low: 40, high: 64 })!;
    userCache(heap, 30);
    expect(heap.pages.freePages).toBeLessThan(m.low);
    const clock = new ManualClock();
    const stop = new Reclaimer({ shrinkers: heap.shrinkers }).startBackground(heapZone(heap), clock, 100);
    await clock.advance(100);
    expect(heap.pages.freePages).toBeGreaterThanOrEqual(m.high);
    stop();
  });

  it("background reclaim follows setWatermarks() made after heapZone(); none after setWatermarks(null)", async () => {
    const heap = new Heap({ bytes: 1 << 20 });
    heap.setWatermarks({ min: 16, low: 40, high: 64 });
    const cache = userCache(heap, 30);
    const zone = heapZone(heap);
    const clock = new ManualClock();
    const stop = new Reclaimer({ shrinkers: heap.shrinkers }).startBackground(zone, clock, 100);
    try {
      // Raised: background reclaim works to the new high, not to the 64 pages of the zone's creation.
      const m = heap.setWatermarks({ min: 16, low: 100, high: 140 })!;
      expect(zone.marks).toEqual(m);
      await clock.advance(100);
      expect(heap.pages.freePages).toBeGreaterThanOrEqual(140);
      // Removed: nothing to keep free, so the next passes leave the cache alone.
      for (let i = 0; i < 40; i++) cache.blocks.push(heap.malloc(2 * PS));
      heap.setWatermarks(null);
      const held = cache.blocks.length;
      const asked = cache.asked;
      await clock.advance(500);
      expect(cache.blocks.length).toBe(held);
      expect(cache.asked).toBe(asked);
    } finally {
      stop();
    }
    heap.check();
  });

  it("without watermarks every page is for everyone; bad watermarks are refused", () => {
    const heap = new Heap({ bytes: 1 << 20 });
    expect(heap.watermarks).toBeNull();
    expect(() => heapZone(heap)).toThrow(InvalidArgumentError);
    const held: number[] = [];
    for (;;) {
      try {
        held.push(heap.malloc(PS));
      } catch (e) {
        expect((e as OutOfMemoryError).reason).not.toBe("watermark");
        break;
      }
    }
    expect(heap.pages.freePages).toBeLessThan(16);
    expect(() => heap.setWatermarks({ min: 10, low: 5, high: 20 })).toThrow(InvalidArgumentError);
    expect(heap.watermarks).toBeNull();
    heap.setWatermarks({ min: 4, low: 8, high: 12 });
    heap.setWatermarks(null);
    expect(heap.watermarks).toBeNull();
    for (const a of held) heap.free(a);
    heap.check();
  });
});
