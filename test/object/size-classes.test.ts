/**
 * kmalloc size classes and slab geometry, exhaustively (in the spirit of jemalloc's
 * test/unit/sz.c): every request size from 1 to 8192 and every class on every page size, checked
 * against properties derived from first principles rather than against the lookup tables.
 */
import { describe, expect, it } from "vitest";
import { Heap, InvalidArgumentError } from "../../src/index.js";
import { SIZEOF_SLAB_HEADER } from "../../src/object/layout.js";
import { CLASS_SIZES, MAX_CLASS_SIZE, sizeClass, slabGeometry } from "../../src/object/size-classes.js";

const MAX = 8192;

describe("size classes", () => {
  it("are strictly increasing multiples of 8 and end at 8 KiB", () => {
    expect(CLASS_SIZES[0]).toBe(8);
    expect(MAX_CLASS_SIZE).toBe(MAX);
    expect(CLASS_SIZES[CLASS_SIZES.length - 1]).toBe(MAX);
    for (let i = 0; i < CLASS_SIZES.length; i++) {
      // Multiples of 8 make every kmalloc object 8-byte aligned (a Float64Array view fits anywhere).
      expect(CLASS_SIZES[i] % 8, `class ${CLASS_SIZES[i]}`).toBe(0);
      if (i > 0) expect(CLASS_SIZES[i]).toBeGreaterThan(CLASS_SIZES[i - 1]);
    }
  });

  it("include the Linux kmalloc classes a caller would expect (8..64 and every power of two)", () => {
    for (let s = 8; s <= MAX; s *= 2) expect(CLASS_SIZES).toContain(s);
    for (const s of [96, 192]) expect(CLASS_SIZES).toContain(s);
  });

  it("map every size 1..8192 to the smallest class that holds it", () => {
    for (let size = 1; size <= MAX; size++) {
      const c = sizeClass(size);
      const slot = CLASS_SIZES[c];
      if (slot < size || (c > 0 && CLASS_SIZES[c - 1] >= size)) {
        // One expect per size would cost seconds; report the first offender only.
        expect({ size, class: slot, below: CLASS_SIZES[c - 1] }).toBe("smallest class >= size");
      }
    }
  });

  it("waste at most a quarter of the slot above 64 bytes, and less than 8 bytes up to 64", () => {
    let worst = 0;
    for (let size = 1; size <= MAX; size++) {
      const slot = CLASS_SIZES[sizeClass(size)];
      if (size <= 64) expect(slot - size).toBeLessThan(8);
      else worst = Math.max(worst, (slot - size) / slot);
    }
    expect(worst).toBeLessThanOrEqual(0.25);
  });

  it("are what malloc actually hands out: usableSize(malloc(size)) is the class of size", () => {
    // Checks the inlined fast path (sizes <= 1024) and the slow path against sizeClass.
    const heap = new Heap({ bytes: 48 << 20 });
    for (let size = 1; size <= MAX; size++) {
      const a = heap.malloc(size);
      const usable = heap.usableSize(a);
      if (usable !== CLASS_SIZES[sizeClass(size)] || a % 8 !== 0) {
        expect({ size, usable, address: a }).toBe(`class ${CLASS_SIZES[sizeClass(size)]}, 8-aligned`);
      }
      heap.free(a);
    }
    heap.check();
  });
});

describe("slab geometry", () => {
  const pageSizes = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];

  it("fits header, bitmap and objects in the slab for every class, page size and debug stride", () => {
    for (const ps of pageSizes) {
      for (const size of CLASS_SIZES) {
        // The debug stride adds an 8-byte red zone; aligned kmalloc caches use larger alignments.
        for (const [stride, align] of [
          [size, 8],
          [size + 8, 8],
          [Math.ceil(size / 64) * 64, 64],
        ]) {
          const where = `stride ${stride} align ${align} page ${ps}`;
          // With small pages the largest classes cannot fit twice in a 32-page slab; the heap then
          // serves those sizes from whole pages, and slabGeometry says so with a typed error.
          if (2 * stride + SIZEOF_SLAB_HEADER + 8 > ps * 32) {
            expect(() => slabGeometry(stride, align, ps, 10), where).toThrow(InvalidArgumentError);
            continue;
          }
          const g = slabGeometry(stride, align, ps, 10);
          const slabBytes = ps * 2 ** g.order;
          expect(g.perSlab, where).toBeGreaterThanOrEqual(2);
          expect(g.order, where).toBeLessThanOrEqual(5);
          expect(g.bitmapWords, where).toBe(Math.ceil(g.perSlab / 32));
          // The bitmap follows the header; objects start after both, aligned.
          expect(g.dataOffset, where).toBeGreaterThanOrEqual(SIZEOF_SLAB_HEADER + 4 * g.bitmapWords);
          expect(g.dataOffset % align, where).toBe(0);
          expect(g.dataOffset + g.perSlab * stride, where).toBeLessThanOrEqual(slabBytes);
          // No room was left for one more object (with its bitmap bit): the fit is tight.
          const more = g.perSlab + 1;
          const moreOffset = Math.ceil((SIZEOF_SLAB_HEADER + 4 * Math.ceil(more / 32)) / align) * align;
          expect(moreOffset + more * stride, where).toBeGreaterThan(slabBytes);
        }
      }
    }
  });

  it("gives the seed's example: 34 objects of 117 bytes on one 4096-byte page", () => {
    const g = slabGeometry(117, 1, 4096, 10);
    expect(g).toEqual({ order: 0, perSlab: 34, dataOffset: 32, bitmapWords: 2 });
  });

  it("gives every class first slabs wasting at most 1/4 in header and tail, one page up to 1 KiB, on 4 KiB pages", () => {
    // A cache's first slabs are small (a small heap holds a few objects per class); the slabs of a
    // cache that grows waste far less (grownOrder, test/object/footprint.test.ts).
    for (const size of CLASS_SIZES) {
      const g = slabGeometry(size, 8, 4096, 10);
      const slabBytes = 4096 * 2 ** g.order;
      expect((slabBytes - g.perSlab * size) / slabBytes, `class ${size}`).toBeLessThanOrEqual(1 / 4);
      if (size <= 1024) expect(g.order, `class ${size}`).toBe(0);
    }
  });
});
