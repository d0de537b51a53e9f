/**
 * Data larger than memory: a 64 MiB file mapped over 1 MiB of frames (256 frames of 4 KiB) is
 * written completely through the mapping, synced, checked on disk, then read back completely
 * through the mapping in a different order, every byte compared.
 */
import { open, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AddressSpace, FileStore } from "../../src/index.js";
import { tempDir } from "./helpers.js";

const MiB = 1 << 20;
const SIZE = 64 * MiB;
const CHUNK = 256 * 1024;
const tmp = tempDir();
afterAll(() => tmp.remove());

/** The expected content of the 4-byte word at byte offset `o`: a function of its position. */
function fillChunk(buf: Uint8Array, offset: number): void {
  const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.length >> 2);
  const base = offset >> 2;
  for (let i = 0; i < words.length; i++) words[i] = Math.imul(base + i, 2654435761) ^ 0x5bd1e995;
}

describe("a 64 MiB file over 1 MiB of frames", () => {
  it("writes and reads all of it correctly", async () => {
    const path = join(tmp.path, "big.dat");
    const store = new FileStore(path);
    const space = new AddressSpace({ frames: 256, pageSize: 4096 });
    expect(space.frameLimit * space.pageSize).toBe(MiB);
    const v = space.map({ length: SIZE, store, hint: "sequential" });
    const buf = new Uint8Array(CHUNK);
    for (let o = 0; o < SIZE; o += CHUNK) {
      fillChunk(buf, o);
      await space.write(v + o, buf);
    }
    await space.sync();
    expect((await stat(path)).size).toBe(SIZE);
    // On disk, checked with plain fs reads.
    const fh = await open(path, "r");
    const want = new Uint8Array(CHUNK);
    const got = new Uint8Array(CHUNK);
    for (let o = 0; o < SIZE; o += 16 * CHUNK) {
      fillChunk(want, o);
      await fh.read(got, 0, CHUNK, o);
      expect(Buffer.compare(got, want), `chunk at ${o} on disk`).toBe(0);
    }
    await fh.close();
    // Back through the mapping: chunks in a scattered order (random hint), every byte compared.
    await space.advise(v, SIZE, "random");
    const chunks = SIZE / CHUNK;
    for (let i = 0; i < chunks; i++) {
      const o = ((i * 97) % chunks) * CHUNK;
      await space.read(v + o, CHUNK, got);
      fillChunk(want, o);
      expect(Buffer.compare(got, want), `chunk at ${o}`).toBe(0);
    }
    const s = space.stats();
    expect(s.resident).toBeLessThanOrEqual(256);
    expect(s.evictions).toBeGreaterThan(2 * (SIZE / 4096) - 1000);
    space.check();
    await space.close();
    await store.close();
  });
});
