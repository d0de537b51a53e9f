import { describe, expect, it } from "vitest";
import { watermarks } from "../../src/page/watermarks.js";
import { ManualClock } from "../../src/reclaim/clock.js";
import { type FrameZone, Reclaimer } from "../../src/reclaim/reclaimer.js";

/** A page layer of 1000 frames and a shrinker holding `cached` frames it can give back. */
function scene(free: number, cached: number) {
  const state = { free, cached };
  const zone: FrameZone = {
    free: () => state.free,
    marks: watermarks(1000, { min: 20, low: 40, high: 60 }),
    pageSize: 4096,
  };
  const reclaimer = new Reclaimer({ maxRounds: 2 });
  reclaimer.registerShrinker({
    name: "cache",
    count: () => state.cached * 4096,
    scan: (bytes) => {
      const n = Math.min(state.cached, Math.ceil(bytes / 4096));
      state.cached -= n;
      state.free += n;
      return n * 4096;
    },
  });
  return { state, zone, reclaimer };
}

describe("watermark zones (deterministic, fake clock)", () => {
  it("at or above low: background reclaim does nothing", async () => {
    const { state, zone, reclaimer } = scene(40, 500);
    expect(await reclaimer.balance(zone)).toBe(0);
    expect(state.free).toBe(40);
  });

  it("below low: background reclaim runs until high is reached, on its own schedule", async () => {
    const { state, zone, reclaimer } = scene(39, 500);
    const clock = new ManualClock();
    const stop = reclaimer.startBackground(zone, clock, 100);
    await clock.advance(99);
    expect(state.free).toBe(39);
    await clock.advance(1);
    expect(state.free).toBeGreaterThanOrEqual(60);
    state.free = 10;
    await clock.advance(100);
    expect(state.free).toBeGreaterThanOrEqual(60);
    stop();
    state.free = 5;
    await clock.advance(1000);
    expect(state.free).toBe(5);
  });

  it("between min and low: an ordinary allocation proceeds without direct reclaim", async () => {
    const { state, zone, reclaimer } = scene(30, 500);
    expect(await reclaimer.beforeAllocate(zone, 5)).toBe(true);
    expect(state.free).toBe(30);
    expect(reclaimer.stats().reclaims).toBe(0);
  });

  it("at or below min: an ordinary allocation reclaims directly first", async () => {
    const { state, zone, reclaimer } = scene(22, 500);
    expect(await reclaimer.beforeAllocate(zone, 5)).toBe(true);
    expect(state.free - 5).toBeGreaterThan(20);
    expect(reclaimer.stats().reclaims).toBe(1);
  });

  it("the reserve below min is for critical allocations only", async () => {
    const { state, zone, reclaimer } = scene(10, 0);
    // Nothing to reclaim: an ordinary allocation is refused, a critical one may dip into the reserve.
    expect(await reclaimer.beforeAllocate(zone, 2)).toBe(false);
    expect(await reclaimer.beforeAllocate(zone, 2, true)).toBe(true);
    expect(await reclaimer.beforeAllocate(zone, 11, true)).toBe(false);
    expect(state.free).toBe(10);
  });
});
