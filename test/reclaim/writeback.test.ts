import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AddressSpace, FileStore } from "../../src/index.js";
import { ManualClock } from "../../src/reclaim/clock.js";
import { startWriteback } from "../../src/reclaim/writeback.js";
import { MemoryStore } from "../vm/helpers.js";

const PS = 4096;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
}

/** A heavy writer: `writes` random whole pages over a mapping `pages` long; returns the model. */
async function heavyWriter(
  space: AddressSpace,
  v: number,
  pages: number,
  writes: number,
  after: () => void,
): Promise<Map<number, number>> {
  const r = rng(7);
  const model = new Map<number, number>();
  for (let i = 0; i < writes; i++) {
    const p = Math.floor(r() * pages);
    const fill = 1 + Math.floor(r() * 254);
    await space.write(v + p * PS, new Uint8Array(PS).fill(fill));
    model.set(p, fill);
    after();
  }
  return model;
}

describe("writeback of an address space (flusher, throttling)", () => {
  it("keeps dirty pages at or below the high ratio (plus a batch), throttles, and loses nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mneme-wb-"));
    dirs.push(dir);
    const clock = new ManualClock(1_000);
    const space = new AddressSpace({ frames: 64, now: () => clock.now() });
    const flusher = startWriteback(space, { clock, lowRatio: 0.3, highRatio: 0.6, batch: 8 });
    const pages = 1024; // sixteen times the frames
    const v = space.map({ length: pages * PS, store: new FileStore(join(dir, "data.bin")), hint: "random" });
    let peakDirty = 0;
    const model = await heavyWriter(space, v, pages, 3000, () => {
      const limit = Math.ceil(0.6 * space.cachedPages()) + 8;
      expect(space.dirtyPages()).toBeLessThanOrEqual(limit);
      peakDirty = Math.max(peakDirty, space.dirtyPages());
    });
    expect(flusher.stats().throttled).toBeGreaterThan(0);
    expect(peakDirty).toBeLessThanOrEqual(Math.ceil(0.6 * 64) + 8);
    await space.sync();
    const file = readFileSync(join(dir, "data.bin"));
    for (const [p, fill] of model) {
      expect(file[p * PS], `page ${p}`).toBe(fill);
      expect(file[p * PS + PS - 1], `page ${p}`).toBe(fill);
    }
    await space.close();
    expect(flusher.stats().running).toBe(false);
  });

  it("throttles within one write of many pages: dirty stays at or below the high ratio plus a batch", async () => {
    // Regression (fixed): the gate ran once per write(), so one write of 200 pages over 200 frames
    // left all 200 dirty against a high ratio of 60%.
    const dir = mkdtempSync(join(tmpdir(), "mneme-wb-"));
    dirs.push(dir);
    const clock = new ManualClock(1_000);
    const frames = 200;
    const space = new AddressSpace({ frames, now: () => clock.now() });
    const flusher = startWriteback(space, { clock, lowRatio: 0.3, highRatio: 0.6, batch: 8 });
    const v = space.map({ length: frames * PS, store: new FileStore(join(dir, "data.bin")) });
    const data = new Uint8Array(frames * PS).map((_, i) => (i * 13) & 0xff);
    await space.write(v, data);
    expect(flusher.stats().throttled).toBeGreaterThan(0);
    expect(space.dirtyPages()).toBeLessThanOrEqual(Math.ceil(0.6 * frames) + 8);
    await space.sync();
    expect(Buffer.compare(readFileSync(join(dir, "data.bin")), Buffer.from(data))).toBe(0);
    await space.close();
  });

  it("without the flusher the same writer fills the frames with dirty pages", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mneme-wb-"));
    dirs.push(dir);
    const space = new AddressSpace({ frames: 64 });
    const v = space.map({ length: 1024 * PS, store: new FileStore(join(dir, "data.bin")), hint: "random" });
    let peakDirty = 0;
    await heavyWriter(space, v, 1024, 3000, () => {
      peakDirty = Math.max(peakDirty, space.dirtyPages());
    });
    expect(peakDirty).toBeGreaterThan(0.9 * 64);
    await space.close();
  });

  it("writes pages dirty for longer than the expiry age on the periodic wake-up, oldest first", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mneme-wb-"));
    dirs.push(dir);
    const clock = new ManualClock(1_000);
    const space = new AddressSpace({ frames: 64, now: () => clock.now() });
    const flusher = startWriteback(space, { clock, interval: 5_000, expire: 30_000 });
    const v = space.map({ length: 64 * PS, store: new FileStore(join(dir, "data.bin")) });
    // A page cache of 60 clean pages, so two dirty ones are far below every ratio: only their age
    // can get them written.
    await space.read(v, 60 * PS);
    await space.write(v, new Uint8Array(PS).fill(1));
    await space.write(v + PS, new Uint8Array(PS).fill(2));
    expect(space.dirtyPages()).toBe(2);
    await clock.advance(25_000);
    await flusher.settled();
    expect(space.dirtyPages()).toBe(2);
    await clock.advance(10_000);
    await flusher.settled();
    expect(space.dirtyPages()).toBe(0);
    expect(flusher.stats().written).toBe(2);
    const file = readFileSync(join(dir, "data.bin"));
    expect(file[0]).toBe(1);
    expect(file[PS]).toBe(2);
    await space.close();
  });
});

describe("the flusher's metadata pass", () => {
  it("makes persistent stores durable (flush) every metadataInterval, and skips anonymous ones", async () => {
    const flushed: string[] = [];
    const store = (name: string, discard: boolean) => ({
      description: name,
      discard: discard ? async () => {} : undefined,
      readPage: async (_o: number, into: Uint8Array) => void into.fill(0),
      writePage: async () => {},
      flush: async () => void flushed.push(name),
      close: async () => {},
    });
    const clock = new ManualClock();
    const space = new AddressSpace({ frames: 8, now: () => clock.now() });
    space.map({ length: 4 * PS, store: store("file", false) });
    space.map({ length: 4 * PS, store: store("anon", true) });
    const flusher = startWriteback(space, { clock, metadataInterval: 100, interval: 10_000 });
    await clock.advance(99);
    expect(flushed).toEqual([]);
    await clock.advance(1);
    expect(flushed).toEqual(["file"]);
    await clock.advance(100);
    expect(flushed).toEqual(["file", "file"]);
    expect(flusher.stats().metadataSyncs).toBe(2);
    expect(flusher.stats().errors).toBe(0);
    await space.close();
  });
});

describe("throttling when another mapping's writeback fails", () => {
  it("a writer is paced, not failed, by a store error of pages that are not its own", async () => {
    const clock = new ManualClock(1_000);
    const space = new AddressSpace({ frames: 16, now: () => clock.now() });
    const flusher = startWriteback(space, { clock, lowRatio: 0.3, highRatio: 0.5, batch: 4 });
    const broken = new MemoryStore("broken");
    const a = space.map({ length: 8 * PS, store: broken, hint: "random" });
    const b = space.map({ length: 8 * PS, store: new MemoryStore("b"), hint: "random" });
    for (let p = 0; p < 8; p++) await space.write(a + p * PS, new Uint8Array(PS).fill(1 + p));
    // Every page of A dirty and its store failing from now on: above the high ratio, a write to
    // B is throttled, and the throttle's writeback picks A's pages (the oldest).
    broken.failWrites = 1_000;
    expect(space.dirtyPages() / space.cachedPages()).toBeGreaterThanOrEqual(0.5);
    await space.write(b, new Uint8Array(PS).fill(9));
    expect((await space.read(b, 1))[0]).toBe(9);
    expect(flusher.stats().throttled).toBeGreaterThan(0);
    expect(flusher.stats().errors).toBeGreaterThan(0);
    // A's failure is reported to whoever asks for A's pages to be written.
    await expect(space.sync()).rejects.toThrow(/injected write failure/);
    broken.failWrites = 0;
    await space.sync();
    expect(broken.data.get(7 * PS)?.[0]).toBe(8);
    await space.close();
  });
});

describe("expiry when one mapping's writeback fails", () => {
  it("the other mappings' expired pages are still written on every wake-up", async () => {
    const clock = new ManualClock(1_000);
    const space = new AddressSpace({ frames: 64, now: () => clock.now() });
    const flusher = startWriteback(space, { clock, interval: 5_000, expire: 30_000 });
    const broken = new MemoryStore("broken");
    const healthy = new MemoryStore("healthy");
    const a = space.map({ length: 4 * PS, store: broken });
    const b = space.map({ length: 4 * PS, store: healthy });
    // 40 clean pages: the three dirty ones are far below every ratio, only their age gets them
    // written. A's page is dirtied first, so it is the oldest: each pass meets it before B's.
    const clean = space.map({ length: 40 * PS, store: new MemoryStore("clean") });
    await space.read(clean, 40 * PS);
    await space.write(a, new Uint8Array(PS).fill(1));
    await space.write(b, new Uint8Array(PS).fill(2));
    await space.write(b + PS, new Uint8Array(PS).fill(3));
    broken.failWrites = 1_000;
    await clock.advance(35_000);
    await flusher.settled();
    expect(healthy.data.get(0)?.[0], "B's expired pages written").toBe(2);
    expect(healthy.data.get(PS)?.[0]).toBe(3);
    expect(space.dirtyPages()).toBe(1);
    expect(flusher.stats().errors).toBeGreaterThan(0);
    broken.failWrites = 0;
    await space.close();
    expect(broken.data.get(0)?.[0]).toBe(1);
  });
});
