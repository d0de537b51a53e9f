/**
 * A pin in flight (its pages faulting in one after another) against the calls that drop pages:
 * advise(dontneed) and unmap. Both refuse pinned pages (EBUSY) by the pins they can see when they
 * begin, but a multi-page pin takes its pages across awaits, so a drop that began earlier reaches
 * a page the pin has taken meanwhile. A dropped pinned frame goes back to the page layer while the
 * pin's view still points into it, and release() then unpins a slot some other page may hold.
 */
import { describe, expect, it } from "vitest";
import { AddressSpace, InvalidAddressError } from "../../src/index.js";
import { heldHandle, MemoryStore, pattern, settle } from "./helpers.js";

const PS = 512;

describe("a pin in flight against dontneed and unmap", () => {
  it("dontneed does not drop a page that a pin begun after it has taken", async () => {
    const space = new AddressSpace({ frames: 8, pageSize: PS, policy: "lru" });
    const store = new MemoryStore();
    store.data.set(0, pattern(PS, 1));
    store.data.set(PS, pattern(PS, 2));
    const v = space.map({ length: 2 * PS, store });
    await space.read(v, 1); // page 0 resident
    store.hold(); // page 1's read waits: the pin holds page 0 meanwhile
    const pinning = space.pin(v, 2 * PS, { owner: "racer", write: false });
    await settle();
    // The pin has page 0 pinned and waits for page 1; its record is not there yet.
    const dropping = space.advise(v, PS, "dontneed");
    const dropped = await dropping.then(
      () => null,
      (e: unknown) => e,
    );
    store.release();
    const pin = await pinning;
    // Either dontneed saw the pin (EBUSY) or the pin was not hurt: its page is still resident.
    if (dropped !== null) {
      expect(dropped).toBeInstanceOf(InvalidAddressError);
      expect((dropped as InvalidAddressError).code).toBe("EBUSY");
    }
    expect(space.stats().pinned).toBe(2);
    expect(pin.pages[0]).toEqual(pattern(PS, 1));
    space.check();
    pin.release();
    space.check();
    expect(space.stats().pinned).toBe(0);
    await space.close();
  });

  it("dontneed begun before a pin does not drop the page the pin takes while it waits", async () => {
    const space = new AddressSpace({ frames: 8, pageSize: PS, policy: "lru" });
    const store = new MemoryStore();
    const v = space.map({ length: PS, store });
    await space.write(v, pattern(PS, 3));
    const held = heldHandle();
    const gathering = space.gather(v, PS, held.handle); // a transient ref dontneed must wait for
    await settle();
    const dropping = space.advise(v, PS, "dontneed").then(
      () => null,
      (e: unknown) => e,
    );
    await settle();
    const pin = await space.pin(v, PS, { owner: "late", write: false });
    held.finish();
    await gathering;
    const dropped = await dropping;
    expect(dropped).toBeInstanceOf(InvalidAddressError);
    expect((dropped as InvalidAddressError).code).toBe("EBUSY");
    expect(space.stats()).toMatchObject({ resident: 1, pinned: 1, pins: 1 });
    expect(pin.bytes).toEqual(pattern(PS, 3));
    space.check();
    pin.release();
    await space.advise(v, PS, "dontneed");
    expect(space.stats()).toMatchObject({ resident: 0, pinned: 0, dirty: 0 });
    expect(await space.read(v, PS)).toEqual(pattern(PS, 3));
    await space.close();
  });

  it("dontneed through one mapping refuses a page pinned through another mapping of the store", async () => {
    const space = new AddressSpace({ frames: 8, pageSize: PS, policy: "lru" });
    const store = new MemoryStore();
    const a = space.map({ length: PS, store });
    const b = space.map({ length: PS, store });
    const pin = await space.pin(b, PS, { owner: "alias" });
    pin.bytes.set(pattern(PS, 4));
    const e = await space.advise(a, PS, "dontneed").then(
      () => null,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(InvalidAddressError);
    expect((e as InvalidAddressError).code).toBe("EBUSY");
    expect(space.stats()).toMatchObject({ resident: 1, pinned: 1 });
    space.check();
    pin.release();
    expect(await space.read(a, PS)).toEqual(pattern(PS, 4));
    await space.close();
  });

  it("unmap while a pin of the mapping is faulting refuses with EBUSY; the pin completes", async () => {
    const space = new AddressSpace({ frames: 8, pageSize: PS, policy: "lru" });
    const store = new MemoryStore();
    const v = space.map({ length: 3 * PS, store });
    store.hold(); // page 0's read waits
    const pinning = space.pin(v, 3 * PS, { owner: "racer" });
    await settle();
    const refused = await space.unmap(v).then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(InvalidAddressError);
    expect((refused as InvalidAddressError).code).toBe("EBUSY");
    store.release();
    const pin = await pinning;
    expect(space.stats()).toMatchObject({ resident: 3, pinned: 3, pins: 1, mappings: 1 });
    space.check();
    pin.release();
    await space.unmap(v);
    expect(space.stats()).toMatchObject({ resident: 0, pinned: 0, pins: 0, mappings: 0, dirty: 0 });
    space.check();
    await space.close();
  });

  it("close() refused for a pin (one still faulting, too) runs no close hook", async () => {
    const space = new AddressSpace({ frames: 8, pageSize: PS, policy: "lru" });
    const store = new MemoryStore();
    const v = space.map({ length: 2 * PS, store });
    let hooks = 0;
    space.onClose(() => hooks++);
    store.hold();
    const pinning = space.pin(v, 2 * PS, { owner: "late" });
    await settle();
    await expect(space.close()).rejects.toMatchObject({ code: "EBUSY" });
    expect(hooks).toBe(0);
    store.release();
    (await pinning).release();
    await space.close();
    expect(hooks).toBe(1);
  });

  it("a pin that fails while faulting leaves no record behind", async () => {
    const space = new AddressSpace({ frames: 8, pageSize: PS, policy: "lru" });
    const store = new MemoryStore();
    const v = space.map({ length: 2 * PS, store });
    await space.read(v, 1);
    store.failReads = 1; // page 1's read fails
    await expect(space.pin(v, 2 * PS)).rejects.toThrow(/injected read failure/);
    expect(space.stats()).toMatchObject({ pinned: 0, pins: 0 });
    space.check();
    await space.unmap(v); // nothing left in the way
    await space.close();
  });
});
