/**
 * vread and vwrite at the edges: a length far beyond the area was a bare RangeError from the
 * Uint8Array constructor (the buffer was made before the range was checked), and a vwrite whose
 * source is a view of the area's own pages (heap.memory.subarray) copied page by page from bytes
 * it had already overwritten, where memmove semantics are expected.
 */
import { describe, expect, it } from "vitest";
import { Heap, InvalidAddressError, InvalidArgumentError } from "../../src/index.js";
import { expectCleanFailure } from "./helpers.js";

const PS = 4096;

describe("vread and vwrite", () => {
  it("a length past the area is InvalidArgumentError whatever its size, changing nothing", () => {
    const heap = new Heap({ bytes: 1 << 20 });
    const v = heap.vmalloc(5000);
    for (const length of [5001, 2 ** 32, 2 ** 40, 2 ** 53 - 1]) {
      expectCleanFailure(heap, InvalidArgumentError, () => heap.vread(v, length), `vread(v, ${length})`);
      expectCleanFailure(
        heap,
        InvalidArgumentError,
        () => heap.vread(v + 4999, length),
        `vread(v+4999, ${length})`,
      );
    }
  });

  it("a source that aliases the area's own pages is copied as memmove would, across page boundaries", () => {
    const heap = new Heap({ bytes: 1 << 20 });
    const v = heap.vmalloc(3 * PS);
    const model = new Uint8Array(3 * PS).map((_, i) => (i * 31 + 7) & 0xff);
    heap.vwrite(v, model);
    // Each case: the source is the arena bytes behind [from, from + n) of the area (inside one
    // page, the only way a view of the arena is contiguous there), the destination overlaps it.
    for (const [from, n, to] of [
      [PS - 50, 50, PS - 30],
      [PS - 50, 50, PS - 70],
      [2 * PS - 100, 100, 2 * PS - 1],
      [PS, PS, PS + 1],
      [PS + 10, PS - 10, 10],
    ]) {
      const at = heap.vtranslate(v + from);
      const source = heap.memory.subarray(at, at + n);
      expect(heap.vwrite(v + to, source)).toBe(n);
      model.copyWithin(to, from, from + n);
      const got = heap.vread(v, 3 * PS);
      const bad = got.findIndex((b, i) => b !== model[i]);
      expect(bad, `vwrite(v + ${to}, view of v + ${from}..+${n}): first wrong byte`).toBe(-1);
    }
    heap.check();
  });
});

describe("a vmalloc address at the arena's doors", () => {
  it("free, usableSize and realloc refuse it by name, pointing at vfree, changing nothing", () => {
    const heap = new Heap({ bytes: 1 << 20 });
    const v = heap.vmalloc(5000);
    for (const [label, fn] of [
      ["free", () => heap.free(v)],
      ["usableSize", () => heap.usableSize(v)],
      ["realloc", () => heap.realloc(v, 8)],
      ["free of an interior", () => heap.free(v + 4096)],
    ] as const) {
      const e = expectCleanFailure(heap, InvalidAddressError, fn, label);
      expect(e.message, label).toMatch(/vmalloc address \(use vfree/);
    }
    // An address past the arena that is not a vmalloc one is still just outside the arena.
    expect(expectCleanFailure(heap, InvalidAddressError, () => heap.free(2 ** 40)).message).toMatch(
      /outside the arena/,
    );
  });
});
