/**
 * read() into, and write() from, a view of the space's own frames (a pin's views, zero-copy by
 * design) where source and destination overlap across a page boundary. Both copy page by page, and
 * the second page's part read bytes the first page's copy had already overwritten: a write of a
 * page's bytes 5 bytes further on left 5 wrong bytes. They now copy through a buffer of their own
 * when the caller's array lies in the frames (memmove semantics, as the object layer's vwrite).
 */
import { describe, expect, it } from "vitest";
import { AddressSpace, Mempool } from "../../src/index.js";
import { MemoryStore } from "./helpers.js";

const PS = 512;

function counting(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 7 + 3) & 0xff;
  return out;
}

for (const frames of ["page layer", "pool"] as const) {
  describe(`views of the frames (${frames})`, () => {
    const make = () => {
      const pool = frames === "pool" ? Mempool.create(1 << 20, { pageSize: PS }) : undefined;
      return new AddressSpace({ frames: 8, pageSize: PS, policy: "lru", ...(pool ? { pool } : {}) });
    };

    it("write() from a pin's view to a range overlapping it across a page boundary", async () => {
      const space = make();
      const v = space.map({ length: 4 * PS, store: new MemoryStore() });
      const data = counting(4 * PS);
      await space.write(v, data);
      const pin = await space.pin(v, 2 * PS, { owner: "source" });
      await space.write(v + 5, pin.pages[0]);
      pin.release();
      const want = data.slice();
      want.copyWithin(5, 0, PS);
      expect(await space.read(v, 4 * PS)).toEqual(want);
      space.check();
      await space.close();
    });

    it("read() into a pin's view overlapping the range read, across a page boundary", async () => {
      const space = make();
      const v = space.map({ length: 4 * PS, store: new MemoryStore() });
      const data = counting(4 * PS);
      await space.write(v, data);
      const pin = await space.pin(v + PS, 16, { owner: "target" });
      // Bytes PS-3 .. PS+5 into the view of PS .. PS+16.
      const got = await space.read(v + PS - 3, 8, pin.bytes);
      expect(got).toBe(pin.bytes);
      expect(Array.from(got.subarray(0, 8))).toEqual(Array.from(data.subarray(PS - 3, PS + 5)));
      pin.release();
      space.check();
      await space.close();
    });
  });
}
