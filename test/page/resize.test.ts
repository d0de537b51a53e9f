import { describe, expect, it } from "vitest";
import { InvalidAddressError, InvalidArgumentError, PageAllocator } from "../../src/index.js";

const PS = 4096;

describe("PageAllocator.resize (in-place growth and shrink, used by realloc)", () => {
  it("shrinks in place and returns the tail to the free lists", () => {
    const p = new PageAllocator({ bytes: 64 * PS, hotPages: 0 });
    const free0 = p.stats().free;
    const a = p.alloc(8 * PS);
    expect(p.resize(a, 3 * PS)).toBe(true);
    expect(p.sizeOf(a)).toBe(3 * PS);
    expect(p.stats().free).toBe(free0 - 3 * PS);
    p.check();
    expect(p.resize(a, 1)).toBe(true);
    expect(p.sizeOf(a)).toBe(PS);
    p.free(a);
    p.check();
    expect(p.stats().free).toBe(free0);
  });

  it("grows in place into the free pages right after the allocation", () => {
    const p = new PageAllocator({ bytes: 64 * PS, hotPages: 0 });
    const a = p.alloc(3 * PS);
    expect(p.resize(a, 7 * PS)).toBe(true);
    expect(p.sizeOf(a)).toBe(7 * PS);
    p.check();
    p.memory.fill(9, a, a + 7 * PS);
    p.free(a);
    p.check();
  });

  it("refuses to grow over a live neighbour and changes nothing", () => {
    const p = new PageAllocator({ bytes: 64 * PS, hotPages: 0 });
    const a = p.alloc(2 * PS);
    const b = p.alloc(2 * PS);
    expect(b).toBe(a + 2 * PS);
    const before = JSON.stringify(p.stats());
    const bytes = p.memory.slice();
    expect(p.resize(a, 3 * PS)).toBe(false);
    expect(JSON.stringify(p.stats())).toBe(before);
    expect(p.memory).toEqual(bytes);
    p.check();
  });

  it("grows through pages parked on the hot stack", () => {
    const p = new PageAllocator({ bytes: 256 * PS, hotPages: 8 });
    const a = p.alloc(PS);
    const b = p.alloc(PS);
    expect(b).toBe(a + PS);
    p.free(b); // parked on the hot stack, not on a free list
    expect(p.resize(a, 2 * PS)).toBe(true);
    expect(p.sizeOf(a)).toBe(2 * PS);
    p.check();
  });

  it("validates its arguments", () => {
    const p = new PageAllocator({ bytes: 64 * PS });
    const a = p.alloc(PS);
    expect(() => p.resize(a, 0)).toThrow(InvalidArgumentError);
    expect(() => p.resize(a, Number.NaN)).toThrow(InvalidArgumentError);
    expect(() => p.resize(a + 1, PS)).toThrow(InvalidAddressError);
    p.free(a);
    expect(() => p.resize(a, PS)).toThrow(InvalidAddressError);
    p.check();
  });
});
