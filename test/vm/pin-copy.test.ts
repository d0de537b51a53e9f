/**
 * A pin whose frames are not adjacent in the arena hands out a copy and writes it back on
 * release(). Writing all of it back reverted every write() made to the range while the pin was
 * held, though each was acknowledged, and only when the frames happened not to be adjacent (with
 * a zero-copy pin the same writes are kept). Only the bytes the holder changed are written back.
 */
import { describe, expect, it } from "vitest";
import { AddressSpace } from "../../src/index.js";
import { MemoryStore } from "./helpers.js";

const PS = 1024;

/** A space whose pages 0 and 1 sit in frames that are not adjacent (page 1 faulted first). */
async function scattered() {
  const space = new AddressSpace({ frames: 4, pageSize: PS, policy: "lru" });
  const v = space.map({ length: 4 * PS, store: new MemoryStore(), hint: "random" });
  await space.read(v + PS, 1);
  await space.read(v + 2 * PS, 1);
  await space.read(v, 1);
  return { space, v };
}

describe("a copied pin", () => {
  it("keeps a write made to its range while held, where the holder left the bytes alone", async () => {
    const { space, v } = await scattered();
    const pin = await space.pin(v + PS - 2, 4, { owner: "reader" });
    expect(pin.zeroCopy).toBe(false);
    await space.write(v + PS - 1, new Uint8Array([42, 43]));
    pin.release();
    expect([...(await space.read(v + PS - 2, 4))]).toEqual([0, 42, 43, 0]);
    space.check();
  });

  it("writes back what the holder changed, over a write made meanwhile to the same bytes", async () => {
    const { space, v } = await scattered();
    const pin = await space.pin(v + PS - 3, 6);
    expect(pin.zeroCopy).toBe(false);
    await space.write(v + PS - 3, new Uint8Array([1, 1, 1, 1, 1, 1]));
    pin.bytes.set([7, 8], 2); // across the page boundary
    pin.release();
    expect([...(await space.read(v + PS - 3, 6))]).toEqual([1, 1, 7, 8, 1, 1]);
    await space.sync();
    space.check();
  });
});
