/**
 * A write that fails partway, as AddressSpace.write documents: the pages before the failing one
 * are written (as write(2) may leave them), the failing page and those after it keep their bytes,
 * nothing is left half-installed, and the same write succeeds once the store does.
 */
import { describe, expect, it } from "vitest";
import { AddressSpace, StoreError } from "../../src/index.js";
import { MemoryStore } from "./helpers.js";

const PS = 512;

describe("a write that fails partway", () => {
  it("has written the pages before the failing one and no other", async () => {
    const store = new MemoryStore();
    const space = new AddressSpace({ frames: 4, pageSize: PS, policy: "lru" });
    const v = space.map({ length: 4 * PS, store, hint: "random" });
    await space.write(v, new Uint8Array(4 * PS).fill(1));
    await space.sync();
    await space.advise(v, 4 * PS, "dontneed");
    // Pages 0 and 1 are overwritten whole (never read); page 2 is partial, so it is read: that fails.
    store.failReads = 1;
    const bytes = new Uint8Array(2 * PS + 10).fill(9);
    await expect(space.write(v, bytes)).rejects.toBeInstanceOf(StoreError);
    space.check();
    expect(space.stats()).toMatchObject({ inFlight: 0, dirty: 2 });
    const now = await space.read(v, 4 * PS);
    expect(now.subarray(0, 2 * PS).every((b) => b === 9)).toBe(true);
    expect(now.subarray(2 * PS).every((b) => b === 1)).toBe(true);
    await space.write(v, bytes);
    expect((await space.read(v, 2 * PS + 11)).subarray(2 * PS)).toEqual(
      new Uint8Array([...Array(10).fill(9), 1]),
    );
    await space.close();
  });
});
