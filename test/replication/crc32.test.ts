import { crc32 as zlibCrc32 } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { crc32 } from "../../src/replication/crc32.js";

describe("the log's CRC-32", () => {
  it("is zlib's CRC-32, so logs written with either implementation read back with the other", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 20_000 }),
        fc.nat(),
        fc.nat({ max: 7 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (bytes, cut, skew, initial) => {
          // Views at every alignment, as batch entries and recovered segments are.
          const buf = new Uint8Array(bytes.length + skew);
          buf.set(bytes, skew);
          // Never empty: every record has a payload, and Node's zlib.crc32 of no bytes ignores `initial`.
          const view = buf.subarray(skew, skew + 1 + (cut % bytes.length));
          expect(crc32(view)).toBe(zlibCrc32(view));
          expect(crc32(view, initial)).toBe(zlibCrc32(view, initial));
        },
      ),
    );
  });

  it("continues a CRC: the CRC of a header then a payload equals the CRC of both together", () => {
    const all = new Uint8Array(4096 + 16).map((_, i) => (i * 131) & 255);
    expect(crc32(all.subarray(16), crc32(all.subarray(0, 16)))).toBe(zlibCrc32(all));
  });

  it("reads a shared buffer's bytes (the pool's memory)", () => {
    const shared = new Uint8Array(new SharedArrayBuffer(4100)).map((_, i) => i & 255);
    expect(crc32(shared.subarray(3, 4099))).toBe(zlibCrc32(Uint8Array.from(shared.subarray(3, 4099))));
  });
});
