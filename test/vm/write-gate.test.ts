/**
 * write() awaits the write gate (the reclaim layer's throttle, which may run a synchronous flush)
 * before it dirties anything. It used to validate the address and the mapping only after the
 * gate, so a write to a bad address, past a mapping's end or to a read-only mapping set off the
 * throttle, and its flush, before failing. Bad calls now fail first, and change nothing.
 */
import { describe, expect, it } from "vitest";
import { AddressSpace, InvalidAddressError, InvalidArgumentError } from "../../src/index.js";
import { MemoryStore } from "./helpers.js";

const PS = 512;

describe("write() and the write gate", () => {
  it("a bad write fails before the gate runs", async () => {
    const space = new AddressSpace({ frames: 4, pageSize: PS });
    const store = new MemoryStore();
    const v = space.map({ length: 3 * PS - 7, store });
    const ro = space.map({ length: PS, store: new MemoryStore("ro"), writable: false });
    let gated = 0;
    space.writeGate = async () => {
      gated++;
      await space.writeback(Number.POSITIVE_INFINITY); // what a throttle does
    };
    await space.write(v, new Uint8Array([1]));
    expect(gated).toBe(1);
    expect(store.writes).toBe(0);
    await space.write(v + 1, new Uint8Array([2])); // dirties page 0 again after the gate's flush
    const bad: Array<[unknown, () => Promise<void>]> = [
      [InvalidAddressError, () => space.write(v + 3 * PS - 7, new Uint8Array([1]))],
      [InvalidAddressError, () => space.write(v + 3 * PS - 8, new Uint8Array([1, 2]))],
      [InvalidAddressError, () => space.write(ro, new Uint8Array([1]))],
      [InvalidArgumentError, () => space.write(-1, new Uint8Array([1]))],
      [InvalidArgumentError, () => space.write(v, new Uint8Array(0))],
    ];
    for (const [cls, call] of bad) await expect(call()).rejects.toBeInstanceOf(cls);
    expect(gated).toBe(2);
    expect(store.writes).toBe(1);
    expect(space.stats().dirty).toBe(1);
  });

  it("a mapping removed while the write waits at the gate fails the write", async () => {
    const space = new AddressSpace({ frames: 4, pageSize: PS });
    const v = space.map({ length: PS, store: new MemoryStore() });
    let open: () => void = () => {};
    space.writeGate = () => new Promise<void>((resolve) => (open = resolve));
    const writing = space.write(v, new Uint8Array([1]));
    await space.unmap(v);
    open();
    await expect(writing).rejects.toBeInstanceOf(InvalidAddressError);
    expect(space.stats()).toMatchObject({ resident: 0, dirty: 0 });
  });
});
