/**
 * What sync() promises: once it resolves, every byte written to the space's persistent stores is
 * durable, through each store's flush (fsync for a file). Pages reach a store by other ways than
 * sync (evictions, the flusher's writeback, dontneed), and those writes are only as durable as
 * the next flush: sync must flush every store written since its last flush, not only the stores
 * it wrote itself. A real file underneath, its flush counted. And writeback() (the flusher's)
 * reports the pages it wrote, not those another writer wrote while it waited.
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AddressSpace, FileStore, StoreError } from "../../src/index.js";
import { MemoryStore, pattern, tempDir } from "./helpers.js";

const PS = 512;
const tmp = tempDir();
afterAll(() => tmp.remove());

/** A FileStore that counts its flushes and can fail the next one. */
class CountingFile extends FileStore {
  flushes = 0;
  failFlush = false;
  override async flush(): Promise<void> {
    this.flushes++;
    if (this.failFlush) {
      this.failFlush = false;
      throw new StoreError(this.description, "flush", 0, new Error("injected flush failure"));
    }
    await super.flush();
  }
}

/** A FileStore whose writes take 20 ms, and which notes whether a flush came after them. */
class SlowFile extends CountingFile {
  landed = 0;
  flushedAfterLanding = false;
  override async writePage(offset: number, data: Uint8Array): Promise<void> {
    await new Promise((r) => setTimeout(r, 20));
    await super.writePage(offset, data);
    this.landed++;
    this.flushedAfterLanding = false;
  }
  override async flush(): Promise<void> {
    await super.flush();
    this.flushedAfterLanding = this.landed > 0;
  }
}

function setup(name: string) {
  const file = new CountingFile(join(tmp.path, `${name}.dat`));
  const other = new MemoryStore();
  const space = new AddressSpace({ frames: 2, pageSize: PS, policy: "lru" });
  const v = space.map({ length: 8 * PS, store: file, hint: "random" });
  const w = space.map({ length: 8 * PS, store: other, hint: "random" });
  return { file, space, v, w };
}

describe("sync() flushes every store written since its last flush", () => {
  it("the pages it wrote itself, once", async () => {
    const { file, space, v, w } = setup("own");
    await space.write(v, pattern(PS, 5));
    await space.write(w, pattern(PS, 6));
    await space.sync();
    expect(file.flushes).toBe(1);
    await space.sync(v, PS);
    expect(file.flushes).toBe(1);
    await space.close();
    await file.close();
  });

  it("a page an eviction wrote before the sync", async () => {
    const { file, space, v, w } = setup("evicted");
    await space.write(v, pattern(PS, 1));
    await space.read(w, 1);
    await space.read(w + PS, 1); // evicts the file's page: written, not yet flushed
    expect(space.stats()).toMatchObject({ writebacks: 1, dirty: 0 });
    await space.sync(); // nothing dirty, but the file holds unflushed bytes
    expect(file.flushes).toBe(1);
    await space.sync(); // nothing written since: no flush
    expect(file.flushes).toBe(1);
    await space.close();
    await file.close();
  });

  it("pages the flusher's writeback and dontneed wrote, for a range sync too", async () => {
    const { file, space, v } = setup("cleaned");
    await space.write(v, pattern(PS, 2));
    expect(await space.writeback(8)).toBe(1);
    await space.sync(v, PS);
    expect(file.flushes).toBe(1);
    await space.write(v + PS, pattern(PS, 3));
    await space.advise(v + PS, PS, "dontneed");
    await space.sync();
    expect(file.flushes).toBe(2);
    await space.close();
    await file.close();
  });

  it("a failed flush is tried again by the next sync", async () => {
    const { file, space, v, w } = setup("retry");
    await space.write(v, pattern(PS, 4));
    await space.read(w, 1);
    await space.read(w + PS, 1);
    file.failFlush = true;
    await expect(space.sync()).rejects.toBeInstanceOf(StoreError);
    await space.sync();
    expect(file.flushes).toBe(2);
    await space.close();
    await file.close();
  });
});

describe("sync() waits for writes already in flight", () => {
  it("a page the flusher is writing: its bytes are in the store, and flushed, when sync resolves", async () => {
    const file = new SlowFile(join(tmp.path, "inflight.dat"));
    const space = new AddressSpace({ frames: 4, pageSize: PS });
    const v = space.map({ length: 4 * PS, store: file });
    await space.write(v, pattern(PS, 7));
    const flushing = space.writeback(1); // clears the dirty mark, its write takes 20 ms
    await space.sync();
    expect(file.landed).toBe(1);
    expect(file.flushedAfterLanding).toBe(true);
    expect(await flushing).toBe(1);
    await space.close();
    await file.close();
  });
});

describe("writeback() counts the pages it wrote", () => {
  it("two at once over four dirty pages report four in all, as many as the store got", async () => {
    const space = new AddressSpace({ frames: 8, pageSize: PS });
    const store = new MemoryStore();
    const v = space.map({ length: 8 * PS, store });
    for (let p = 0; p < 4; p++) await space.write(v + p * PS, pattern(PS, p + 1));
    const [a, b] = await Promise.all([space.writeback(4), space.writeback(4)]);
    expect(a + b).toBe(4);
    expect(store.writes).toBe(4);
    await space.write(v, pattern(PS, 9));
    await space.sync();
    expect(await space.writeback(4)).toBe(0); // nothing dirty
    await space.close();
  });
});
