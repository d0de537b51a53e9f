/**
 * Arguments the page layer took without a word: fragmentation(order) with an order that is not
 * one (NaN for 1.5, 0 for -1, 1 for 99), watermark options that are not an object (taken as the
 * defaults), a min at or above the frames (reported as a bad "high"), and an `arena` option that
 * is not an Arena (a TypeError from the constructor).
 */
import { describe, expect, it } from "vitest";
import { Arena, Heap, InvalidArgumentError, PageAllocator } from "../../src/index.js";
import { watermarks } from "../../src/page/watermarks.js";
import { caught as error } from "../helpers/caught.js";

describe("page layer arguments", () => {
  it("new PageAllocator({ arena }) refuses anything but an Arena", () => {
    // Regression (fixed): a TypeError ('reading pageSize', 'reading 3') from the constructor.
    for (const arena of [5, {}, null, undefined, "arena", new PageAllocator({ bytes: 1 << 16 }).memory]) {
      const e = error(() => new PageAllocator({ arena } as unknown as { arena: Arena }));
      expect(e, `arena ${String(arena)}`).toBeInstanceOf(InvalidArgumentError);
      expect((e as InvalidArgumentError).argument).toBe("arena");
    }
    const pages = new PageAllocator({ bytes: 1 << 16 });
    expect(new PageAllocator({ arena: Arena.attach(pages.memory.buffer) }).stats()).toEqual(pages.stats());
  });

  it("fragmentation(order) refuses anything but an integer order from 0 to maxOrder, changing nothing", () => {
    const pages = new PageAllocator({ bytes: 1 << 20, maxOrder: 6 });
    const held = [pages.alloc(4096), pages.alloc(3 * 4096)];
    pages.free(held[0]);
    const before = pages.memory.slice();
    for (const order of [-1, 1.5, 7, 99, Number.NaN, Number.POSITIVE_INFINITY, "3", null]) {
      const e = error(() => pages.fragmentation(order as unknown as number));
      expect(e, `fragmentation(${String(order)})`).toBeInstanceOf(InvalidArgumentError);
      expect((e as InvalidArgumentError).argument).toBe("order");
    }
    expect(Buffer.compare(pages.memory, before), "arena after the refused calls").toBe(0);
    for (let o = 0; o <= 6; o++) {
      const f = pages.fragmentation(o);
      expect(f).toBeGreaterThanOrEqual(0);
      expect(f).toBeLessThanOrEqual(1);
    }
    expect(pages.fragmentation()).toBe(pages.fragmentation(6));
  });

  it("watermark options must be an object, and min must be below the frames", () => {
    for (const options of ["x", 5, true]) {
      const e = error(() => watermarks(100, options as never));
      expect(e, `watermarks(100, ${JSON.stringify(options)})`).toBeInstanceOf(InvalidArgumentError);
      expect((e as InvalidArgumentError).argument).toBe("options");
    }
    for (const min of [100, 101, 1e9]) {
      const e = error(() => watermarks(100, { min }));
      expect(e, `min ${min}`).toBeInstanceOf(InvalidArgumentError);
      expect((e as InvalidArgumentError).argument).toBe("min");
    }
    expect(watermarks(100)).toEqual(watermarks(100, {}));
    const heap = new Heap({ bytes: 1 << 20 });
    expect(() => heap.setWatermarks("x" as never)).toThrow(InvalidArgumentError);
    expect(heap.watermarks).toBeNull();
    expect(heap.setWatermarks(null)).toBeNull();
  });
});
