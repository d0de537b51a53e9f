/**
 * The frames reclaim freed (FrameReclaim stats directFreed and backgroundFreed; the service's
 * INFO map_reclaimed_frames and /metrics mneme_pagecache_reclaimed_frames_total) are what the
 * shrinkers freed. They were the change in free frames while a reclaim ran: faults taking frames
 * meanwhile hid part of it, and a direct reclaim running alongside a background one (a fault at
 * min starts both) counted the same frames twice.
 */
import { describe, expect, it } from "vitest";
import { AddressSpace, ManualClock, Reclaimer, startReclaim } from "../../src/index.js";
import { MemoryStore } from "../vm/helpers.js";

const PS = 4096;

describe("frames reclaimed, as reported", () => {
  it("add up to the pages reclaim dropped, with direct and background reclaim both at work", async () => {
    const space = new AddressSpace({ frames: 64 });
    const v = space.map({ length: 512 * PS, store: new MemoryStore() });
    const reclaimer = new Reclaimer();
    const fr = startReclaim(space, {
      reclaimer,
      name: "a",
      marks: { min: 8, low: 12, high: 16 },
      clock: new ManualClock(),
    });
    for (let p = 0; p < 512; p++) await space.write(v + p * PS, new Uint8Array(PS).fill(p & 0xff));
    await fr.settled();
    const s = fr.stats();
    expect(s.direct).toBeGreaterThan(0);
    expect(s.background).toBeGreaterThan(0);
    // The space's page cache is the reclaimer's only shrinker: its pages dropped are the frames freed.
    const dropped = reclaimer.stats().freed / PS;
    expect(dropped).toBeGreaterThan(0);
    expect(s.directFreed + s.backgroundFreed).toBe(dropped);
    for (let p = 0; p < 512; p += 97) expect((await space.read(v + p * PS, 1))[0]).toBe(p & 0xff);
    fr.stop();
    await space.close();
  });
});
