/**
 * Durability when a persistent store leaves the space. unmap() wrote a file mapping's dirty pages
 * back but never flushed the file: the bytes sat in the OS cache, and once the caller closed the
 * store (FileStore.close does no fsync) no later sync() could flush them (the space's sync flushed
 * a closed FileStore as a no-op), though sync() promises every byte written to a persistent store
 * is flushed. close() has the same gap for writes that land while it runs (after its own sync).
 * Now unmap of a store's last mapping flushes it when anything was written to it since its last
 * flush; a failing flush fails the unmap (StoreError, the mapping kept) and a later one retries.
 *
 * And close() hooks (the reclaim layer stops its flusher and watermarks with them) ran before the
 * close's writeback: a close failing there left the space open with them stopped for good.
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AddressSpace, FileStore, StoreError } from "../../src/index.js";
import { MemoryStore, pattern, tempDir } from "./helpers.js";

const PS = 512;
const tmp = tempDir();
afterAll(() => tmp.remove());

/** A FileStore that counts its flushes, can fail the next one, and tells whether its last write was flushed. */
class CountingFile extends FileStore {
  flushes = 0;
  failFlush = false;
  durable = true;
  override async writePage(offset: number, data: Uint8Array): Promise<void> {
    await super.writePage(offset, data);
    this.durable = false;
  }
  override async flush(): Promise<void> {
    this.flushes++;
    if (this.failFlush) {
      this.failFlush = false;
      throw new Error("injected flush failure");
    }
    await super.flush();
    this.durable = true;
  }
}

describe("unmap() of a persistent store's last mapping flushes it", () => {
  it("after writing its dirty pages back", async () => {
    const file = new CountingFile(join(tmp.path, "last.dat"));
    const space = new AddressSpace({ frames: 4, pageSize: PS });
    const v = space.map({ length: 4 * PS, store: file });
    await space.write(v + PS, pattern(PS, 1));
    await space.unmap(v);
    expect(file.flushes).toBe(1);
    expect(file.durable).toBe(true);
    // Nothing left to flush: a sync afterwards does not touch the store.
    await space.sync();
    expect(file.flushes).toBe(1);
    await space.close();
    await file.close();
  });

  it("when an eviction wrote to it before (nothing dirty at the unmap)", async () => {
    const file = new CountingFile(join(tmp.path, "evicted.dat"));
    const space = new AddressSpace({ frames: 1, pageSize: PS });
    const v = space.map({ length: 4 * PS, store: file, hint: "random" });
    await space.write(v, pattern(PS, 2));
    await space.read(v + PS, 1); // evicts the dirty page: written, not flushed
    expect(space.stats()).toMatchObject({ writebacks: 1, dirty: 0 });
    await space.unmap(v);
    expect(file.flushes).toBe(1);
    await space.close();
    await file.close();
  });

  it("not while another mapping of the store stays, nor when nothing was written", async () => {
    const file = new CountingFile(join(tmp.path, "shared.dat"));
    const space = new AddressSpace({ frames: 4, pageSize: PS });
    const a = space.map({ length: 2 * PS, store: file });
    const b = space.map({ length: 2 * PS, store: file, offset: 2 * PS });
    await space.write(a, pattern(PS, 3));
    await space.unmap(a);
    expect(file.flushes).toBe(0);
    await space.sync();
    expect(file.flushes).toBe(1);
    await space.unmap(b);
    expect(file.flushes).toBe(1);
    await space.close();
    await file.close();
  });

  it("a failing flush fails the unmap with StoreError, the mapping kept; the next unmap flushes", async () => {
    const file = new CountingFile(join(tmp.path, "fail.dat"));
    const space = new AddressSpace({ frames: 4, pageSize: PS });
    const v = space.map({ length: 2 * PS, store: file });
    const data = pattern(PS, 4);
    await space.write(v, data);
    file.failFlush = true;
    await expect(space.unmap(v)).rejects.toBeInstanceOf(StoreError);
    expect(space.stats()).toMatchObject({ mappings: 1, stores: 1, inFlight: 0 });
    space.check();
    expect(await space.read(v, PS)).toEqual(data);
    await space.unmap(v);
    expect(file.flushes).toBe(2);
    expect(space.stats()).toMatchObject({ mappings: 0, stores: 0 });
    await space.close();
    await file.close();
  });

  it("sync() reports a store's plain flush error as StoreError, counted in storeErrors", async () => {
    const file = new CountingFile(join(tmp.path, "plain.dat"));
    const space = new AddressSpace({ frames: 4, pageSize: PS });
    const v = space.map({ length: 2 * PS, store: file });
    await space.write(v, pattern(PS, 5));
    file.failFlush = true;
    const errors = space.stats().storeErrors;
    await expect(space.sync()).rejects.toBeInstanceOf(StoreError);
    // A failed flush is a store error like a failed write (debugInfo's "store errors").
    expect(space.stats().storeErrors).toBe(errors + 1);
    await space.sync();
    expect(file.flushes).toBe(2);
    await space.close();
    await file.close();
  });
});

describe("close()", () => {
  it("flushes a write that landed while it ran", async () => {
    const file = new CountingFile(join(tmp.path, "during-close.dat"));
    const space = new AddressSpace({ frames: 4, pageSize: PS });
    const v = space.map({ length: 2 * PS, store: file });
    await space.write(v, pattern(PS, 6));
    // A sync that waits in a store write of the first page lets a write in after it.
    const closing = space.close();
    const late = space.write(v + PS, pattern(PS, 7));
    await Promise.all([closing, late]);
    expect(file.durable).toBe(true);
    const check = new FileStore(join(tmp.path, "during-close.dat"));
    const got = new Uint8Array(PS);
    await check.readPage(PS, got);
    expect(got).toEqual(pattern(PS, 7));
    await check.close();
    await file.close();
  });

  it("that fails runs no close hook; the close that succeeds runs each once", async () => {
    const store = new MemoryStore();
    const space = new AddressSpace({ frames: 4, pageSize: PS });
    const v = space.map({ length: 2 * PS, store });
    let stopped = 0;
    space.onClose(() => stopped++);
    await space.write(v, pattern(PS, 8));
    store.failWrites = 1;
    await expect(space.close()).rejects.toBeInstanceOf(StoreError);
    expect(stopped).toBe(0);
    expect(space.closed).toBe(false);
    await space.write(v + PS, pattern(PS, 9));
    await space.close();
    expect(stopped).toBe(1);
    expect(space.closed).toBe(true);
    expect(store.data.get(PS)).toEqual(pattern(PS, 9));
  });
});
