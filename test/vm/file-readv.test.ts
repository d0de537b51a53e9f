/**
 * FileStore read-ahead batches longer than one readv takes. Node (libuv) hands at most IOV_MAX
 * (1024) buffers to one readv and leaves the others untouched, so a batch of 1025 pages (a fault
 * plus the largest read-ahead window, readahead.max 1024) came back short, and the store took that
 * for the end of the file: the last page of the batch read as zeros although the file held it.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AddressSpace, FileStore } from "../../src/index.js";
import { pattern, tempDir } from "./helpers.js";

const PS = 512;
const tmp = tempDir();
afterAll(() => tmp.remove());

function fileOf(name: string, pages: number, tail = 0): string {
  const path = join(tmp.path, name);
  const bytes = new Uint8Array(pages * PS + tail);
  for (let p = 0; p * PS < bytes.length; p++)
    bytes.set(pattern(PS, p + 1).subarray(0, bytes.length - p * PS), p * PS);
  writeFileSync(path, bytes);
  return path;
}

describe("FileStore batches of more than IOV_MAX pages", () => {
  it("a fault with a 1024-page read-ahead window reads all 1025 pages of its batch", async () => {
    const pages = 1200;
    const store = new FileStore(fileOf("long.dat", pages));
    const space = new AddressSpace({ frames: 4100, pageSize: PS, readahead: { initial: 1024, max: 1024 } });
    const v = space.map({ length: pages * PS, store, hint: "sequential" });
    await space.read(v, PS);
    expect(space.stats()).toMatchObject({ faults: 1, readahead: 1024 });
    for (let p = 0; p < pages; p++) expect(await space.read(v + p * PS, PS)).toEqual(pattern(PS, p + 1));
    await space.close();
    await store.close();
  });

  it("a batch past the end of the file beyond its 1024th page reads the file's bytes, then zeros", async () => {
    const store = new FileStore(fileOf("short.dat", 1030, 100));
    const into = Array.from({ length: 1040 }, () => new Uint8Array(PS).fill(0xee));
    await store.readPages(0, into);
    for (let p = 0; p < 1030; p++) expect(into[p]).toEqual(pattern(PS, p + 1));
    const partial = new Uint8Array(PS);
    partial.set(pattern(PS, 1031).subarray(0, 100));
    expect(into[1030]).toEqual(partial);
    for (let p = 1031; p < 1040; p++) expect(into[p]).toEqual(new Uint8Array(PS));
    expect(store.stats()).toMatchObject({ reads: 1, bytesRead: 1030 * PS + 100 });
    await store.close();
  });
});
