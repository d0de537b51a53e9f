/**
 * Where frames go when an address space ends, with I/O in flight: terminate() (the OOM killer's
 * kill, which the reclaim layer runs from inside a fault's frame gate, so faults of the killed
 * space are in flight by design) and close() after failed faults. The arena pages must all go back
 * to the page layer they came from (a shared PageAllocator here, as in the service), I/O that
 * ends after the kill installs nothing and fails with the kill's error, and stats() stays
 * consistent (nothing resident, dirty, pinned or in flight).
 */
import { describe, expect, it } from "vitest";
import { AddressSpace, MnemeError, PageAllocator } from "../../src/index.js";
import { heldHandle, MemoryStore, pattern, settle } from "./helpers.js";

const PS = 4096;

function shared() {
  const pages = new PageAllocator({ bytes: 1 << 20, pageSize: PS });
  const free = pages.stats().free;
  const space = new AddressSpace({ frames: 4, pages, policy: "lru" });
  const store = new MemoryStore();
  const v = space.map({ length: 16 * PS, store, hint: "random" });
  return { pages, free, space, store, v };
}

const killed = new MnemeError("EKILLED", "killed by the test");

function expectEmpty(space: AddressSpace): void {
  expect(space.stats()).toMatchObject({ resident: 0, dirty: 0, pinned: 0, pins: 0, inFlight: 0 });
  space.check();
}

describe("frames go back when a space ends with I/O in flight", () => {
  it("close() after a failed fault returns its frame's arena page", async () => {
    const { pages, free, space, store, v } = shared();
    store.failReads = 1;
    await expect(space.read(v, 1)).rejects.toThrow(/injected read failure/);
    await space.close();
    expect(pages.stats().free).toBe(free);
  });

  it("a fault in flight at terminate() fails with the kill's error and installs nothing", async () => {
    const { pages, free, space, store, v } = shared();
    await space.write(v + PS, pattern(PS, 1));
    store.hold();
    const reading = space.read(v, PS).then(
      () => null,
      (e: unknown) => e,
    );
    const prefetching = space.advise(v + 4 * PS, 4 * PS, "willneed").then(
      () => null,
      (e: unknown) => e,
    );
    await settle();
    space.terminate(killed);
    store.release();
    expect(await reading).toBe(killed);
    expect(await prefetching).toBe(killed);
    await settle();
    expectEmpty(space);
    expect(pages.stats().free).toBe(free);
  });

  it("an eviction's writeback that fails after terminate() puts nothing back", async () => {
    const { pages, free, space, store, v } = shared();
    for (let p = 0; p < 4; p++) await space.write(v + p * PS, pattern(PS, p + 1)); // 4 dirty frames
    store.failWrites = 1;
    const faulting = space.read(v + 8 * PS, 1).then(
      () => null,
      (e: unknown) => e,
    ); // a dirty victim is being written
    space.terminate(killed);
    expect(await faulting).toBe(killed);
    await settle();
    expectEmpty(space);
    expect(pages.stats().free).toBe(free);
  });

  it("a fault whose victim's writeback ends after terminate() reads nothing from the closed store", async () => {
    const { pages, free, space, store, v } = shared();
    for (let p = 0; p < 4; p++) await space.write(v + p * PS, pattern(PS, p + 1));
    const reads = store.reads;
    const faulting = space.read(v + 8 * PS, 1).catch((e: unknown) => e); // writes a dirty victim first
    space.terminate(killed);
    expect(await faulting).toBe(killed);
    expect(store.reads).toBe(reads);
    await settle();
    expectEmpty(space);
    expect(pages.stats().free).toBe(free);
  });

  it("a sync's write, a gather's ref and a pin in flight at terminate() leave nothing behind", async () => {
    const { pages, free, space, store, v } = shared();
    await space.write(v, pattern(PS, 1));
    await space.write(v + PS, pattern(PS, 2));
    const held = heldHandle();
    const gathering = space.gather(v + PS, PS, held.handle).catch((e: unknown) => e);
    store.failWrites = 1; // the sync's write fails after the kill
    const syncing = space.sync(v, PS).catch((e: unknown) => e);
    store.hold();
    const pinning = space.pin(v + 2 * PS, 2 * PS).catch((e: unknown) => e);
    await settle();
    space.terminate(killed);
    held.finish();
    store.release();
    await Promise.all([gathering, syncing]);
    expect(await pinning).toBe(killed);
    await settle();
    expectEmpty(space);
    expect(pages.stats().free).toBe(free);
  });

  it("releasing a copied pin after terminate() writes nothing into frames the page layer gave to another space", async () => {
    const { pages, space, v } = shared();
    await space.read(v + PS, 1); // page 1 first: the two frames are not adjacent, so the pin copies
    await space.read(v, 1);
    const pin = await space.pin(v, 2 * PS, { owner: "late", write: true });
    expect(pin.zeroCopy).toBe(false);
    space.terminate(killed);
    const other = new AddressSpace({ frames: 4, pages, policy: "lru" });
    const w = other.map({ length: 4 * PS, store: new MemoryStore("other") });
    for (let p = 0; p < 4; p++) await other.write(w + p * PS, pattern(PS, 40 + p)); // reuses the freed pages
    pin.bytes.fill(0xaa);
    pin.release();
    for (let p = 0; p < 4; p++) expect(await other.read(w + p * PS, PS)).toEqual(pattern(PS, 40 + p));
    other.check();
    await other.close();
  });

  it("a frame whose write is in flight at terminate() goes back only once the write is done", async () => {
    const { pages, free, space, store, v } = shared();
    await space.write(v, pattern(PS, 5));
    // A handle that takes the bytes when its write completes, as an asynchronous file write does.
    const out = new Uint8Array(PS);
    const done: (() => void)[] = [];
    const late = {
      read: async () => ({ bytesRead: 0 }),
      write: (b: Uint8Array, o: number, length: number, position: number) =>
        new Promise<{ bytesWritten: number }>((resolve) => {
          done.push(() => {
            out.set(b.subarray(o, o + length), position);
            resolve({ bytesWritten: length });
          });
        }),
    };
    const gathering = space.gather(v, PS, late).catch((e: unknown) => e);
    await settle();
    space.terminate(killed);
    const other = new AddressSpace({ frames: 4, pages, policy: "lru" });
    const w = other.map({ length: 4 * PS, store: new MemoryStore("other") });
    for (let p = 0; p < 4; p++) await other.write(w + p * PS, pattern(PS, 50 + p)); // takes any freed page
    for (const d of done.splice(0)) d();
    await gathering;
    expect(out).toEqual(pattern(PS, 5)); // not another space's bytes
    await other.close();
    await settle();
    expectEmpty(space);
    expect(pages.stats().free).toBe(free);
    expect(store.reads).toBe(0);
  });
});
