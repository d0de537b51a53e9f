/**
 * Heap options an outside caller gets wrong: an arena too small for the heap's own root (the
 * error named an internal "size 45056" the caller never passed) and a `debug` that is not a
 * boolean (a string turned debug mode on, 0 or "" silently left it off).
 */
import { describe, expect, it } from "vitest";
import { Heap, InvalidArgumentError, PageAllocator } from "../../src/index.js";
import { caught as error } from "../helpers/caught.js";

describe("heap options", () => {
  it("an arena too small for the heap's root is refused as bytes, with the size it needs", () => {
    for (const pageSize of [512, 4096, 65536]) {
      for (const pages of [2, 3, 5]) {
        const e = error(() => new Heap({ bytes: pages * pageSize, pageSize }));
        expect(e, `${pages} pages of ${pageSize}`).toBeInstanceOf(InvalidArgumentError);
        expect((e as InvalidArgumentError).argument).toBe("bytes");
        expect((e as Error).message).toMatch(/too small for a heap: it needs at least \d+ bytes/);
      }
    }
    // The size the message names is a lower bound that grows to a size that works.
    let bytes = 3 * 4096;
    let heap: Heap | undefined;
    for (let i = 0; i < 4 && heap === undefined; i++) {
      const e = error(() => {
        heap = new Heap({ bytes });
      });
      if (e === undefined) break;
      const least = Number(/at least (\d+) bytes/.exec((e as Error).message)?.[1]);
      expect(least).toBeGreaterThan(bytes);
      bytes = least;
    }
    expect(heap, "a heap of the size the messages lead to").toBeDefined();
    heap?.check();
    expect(heap?.stats().total).toBeGreaterThan(0);
  });

  it("a page allocator given to a heap is left as it was when the heap does not fit", () => {
    const pages = new PageAllocator({ bytes: 4 * 4096 });
    const before = pages.memory.slice();
    expect(() => new Heap({ pages })).toThrow(InvalidArgumentError);
    expect(Buffer.compare(pages.memory, before)).toBe(0);
    pages.check();
  });

  it("debug must be a boolean when given", () => {
    for (const debug of ["yes", "", 1, 0, null]) {
      const e = error(() => new Heap({ bytes: 1 << 20, debug: debug as unknown as boolean }));
      expect(e, `debug: ${JSON.stringify(debug)}`).toBeInstanceOf(InvalidArgumentError);
      expect((e as InvalidArgumentError).argument).toBe("debug");
    }
    expect(new Heap({ bytes: 1 << 20, debug: true }).debug).toBe(true);
    expect(new Heap({ bytes: 1 << 20, debug: false }).debug).toBe(false);
    expect(new Heap({ bytes: 1 << 20 }).debug).toBe(false);
  });

  it("maxEmptySlabs past what an Int32 holds, or Infinity, keeps every empty slab", () => {
    // Regression (fixed): the count is an Int32 in the root, so 2^31 wrapped to a negative and
    // 2^32 to 0 (keep none, the opposite of what was asked), and Infinity was refused.
    for (const maxEmptySlabs of [2 ** 31, 2 ** 32, 1e15, Number.POSITIVE_INFINITY]) {
      // Debug caches have no array cache: a freed object goes straight back to its slab.
      const heap = new Heap({ bytes: 1 << 20, maxEmptySlabs, debug: true });
      const cache = heap.createCache("kept", 2000);
      const objects = Array.from({ length: 3 * cache.objectsPerSlab }, () => cache.alloc());
      for (const a of objects) cache.free(a);
      expect(cache.stats().emptySlabs, `maxEmptySlabs ${maxEmptySlabs}`).toBe(3);
      heap.check();
      expect(cache.shrink()).toBe(3 * cache.slabBytes);
    }
    for (const bad of [Number.NEGATIVE_INFINITY, Number.NaN, -1, 0.5]) {
      const e = error(() => new Heap({ bytes: 1 << 20, maxEmptySlabs: bad }));
      expect((e as InvalidArgumentError).argument, `maxEmptySlabs ${bad}`).toBe("maxEmptySlabs");
    }
  });
});
