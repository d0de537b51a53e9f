/**
 * Typed errors whatever the caller passed. Regression (fixed): an error message spelled out the
 * bad value with String(), so heap.memory passed where a buffer belongs (Heap.attach) made a
 * message of every arena byte (2 MB of text for a 1 MiB arena; on a 256 MiB arena String() fails
 * with RangeError 'Invalid string length' after seconds, in place of the typed error), and an
 * object without a prototype made the error's constructor throw a TypeError instead.
 */
import { describe, expect, it } from "vitest";
import { Heap, InvalidAddressError, InvalidArgumentError, PageAllocator } from "../../src/index.js";
import { expectCleanFailure, thrown } from "./helpers.js";

const SHORT = 400;

describe("errors quote what they were given, briefly", () => {
  it("names a typed array or buffer passed where another is expected, without its bytes", () => {
    const heap = new Heap({ bytes: 1 << 20, shared: true });
    const e = thrown(InvalidArgumentError, () => Heap.attach(heap.memory as never));
    expect(e.message.length).toBeLessThan(SHORT);
    expect(e.message).toContain("Uint8Array");
    expect(e.value).toBe(heap.memory);
    const v = heap.vmalloc(4096);
    const words = new Uint16Array(1 << 19);
    const w = expectCleanFailure(heap, InvalidArgumentError, () => heap.vwrite(v, words as never));
    expect(w.message.length).toBeLessThan(SHORT);
    const p = thrown(InvalidArgumentError, () => new PageAllocator({ arena: heap.memory as never }));
    expect(p.message.length).toBeLessThan(SHORT);
  });

  it("refuses an object without a prototype with the typed error, changing nothing", () => {
    const heap = new Heap({ bytes: 1 << 20 });
    const bare = Object.create(null);
    expectCleanFailure(heap, InvalidArgumentError, () => heap.malloc(bare));
    expectCleanFailure(heap, InvalidArgumentError, () => heap.calloc(bare, 8));
    expectCleanFailure(heap, InvalidArgumentError, () => heap.alignedAlloc(bare, 8));
    expectCleanFailure(heap, InvalidAddressError, () => heap.free(bare));
    expectCleanFailure(heap, InvalidAddressError, () => heap.usableSize(bare));
    expectCleanFailure(heap, InvalidAddressError, () => heap.realloc(bare, 8));
    expectCleanFailure(heap, InvalidArgumentError, () => heap.createCache(bare, 8));
    expectCleanFailure(heap, InvalidArgumentError, () => heap.pages.alloc(bare));
    expectCleanFailure(heap, InvalidAddressError, () => heap.pages.free(bare));
  });

  it("cuts a long string short in the message but keeps it whole on the error", () => {
    const heap = new Heap({ bytes: 1 << 20 });
    const name = "n".repeat(100_000);
    const e = expectCleanFailure(heap, InvalidArgumentError, () => heap.createCache(name, 8));
    expect(e.message.length).toBeLessThan(SHORT);
    expect(e.message).toContain("100000 characters");
    expect(e.value).toBe(name);
  });
});
