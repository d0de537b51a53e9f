/**
 * copyBytes: the same result as dst.set(src, at) for every mix of shared and unshared buffers,
 * alignments and lengths (staged or not, one chunk or several), and nothing outside the range.
 * fillBytes: the same result as view.fill(value, from, to).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../src/index.js";
import { copyBytes, fillBytes } from "../../src/util/shared-bytes.js";

function buffer(shared: boolean, bytes: number): Uint8Array {
  const b = new Uint8Array(shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  for (let i = 0; i < bytes; i++) b[i] = (i * 131 + 7) & 0xff;
  return b;
}

describe("copyBytes", () => {
  it("equals TypedArray.set for any shared/unshared mix, alignment and length", () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 0, max: 23 }),
        fc.integer({ min: 0, max: 23 }),
        fc.integer({ min: 0, max: 23 }),
        fc.oneof(fc.integer({ min: 0, max: 600 }), fc.integer({ min: 60_000, max: 140_000 })),
        (srcShared, dstShared, srcOff, dstOff, at, length) => {
          const src = buffer(srcShared, srcOff + length + 8).subarray(srcOff, srcOff + length);
          for (let i = 0; i < length; i++) src[i] = (i * 7 + 3) & 0xff;
          const size = dstOff + at + length + 16;
          const dst = buffer(dstShared, size).subarray(dstOff);
          const want = buffer(false, size).subarray(dstOff);
          want.set(src, at);
          copyBytes(dst, at, src);
          expect(Buffer.compare(Buffer.from(dst), Buffer.from(want))).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("refuses bad arguments with InvalidArgumentError before writing anything", () => {
    const dst = buffer(true, 100_000);
    const before = Buffer.from(dst);
    const src = buffer(false, 90_000).subarray(3);
    const bad: [Uint8Array, number, Uint8Array][] = [
      [dst, 20_000, src],
      [dst, -1, src.subarray(0, 10)],
      [dst, 0.5, src.subarray(0, 10)],
      [dst, Number.NaN, src.subarray(0, 10)],
      [dst, 0, [1, 2, 3] as unknown as Uint8Array],
      [new Float64Array(8) as unknown as Uint8Array, 0, src.subarray(0, 10)],
    ];
    for (const [d, at, s] of bad) {
      expect(() => copyBytes(d, at, s)).toThrow(InvalidArgumentError);
      expect(Buffer.compare(Buffer.from(dst), before)).toBe(0);
    }
  });

  it("copies within one shared buffer (source and destination may not overlap, as with set)", () => {
    const b = buffer(true, 10_000);
    const want = Buffer.from(b);
    want.copy(want, 5003, 1, 4097);
    copyBytes(b, 5003, b.subarray(1, 4097));
    expect(Buffer.compare(Buffer.from(b), want)).toBe(0);
  });

  it("copies overlapping ranges of one shared buffer as set does, past one stage (64 KiB) too", () => {
    // Regression (fixed): a misaligned copy goes through the stage 64 KiB at a time, front to back,
    // so with the destination a few bytes after the source each stage after the first read bytes
    // the one before had already overwritten.
    for (const n of [300, 70_000, 200_000]) {
      for (const shift of [-65_537, -9, 3, 9, 65_537]) {
        const b = buffer(true, 600_000);
        const want = Buffer.from(b);
        const from = 200_000;
        want.copy(want, from + shift, from, from + n);
        copyBytes(b, from + shift, b.subarray(from, from + n));
        expect(Buffer.compare(Buffer.from(b), want), `${n} bytes moved by ${shift}`).toBe(0);
      }
    }
  });
});

describe("fillBytes", () => {
  it("equals TypedArray.fill for any buffer, range and value", () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.integer({ min: 0, max: 23 }),
        fc.integer({ min: -30, max: 9000 }),
        fc.integer({ min: -30, max: 9000 }),
        fc.constantFrom(0, 0x4b, 0xff, 300, -1, 1.5),
        (shared, off, from, to, value) => {
          const size = 9000;
          const view = buffer(shared, off + size).subarray(off);
          const want = buffer(false, off + size).subarray(off);
          want.fill(value, from, to);
          fillBytes(view, value, from, to);
          expect(Buffer.compare(Buffer.from(view), Buffer.from(want))).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("converts fractional indices as fill does", () => {
    // Regression (fixed): on a shared buffer the word fill took a fractional start or end as it
    // came, so bytes at either end of the range differed from fill's (which truncates first).
    const cases: Array<[number, number, number, number]> = [
      // [view offset, from, to, value]
      [15, 248.7065, 318, 0],
      [11, 56.7357, 169, 256],
      [13, 24.5867, 89.5198, 255],
      [11, 8.5008, 185.3596, -1],
      [10, 27.9556, 138.5652, 0x4b],
    ];
    for (const [off, from, to, value] of cases) {
      const view = buffer(true, off + 400).subarray(off);
      const want = buffer(false, off + 400).subarray(off);
      want.fill(value, from, to);
      fillBytes(view, value, from, to);
      expect(Buffer.compare(Buffer.from(view), Buffer.from(want)), `${from}..${to} at +${off}`).toBe(0);
    }
  });

  it("refuses anything but a Uint8Array with InvalidArgumentError", () => {
    for (const bad of [null, [0, 0, 0], new Int32Array(4)])
      expect(() => fillBytes(bad as unknown as Uint8Array, 0)).toThrow(InvalidArgumentError);
  });
});
