/**
 * The address space through its public API: mapping, reading and writing across evictions,
 * every bad input (typed error, nothing changed), pins and the all-pinned failure, peek, sync,
 * the container operations, and the fault path's guarantees (shared reads, clean store failures).
 */
import { existsSync } from "node:fs";
import { open, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  AddressSpace,
  AnonymousStore,
  DoubleFreeError,
  FileStore,
  InvalidAddressError,
  InvalidArgumentError,
  MnemeError,
  OutOfMemoryError,
  PageAllocator,
  StoreError,
} from "../../src/index.js";
import { expectCleanRejection, heldHandle, MemoryStore, pattern, settle, tempDir } from "./helpers.js";

const PS = 4096;
const tmp = tempDir();
afterAll(() => tmp.remove());

describe("mapping and access", () => {
  it("reads back what was written, across evictions, in every store kind", async () => {
    const space = new AddressSpace({ frames: 4 });
    const stores = [
      new AnonymousStore({ swap: join(tmp.path, "basic.swap") }),
      new FileStore(join(tmp.path, "basic.dat")),
      new MemoryStore(),
    ];
    for (const store of stores) {
      const v = space.map({ length: 20 * PS + 100, store });
      for (let p = 0; p < 21; p++) await space.write(v + p * PS + 7, pattern(50, p));
      for (let p = 0; p < 21; p++) expect(await space.read(v + p * PS + 7, 50)).toEqual(pattern(50, p));
      space.check();
    }
    const s = space.stats();
    expect(s.evictions).toBeGreaterThan(0);
    expect(s.writebacks).toBeGreaterThan(0);
    expect(s.resident).toBeLessThanOrEqual(4);
    await space.close();
    for (const st of stores) await st.close();
  });

  it("hands out page-aligned addresses, never 0, with a guard page between mappings", () => {
    const space = new AddressSpace({ frames: 2 });
    const a = space.map({ length: 1, store: new MemoryStore() });
    const b = space.map({ length: PS + 1, store: new MemoryStore() });
    expect(a).toBeGreaterThan(0);
    expect(a % PS).toBe(0);
    expect(b).toBe(a + 2 * PS);
    expect(space.stats().mappings).toBe(2);
  });

  it("reads a file shorter than the mapping as zeros past its end and grows it only as far as written", async () => {
    const path = join(tmp.path, "short.dat");
    await writeFile(path, Buffer.from("hello"));
    const store = new FileStore(path);
    const space = new AddressSpace({ frames: 2 });
    const v = space.map({ length: 3 * PS, store });
    const head = await space.read(v, 10);
    expect(Buffer.from(head.subarray(0, 5)).toString()).toBe("hello");
    expect([...head.subarray(5)]).toEqual([0, 0, 0, 0, 0]);
    await space.write(v + PS + 10, new Uint8Array([1, 2, 3]));
    await space.sync();
    const data = await readFile(path);
    expect(data.length).toBe(PS + 13);
    expect([...data.subarray(PS + 10)]).toEqual([1, 2, 3]);
    await space.close();
    await store.close();
  });

  it("refuses every call after close() with code ECLOSED", async () => {
    const space = new AddressSpace({ frames: 2 });
    const v = space.map({ length: PS, store: new MemoryStore() });
    await space.close();
    await expect(space.read(v, 1)).rejects.toMatchObject({ code: "ECLOSED" });
    expect(() => space.map({ length: PS, store: new MemoryStore() })).toThrow(MnemeError);
    await space.close(); // idempotent
  });

  it("creates its own PageAllocator sized for the frames, or takes frames from a given one", async () => {
    const own = new AddressSpace({ frames: 16 });
    expect(own.pages?.capacity).toBeGreaterThanOrEqual(16 * PS);
    const pages = new PageAllocator({ bytes: 1 << 20 });
    const before = pages.stats().free;
    const space = new AddressSpace({ frames: 8, pages });
    const v = space.map({ length: 16 * PS, store: new MemoryStore() });
    for (let p = 0; p < 16; p++) await space.write(v + p * PS, new Uint8Array([p]));
    expect(pages.stats().free).toBe(before - 8 * PS);
    await space.close();
    expect(pages.stats().free).toBe(before);
    pages.check();
  });
});

describe("bad input: typed errors and nothing changed", () => {
  async function scene() {
    const space = new AddressSpace({ frames: 3 });
    const store = new MemoryStore();
    const v = space.map({ length: 4 * PS, store });
    const ro = space.map({ length: PS, store: new MemoryStore(), writable: false });
    await space.write(v, pattern(100, 1));
    await space.write(v + 3 * PS, pattern(100, 2));
    return { space, store, v, ro };
  }

  it("constructor", () => {
    for (const bad of [
      null,
      {},
      { frames: 0 },
      { frames: 1.5 },
      { frames: 2 ** 25 },
      { frames: 4, pageSize: 3000 },
      { frames: 4, pageSize: 256 },
      { frames: 4, policy: "nope" },
      { frames: 4, pages: {} },
      { frames: 4, readahead: { initial: -1 } },
      { frames: 4, readahead: { initial: 8, max: 4 } },
    ]) {
      expect(() => new AddressSpace(bad as never)).toThrow(InvalidArgumentError);
    }
  });

  it("map", async () => {
    const { space } = await scene();
    const other = new AddressSpace({ frames: 1 });
    const taken = new MemoryStore();
    other.map({ length: 1, store: taken });
    const store = new MemoryStore();
    const bads: unknown[] = [
      null,
      { length: 0, store },
      { length: -5, store },
      { length: 1.5, store },
      { length: 10 },
      { length: 10, store: {} },
      { length: 10, store, offset: 100 },
      { length: 10, store, offset: -PS },
      { length: 10, store, hint: "sometimes" },
      { length: 10, store, hint: "dontneed" },
      { length: 10, store, writable: "yes" },
      { length: 2 ** 44 + PS, store, offset: 2 ** 44 },
      { length: 10, store: taken },
    ];
    for (const bad of bads)
      await expectCleanRejection(space, InvalidArgumentError, () => space.map(bad as never));
  });

  it("read, write, peek, pin, advise, sync, copy, gather, scatter, unmap", async () => {
    const { space, v, ro } = await scene();
    const fh = await open(join(tmp.path, "bad-io.dat"), "w+");
    const cases: [new (...a: never[]) => MnemeError, () => Promise<unknown>, string?][] = [
      [InvalidArgumentError, () => space.read(-1, 4)],
      [InvalidArgumentError, () => space.read(v, 0)],
      [InvalidArgumentError, () => space.read(v, 1.5)],
      [InvalidArgumentError, () => space.read(Number.NaN, 1)],
      [InvalidAddressError, () => space.read(1, 4), "EFAULT"],
      [InvalidAddressError, () => space.read(v + 4 * PS - 2, 4), "EFAULT"],
      [InvalidAddressError, () => space.read(v + 4 * PS, 1), "EFAULT"],
      [InvalidArgumentError, () => space.read(v, 8, new Uint8Array(4))],
      [InvalidArgumentError, () => space.write(v, new Uint8Array(0))],
      [InvalidArgumentError, () => space.write(v, [1, 2] as never)],
      [InvalidAddressError, () => space.write(ro, new Uint8Array(1)), "EACCES"],
      [InvalidAddressError, () => space.write(v + 4 * PS - 1, new Uint8Array(2)), "EFAULT"],
      [InvalidAddressError, () => space.peek(v - 1, 1), "EFAULT"],
      [InvalidArgumentError, () => space.pin(v, 4 * PS)],
      [InvalidAddressError, () => space.pin(ro, 1, { write: true }), "EACCES"],
      [InvalidArgumentError, () => space.pin(v, 1, { owner: 5 as never })],
      [InvalidArgumentError, () => space.advise(v, PS, "soon" as never)],
      [InvalidAddressError, () => space.advise(v + 4 * PS, PS, "normal"), "EFAULT"],
      [InvalidAddressError, () => space.sync(v + 4 * PS, 1), "EFAULT"],
      [InvalidAddressError, () => space.copy(v, ro, 10), "EACCES"],
      [InvalidAddressError, () => space.copy(v, v + 4 * PS - 5, 10), "EFAULT"],
      [InvalidArgumentError, () => space.gather(v, 10, {} as never)],
      [InvalidArgumentError, () => space.gather(v, 10, fh, -1)],
      [InvalidAddressError, () => space.scatter(ro, 10, fh), "EACCES"],
      [InvalidAddressError, () => space.unmap(v + PS), "EFAULT"],
      [InvalidAddressError, () => space.unmap(12345), "EFAULT"],
    ];
    for (const [cls, fn, code] of cases) await expectCleanRejection(space, cls, fn, code);
    expect(await space.read(v, 100)).toEqual(pattern(100, 1));
    await fh.close();
  });
});

describe("pins", () => {
  it("pinned pages stay resident; with every frame pinned a fault fails at once, naming the pins", async () => {
    const space = new AddressSpace({ frames: 3, policy: "lru" });
    const v = space.map({ length: 8 * PS, store: new MemoryStore() });
    const a = await space.pin(v, 2 * PS, { owner: "decoder A" });
    const b = await space.pin(v + 2 * PS, 10, { owner: "decoder B" });
    expect(a.pages.length).toBe(2);
    a.bytes[5] = 42;
    expect(space.stats().pinned).toBe(3);
    const e = await expectCleanRejection(space, OutOfMemoryError, () => space.read(v + 5 * PS, 1));
    expect(e.reason).toBe("all-pinned");
    const info = space.debugInfo();
    expect(info).toContain('"decoder A"');
    expect(info).toContain('"decoder B"');
    await expectCleanRejection(space, InvalidAddressError, () => space.unmap(v), "EBUSY");
    await expectCleanRejection(space, InvalidAddressError, () => space.advise(v, PS, "dontneed"), "EBUSY");
    b.release();
    expect(() => b.release()).toThrow(DoubleFreeError);
    expect((await space.read(v + 5 * PS, 1))[0]).toBe(0);
    // the pinned pages were never evicted: A's write through the view is there
    expect((await space.read(v + 5, 1))[0]).toBe(42);
    a.release();
    space.check();
    expect(space.stats().pins).toBe(0);
  });

  it("a pin waits for another fault's in-flight read instead of failing", async () => {
    const store = new MemoryStore();
    const space = new AddressSpace({ frames: 1 });
    const v = space.map({ length: 2 * PS, store, hint: "random" });
    store.hold();
    const reading = space.read(v + PS, 1);
    const pinning = space.pin(v, 1);
    await new Promise((r) => setTimeout(r, 5));
    store.release();
    await reading;
    const pin = await pinning;
    pin.release();
    space.check();
  });

  it("copies a multi-page pin when its frames are not adjacent, and writes the copy back on release", async () => {
    const space = new AddressSpace({ frames: 4, policy: "lru" });
    const v = space.map({ length: 4 * PS, store: new MemoryStore(), hint: "random" });
    // Fault pages 2 and 0 first, so page 0 and page 1 get frames that are not in address order.
    await space.read(v + 2 * PS, 1);
    await space.read(v + 3 * PS, 1);
    await space.read(v, 1);
    const pin = await space.pin(v + PS - 2, 4);
    pin.bytes.set([9, 8, 7, 6]);
    pin.release();
    expect([...(await space.read(v + PS - 2, 4))]).toEqual([9, 8, 7, 6]);
  });
});

describe("peek, sync, stats", () => {
  it("peek reads without touching recency or installing pages", async () => {
    const space = new AddressSpace({ frames: 2, policy: "lru" });
    const store = new MemoryStore();
    const v = space.map({ length: 3 * PS, store, hint: "random" });
    await space.write(v, new Uint8Array([1]));
    await space.write(v + PS, new Uint8Array([2]));
    await space.write(v + 2 * PS, new Uint8Array([3])); // evicts page 0 (LRU)
    const before = space.stats();
    // page 1 is now the LRU page; peeking it must not save it, peeking page 0 must not fault
    expect([...(await space.peek(v + PS, 1))]).toEqual([2]);
    expect([...(await space.peek(v, 1))]).toEqual([1]);
    const after = space.stats();
    expect(after.hits).toBe(before.hits);
    expect(after.faults).toBe(before.faults);
    expect(after.resident).toBe(2);
    await space.read(v, 1); // a real fault: evicts page 1, the least recently used
    expect(space.stats().faults).toBe(before.faults + 1);
    const reads = store.reads;
    await space.read(v + 2 * PS, 1);
    expect(store.reads).toBe(reads); // page 2 is still resident
  });

  it("sync writes every dirty page of persistent stores and waits; clean pages are dropped without I/O", async () => {
    const store = new MemoryStore();
    const space = new AddressSpace({ frames: 4 });
    const v = space.map({ length: 4 * PS, store });
    for (let p = 0; p < 4; p++) await space.write(v + p * PS, pattern(10, p));
    expect(space.stats().dirty).toBe(4);
    await space.sync(v + PS, PS);
    expect(space.stats().dirty).toBe(3);
    expect(store.data.get(PS)).toEqual(pattern(10, 1));
    await space.sync();
    expect(space.stats().dirty).toBe(0);
    const writes = store.writes;
    const w = space.map({ length: 8 * PS, store: new MemoryStore() });
    for (let p = 0; p < 8; p++) await space.read(w + p * PS, 1);
    expect(store.writes).toBe(writes); // clean pages of `store` left without a write
  });
  it("a sync waiting behind another's failed write of the page makes its own write, and succeeds", async () => {
    class Slow extends MemoryStore {
      override async writePage(offset: number, data: Uint8Array): Promise<void> {
        await new Promise((resolve) => setTimeout(resolve, 10));
        await super.writePage(offset, data);
      }
    }
    const store = new Slow();
    const space = new AddressSpace({ frames: 4, pageSize: PS });
    const v = space.map({ length: PS, store, hint: "random" });
    await space.write(v, new Uint8Array([1]));
    store.failWrites = 1;
    const first = space.sync();
    await new Promise((resolve) => setTimeout(resolve, 2));
    await space.write(v, new Uint8Array([2]));
    const second = space.sync();
    await expect(first).rejects.toThrow(/injected write failure/);
    await second;
    expect(store.data.get(0)?.[0]).toBe(2);
    expect(space.stats().dirty).toBe(0);
    space.check();
  });

  it("one write of a page at a time: a second sync of a page re-dirtied during the first waits for it", async () => {
    // Two writes of one page in flight may land in either order, the older bytes last.
    class Watched extends MemoryStore {
      inFlight = 0;
      most = 0;
      override async writePage(offset: number, data: Uint8Array): Promise<void> {
        this.most = Math.max(this.most, ++this.inFlight);
        await new Promise((resolve) => setTimeout(resolve, 10));
        await super.writePage(offset, data);
        this.inFlight--;
      }
    }
    const store = new Watched();
    const space = new AddressSpace({ frames: 4, pageSize: PS });
    const v = space.map({ length: PS, store, hint: "random" });
    await space.write(v, new Uint8Array([1]));
    const first = space.sync();
    await new Promise((resolve) => setTimeout(resolve, 2));
    await space.write(v, new Uint8Array([2])); // dirty again while the first write is in flight
    const second = space.sync();
    await Promise.all([first, second]);
    expect(store.most).toBe(1);
    expect(store.data.get(0)?.[0]).toBe(2);
    expect(space.stats().dirty).toBe(0);
    space.check();
  });
});

describe("container operations", () => {
  it("copy between mappings, and overlapping within one (memmove)", async () => {
    const space = new AddressSpace({ frames: 3 });
    const a = space.map({ length: 10 * PS, store: new MemoryStore() });
    const b = space.map({ length: 10 * PS, store: new MemoryStore() });
    const data = pattern(5 * PS + 123, 7);
    await space.write(a + 100, data);
    await space.copy(a + 100, b + 7, data.length);
    expect(await space.read(b + 7, data.length)).toEqual(data);
    await space.copy(a + 100, a + 100 + 3000, data.length);
    expect(await space.read(a + 3100, data.length)).toEqual(data);
    await space.copy(a + 3100, a + 50, data.length);
    expect(await space.read(a + 50, data.length)).toEqual(data);
  });

  it("copy between two mappings of one store that overlap in the store is a memmove too", async () => {
    // Found by the property test (seed -132534930): the direction was chosen from virtual
    // addresses, but here the later virtual range (b) shows the earlier store bytes' neighbours.
    const store = new MemoryStore();
    const space = new AddressSpace({ frames: 1 });
    const a = space.map({ length: 4 * PS, store, offset: 4 * PS });
    const b = space.map({ length: 4 * PS, store, offset: 5 * PS });
    const data = pattern(2 * PS + 1, 9);
    await space.write(a, data);
    // Store bytes [4PS, 6PS+1) go to [5PS, 7PS+1): the destination starts inside the source.
    await space.copy(a, b, data.length);
    expect(await space.read(b, data.length)).toEqual(data);
    // And the other way: [5PS, 7PS+1) to [4PS, 6PS+1), the destination starts before the source.
    const more = pattern(2 * PS + 1, 4);
    await space.write(b, more);
    await space.copy(b, a, more.length);
    expect(await space.read(a, more.length)).toEqual(more);
  });

  it("gather writes a range to a FileHandle and scatter reads one in, stopping at EOF", async () => {
    const space = new AddressSpace({ frames: 2 });
    const v = space.map({ length: 6 * PS, store: new MemoryStore() });
    const data = pattern(4 * PS + 10, 3);
    await space.write(v + 5, data);
    const fh = await open(join(tmp.path, "gather.dat"), "w+");
    expect(await space.gather(v + 5, data.length, fh, 100)).toBe(data.length);
    const file = await readFile(join(tmp.path, "gather.dat"));
    expect(new Uint8Array(file.subarray(100))).toEqual(data);
    const w = space.map({ length: 6 * PS, store: new MemoryStore() });
    expect(await space.scatter(w + 1, 5 * PS, fh, 100)).toBe(data.length);
    expect(await space.read(w + 1, data.length)).toEqual(data);
    await fh.close();
  });
});

describe("the fault path", () => {
  it("a read that joins a full-page write's fault sees the old or the new bytes, never the frame's garbage", async () => {
    // A full-page write skips reading the page; a read arriving meanwhile waits on that fault.
    // The frame is a recycled arena page (old contents, the page layer's free-list links), so the
    // write's bytes must be in it before the page is published to the read.
    const store = new MemoryStore();
    await store.writePage(0, new Uint8Array(PS).fill(3));
    const space = new AddressSpace({ frames: 1, pageSize: PS, policy: "lru" });
    const a = space.map({ length: PS, store, hint: "random" });
    const b = space.map({ length: PS, store: new MemoryStore("b"), hint: "random" });
    await space.write(b, new Uint8Array(PS).fill(0xee)); // leaves 0xee in the only frame's page
    const writing = space.write(a, new Uint8Array(PS).fill(9));
    const reading = space.read(a, PS);
    const [, got] = await Promise.all([writing, reading]);
    expect(got.every((x) => x === 9) || got.every((x) => x === 3), `read saw ${got.subarray(0, 8)}`).toBe(
      true,
    );
    expect((await space.read(a, PS)).every((x) => x === 9)).toBe(true);
    space.check();
  });

  it("concurrent faults on the same page share one read", async () => {
    const store = new MemoryStore();
    store.data.set(PS, pattern(PS, 9));
    const space = new AddressSpace({ frames: 4 });
    const v = space.map({ length: 4 * PS, store, hint: "random" });
    store.hold();
    const reads = Array.from({ length: 10 }, (_, i) => space.read(v + PS + i * 10, 10));
    const pin = space.pin(v + PS, 5);
    await new Promise((r) => setTimeout(r, 5));
    store.release();
    const got = await Promise.all(reads);
    (await pin).release();
    expect(store.reads).toBe(1);
    for (const [i, g] of got.entries()) expect(g).toEqual(pattern(PS, 9).subarray(i * 10, i * 10 + 10));
    const s = space.stats();
    expect(s.faults).toBe(1);
    expect(s.sharedFaults).toBe(10);
  });

  it("a failed read surfaces as StoreError, shared by the waiters, and installs nothing", async () => {
    const store = new MemoryStore();
    const space = new AddressSpace({ frames: 2 });
    const v = space.map({ length: 4 * PS, store, hint: "random" });
    await space.write(v, new Uint8Array([5]));
    const resident = space.stats().resident;
    store.failReads = 1;
    store.hold();
    const a = space.read(v + PS, 1);
    const b = space.read(v + PS, 1);
    store.release();
    await expect(a).rejects.toBeInstanceOf(StoreError);
    await expect(b).rejects.toBeInstanceOf(StoreError);
    const s = space.stats();
    expect(s.resident).toBe(1);
    expect(s.storeErrors).toBe(1);
    expect(s.resident).toBe(resident);
    expect(s.faults).toBe(1);
    space.check();
    expect((await space.read(v + PS, 1))[0]).toBe(0); // retried: the page is fine now
    expect((await space.read(v, 1))[0]).toBe(5);
  });

  it("a store that cannot even open fails the fault with StoreError and installs nothing", async () => {
    const store = new FileStore(tmp.path); // a directory
    const space = new AddressSpace({ frames: 2 });
    const v = space.map({ length: 2 * PS, store });
    await expect(space.read(v, 1)).rejects.toBeInstanceOf(StoreError);
    expect(space.stats()).toMatchObject({ resident: 0, faults: 0, storeErrors: 1, inFlight: 0 });
    space.check();
  });

  it("a failed writeback keeps the victim resident and dirty, and the fault fails with StoreError", async () => {
    const store = new MemoryStore();
    const space = new AddressSpace({ frames: 1 });
    const v = space.map({ length: 2 * PS, store, hint: "random" });
    await space.write(v, new Uint8Array([7]));
    store.failWrites = 1;
    const e = await expectCleanRejection(space, StoreError, () => space.read(v + PS, 1)).catch((x) => x);
    expect(e).toBeDefined();
    expect(space.stats().dirty).toBe(1);
    expect((await space.peek(v, 1))[0]).toBe(7);
    expect((await space.read(v + PS, 1))[0]).toBe(0);
    expect(store.data.get(0)?.[0]).toBe(7);
    space.check();
  });
});

describe("anonymous memory and swap", () => {
  it("unmap writes back a write that began before it and lands in its last page meanwhile", async () => {
    // The write's second page faults (its read is held); unmap cleans the first page, settles the
    // second and waits for the write's ref; the write then fills the page and, being done with its
    // last page, is acknowledged. Unmap must write that page to the store before dropping it.
    const store = new MemoryStore();
    const space = new AddressSpace({ frames: 4, pageSize: PS, policy: "lru" });
    const a = space.map({ length: 2 * PS, store, hint: "random" });
    await space.write(a, new Uint8Array([1])); // page 0 resident
    store.hold();
    const writing = space.write(a + PS - 1, new Uint8Array([7, 8])); // pages 0 and 1
    await settle();
    const unmapping = space.unmap(a);
    await settle();
    store.release();
    const [w] = await Promise.allSettled([writing, unmapping]);
    await unmapping;
    if (w.status === "fulfilled") expect(store.data.get(PS)?.[0]).toBe(8);
    expect(w.status).toBe("fulfilled");
    expect(store.data.get(0)?.[PS - 1]).toBe(7);
    space.check();
    await space.close();
  });

  it("unmap waits for a writeback that another fault starts meanwhile: the discarded page stays zero", async () => {
    // A store with anonymous semantics (discard) whose page writes wait for a gate. The race:
    // unmap waits for gather's transient ref on page 0 of A to go; when it goes, a fault of B
    // that was waiting for the only frame evicts that dirty page first and starts writing it
    // back. Unmap must not drop and discard while that write is in flight, or the write lands
    // after the discard and the old byte comes back to the next mapping of the same page.
    class Anon extends MemoryStore {
      private writeGate: Promise<void> | undefined;
      private openWrites: (() => void) | undefined;
      holdWrites(): void {
        this.writeGate = new Promise((resolve) => {
          this.openWrites = resolve;
        });
      }
      releaseWrites(): void {
        this.openWrites?.();
      }
      override async writePage(offset: number, data: Uint8Array): Promise<void> {
        await this.writeGate;
        await super.writePage(offset, data);
      }
      async discard(offset: number, length: number): Promise<void> {
        for (let o = offset; o < offset + length; o += PS) this.data.delete(o);
      }
    }
    const { handle, finish: finishGather } = heldHandle();
    const store = new Anon();
    const space = new AddressSpace({ frames: 1, pageSize: PS, policy: "lru" });
    const a = space.map({ length: PS, store, hint: "random" });
    await space.write(a, new Uint8Array([1])); // resident and dirty
    const gathering = space.gather(a, 1, handle, 0); // holds a ref on the page while it writes
    await settle();
    const b = space.map({ length: PS, store: new MemoryStore("b"), hint: "random" });
    const faulting = space.read(b, 1); // the only frame is held: waits
    await settle();
    store.holdWrites();
    const unmapping = space.unmap(a); // waits for the ref
    await settle();
    finishGather(); // the ref goes; b's fault evicts the dirty page and starts writing it back
    await settle();
    store.releaseWrites();
    await Promise.all([gathering, faulting, unmapping]);
    expect(store.data.has(0)).toBe(false);
    const again = space.map({ length: PS, store, hint: "random" });
    expect((await space.read(again, 1))[0]).toBe(0);
    space.check();
    await space.close();
  });

  it("two writes of one page to the swap at once: one slot, the later bytes over the earlier tail", async () => {
    const store = new AnonymousStore({ swap: join(tmp.path, "race.swap") });
    const long = new Uint8Array(PS).fill(7);
    const short = new Uint8Array(100).fill(9);
    await Promise.all([store.writePage(0, long), store.writePage(0, short)]);
    const back = new Uint8Array(PS);
    await store.readPage(0, back);
    expect(back.subarray(0, 100).every((b) => b === 9)).toBe(true);
    expect(back.subarray(100).every((b) => b === 7)).toBe(true);
    expect(store.stats()).toMatchObject({ swapSlots: 1, swapFileBytes: PS });
    await store.close();
  });

  it("a discard waits for a write of the page in flight: no slot comes back for a discarded page", async () => {
    const store = new AnonymousStore({ swap: join(tmp.path, "discard-race.swap") });
    const writing = store.writePage(0, new Uint8Array(PS).fill(5));
    await store.discard(0, PS);
    await writing;
    expect(store.stats()).toMatchObject({ swapSlots: 0 });
    const back = new Uint8Array(PS).fill(1);
    await store.readPage(0, back);
    expect(back.every((b) => b === 0)).toBe(true);
    await store.close();
  });

  it("reuses swap slots and fails only the operation that exceeds the cap, with reason quota", async () => {
    const swap = join(tmp.path, "capped.swap");
    const store = new AnonymousStore({ swap, swapCap: 2 * PS });
    const space = new AddressSpace({ frames: 2, policy: "lru" });
    const v = space.map({ length: 16 * PS, store, hint: "random" });
    for (let p = 0; p < 4; p++) await space.write(v + p * PS, pattern(PS, p)); // 0, 1 swapped out
    expect(store.stats().swapSlots).toBe(2);
    const e = await expectCleanRejection(space, OutOfMemoryError, () =>
      space.write(v + 4 * PS, new Uint8Array(1)),
    );
    expect(e.reason).toBe("quota");
    expect(e.message).toContain("cap of 8192 bytes");
    // only that operation failed: resident pages are read and written, swapped ones peeked
    await space.write(v + 3 * PS, new Uint8Array([77]));
    expect((await space.read(v + 3 * PS, 1))[0]).toBe(77);
    for (let p = 0; p < 2; p++) expect(await space.peek(v + p * PS, PS)).toEqual(pattern(PS, p));
    expect(store.stats().swapFileBytes).toBe(2 * PS);
    // unmapping frees the slots; a new mapping's pages reuse them without growing the file
    await space.unmap(v);
    expect(store.stats().swapSlots).toBe(0);
    const w = space.map({ length: 16 * PS, store, hint: "random" });
    for (let p = 0; p < 4; p++) await space.write(w + p * PS, pattern(PS, p + 50));
    expect(store.stats()).toMatchObject({ swapSlots: 2, swapFileBytes: 2 * PS });
    for (let p = 0; p < 4; p++) expect(await space.peek(w + p * PS, PS)).toEqual(pattern(PS, p + 50));
    space.check();
    await store.close();
  });

  it("without swap, dirty anonymous pages cannot leave: no-backing-store, while clean ones still can", async () => {
    const store = new AnonymousStore({ swap: false });
    const space = new AddressSpace({ frames: 2 });
    const v = space.map({ length: 8 * PS, store, hint: "random" });
    await space.write(v, new Uint8Array([1]));
    await space.read(v + PS, 1); // clean zero page
    await space.read(v + 2 * PS, 1); // evicts the clean one
    await space.write(v + 2 * PS, new Uint8Array([1]));
    const e = await expectCleanRejection(space, OutOfMemoryError, () => space.read(v + 3 * PS, 1));
    expect(e.reason).toBe("no-backing-store");
  });

  it("puts the default swap file under the data directory and removes it on close", async () => {
    const store = new AnonymousStore({ dataDir: join(tmp.path, "data") });
    expect(store.description).toContain(join(tmp.path, "data", "swap", `anon-${process.pid}-`));
    const space = new AddressSpace({ frames: 1 });
    const v = space.map({ length: 2 * PS, store, hint: "random" });
    await space.write(v, new Uint8Array([1]));
    await space.write(v + PS, new Uint8Array([2])); // page 0 goes to swap
    const path = store.swap!.path;
    expect(existsSync(path)).toBe(true);
    expect((await space.read(v, 1))[0]).toBe(1);
    await space.close();
    await store.close();
    expect(existsSync(path)).toBe(false);
  });

  it("rejects bad options", () => {
    expect(() => new AnonymousStore({ swap: "" })).toThrow(InvalidArgumentError);
    expect(() => new AnonymousStore({ swapCap: -1 })).toThrow(InvalidArgumentError);
    expect(() => new FileStore("")).toThrow(InvalidArgumentError);
  });
});
