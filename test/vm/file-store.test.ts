/**
 * FileStore on a real file under concurrency and outside interference: writes past the end at
 * many offsets at once (the file grows exactly as far as written), the file truncated by someone
 * else under resident pages, and a read-ahead batch that fails after filling its frames (sequential
 * hint): nothing of the batch is installed, no frame stays held, and only storeErrors moves. And a
 * read-only file: its mappings are read-only, so no write is acknowledged that could never be
 * written back.
 */
import { readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  AddressSpace,
  FileStore,
  InvalidAddressError,
  InvalidArgumentError,
  StoreError,
} from "../../src/index.js";
import { pattern, snapshot, tempDir } from "./helpers.js";

const PS = 512;
const tmp = tempDir();
afterAll(() => tmp.remove());

/** A FileStore whose next `failBatches` read-ahead batches fail after reading into the frames. */
class FailingBatches extends FileStore {
  failBatches = 0;
  override async readPages(offset: number, into: readonly Uint8Array[]): Promise<void> {
    await super.readPages(offset, into);
    if (this.failBatches > 0) {
      this.failBatches--;
      throw new Error("injected failure after the batch was read");
    }
  }
}

describe("FileStore on a real file", () => {
  it("writes past the end at many offsets at once: every byte lands, the file ends at the last one written", async () => {
    const path = join(tmp.path, "grow.dat");
    const store = new FileStore(path);
    const space = new AddressSpace({ frames: 4, pageSize: PS, policy: "lru" });
    const v = space.map({ length: 64 * PS, store, hint: "random" });
    const offsets = [63 * PS + 100, 5 * PS + 7, 40 * PS, 17 * PS + 500, 2 * PS + 1, 33 * PS + 256];
    // More pages than frames, all at once: evictions write some of them while others still fault.
    await Promise.all(offsets.map((o, i) => space.write(v + o, pattern(300, i + 1))));
    await space.sync();
    const end = Math.max(...offsets.map((o) => o + 300));
    expect(statSync(path).size).toBe(end);
    const disk = readFileSync(path);
    const want = new Uint8Array(end);
    for (const [i, o] of offsets.entries()) want.set(pattern(300, i + 1), o);
    expect(new Uint8Array(disk)).toEqual(want);
    for (const [i, o] of offsets.entries()) expect(await space.read(v + o, 300)).toEqual(pattern(300, i + 1));
    space.check();
    await space.close();
    await store.close();
  });

  it("a file truncated by someone else: resident pages are still served, dirty ones written back, the rest read as zeros", async () => {
    const path = join(tmp.path, "trunc.dat");
    const store = new FileStore(path);
    const space = new AddressSpace({ frames: 8, pageSize: PS, policy: "lru" });
    const v = space.map({ length: 8 * PS, store, hint: "random" });
    for (let p = 0; p < 8; p++) await space.write(v + p * PS, pattern(PS, p + 1));
    await space.sync();
    await space.write(v + 6 * PS, pattern(PS, 60)); // dirty, resident
    await space.advise(v + 2 * PS, 2 * PS, "dontneed"); // pages 2 and 3 leave memory
    truncateSync(path, PS);
    expect(await space.read(v + 5 * PS, PS)).toEqual(pattern(PS, 6)); // resident, clean
    expect(await space.read(v + 2 * PS, 2 * PS)).toEqual(new Uint8Array(2 * PS)); // cut off
    await space.sync();
    expect(statSync(path).size).toBe(7 * PS);
    expect(new Uint8Array(readFileSync(path).subarray(6 * PS))).toEqual(pattern(PS, 60));
    space.check();
    await space.close();
    await store.close();
  });

  it("a read-ahead batch that fails after filling its frames installs none of them", async () => {
    const path = join(tmp.path, "ra.dat");
    const store = new FailingBatches(path);
    const space = new AddressSpace({ frames: 16, pageSize: PS, policy: "lru" });
    const v = space.map({ length: 32 * PS, store });
    for (let p = 0; p < 32; p++) await space.write(v + p * PS, pattern(PS, p + 1));
    await space.close(); // the file holds the pages; a new space starts empty
    const again = new AddressSpace({ frames: 16, pageSize: PS, policy: "lru" });
    const w = again.map({ length: 32 * PS, store, hint: "sequential" });
    await again.read(w, PS); // page 0 plus a batch of read-ahead
    const before = again.stats();
    expect(before.readahead).toBeGreaterThan(0);
    store.failBatches = 1;
    const at = (before.resident + 1) * PS; // past the pages read ahead: the next batch
    const noErrors = (text: string) => text.replace(/"storeErrors":\d+|store errors \d+/g, "");
    const shot = noErrors(snapshot(again));
    await expect(again.read(w + at, PS)).rejects.toBeInstanceOf(StoreError);
    expect(noErrors(snapshot(again))).toBe(shot);
    expect(again.stats().storeErrors).toBe(before.storeErrors + 1);
    again.check();
    // Nothing held: every frame can still be used, and every page reads back.
    for (let p = 0; p < 32; p++) expect(await again.read(w + p * PS, PS)).toEqual(pattern(PS, p + 1));
    const after = again.stats();
    expect(after).toMatchObject({ pinned: 0, inFlight: 0 });
    expect(after.readaheadHits).toBeLessThanOrEqual(after.readahead);
    again.check();
    await again.close();
    await store.close();
  });

  it("a read-only file maps read-only by default and refuses a writable mapping; the space still closes", async () => {
    const path = join(tmp.path, "ro.dat");
    writeFileSync(path, "hello");
    const store = new FileStore(path, { readOnly: true });
    const space = new AddressSpace({ frames: 4, pageSize: PS });
    expect(() => space.map({ length: PS, store, writable: true })).toThrow(InvalidArgumentError);
    const v = space.map({ length: 2 * PS, store });
    await expect(space.write(v, new Uint8Array([65]))).rejects.toMatchObject({ code: "EACCES" });
    await expect(space.write(v, new Uint8Array([65]))).rejects.toBeInstanceOf(InvalidAddressError);
    expect(new TextDecoder().decode(await space.read(v, 5))).toBe("hello");
    expect(space.stats().dirty).toBe(0);
    await space.close(); // before: sync, unmap and close failed forever on the acknowledged write
    expect(readFileSync(path, "utf8")).toBe("hello");
    await store.close();
  });
});
