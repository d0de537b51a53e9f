/**
 * Background reclaim (Reclaimer.startBackground, kswapd) runs on a timer: nobody awaits its
 * passes. A pass that fails (a user shrinker throwing) must be counted and the next one must run,
 * as the flusher does with its timed passes; it must not surface as an unhandled rejection, which
 * ends a Node process.
 */
import { describe, expect, it } from "vitest";
import { watermarks } from "../../src/page/watermarks.js";
import { ManualClock } from "../../src/reclaim/clock.js";
import { type FrameZone, Reclaimer } from "../../src/reclaim/reclaimer.js";

describe("background reclaim with a shrinker that throws", () => {
  it("counts the failed pass, reports it, and goes on with the next", async () => {
    const state = { free: 10, cached: 500, failures: 1 };
    const zone: FrameZone = {
      free: () => state.free,
      marks: watermarks(1000, { min: 20, low: 40, high: 60 }),
      pageSize: 4096,
    };
    const reclaimer = new Reclaimer();
    reclaimer.registerShrinker({
      name: "flaky-user-cache",
      count: () => state.cached * 4096,
      scan: (bytes) => {
        if (state.failures > 0) {
          state.failures--;
          throw new Error("user cache broke");
        }
        const n = Math.min(state.cached, Math.ceil(bytes / 4096));
        state.cached -= n;
        state.free += n;
        return n * 4096;
      },
    });
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on("unhandledRejection", onUnhandled);
    const clock = new ManualClock();
    const stop = reclaimer.startBackground(zone, clock, 100);
    try {
      await clock.advance(100);
      // Unhandled rejections are reported after the microtasks run out.
      await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
      expect(reclaimer.stats().errors).toBe(1);
      // The failed scan is passed over: the same pass asks again in its next round.
      expect(state.free).toBeGreaterThanOrEqual(60);
      state.free = 10;
      await clock.advance(100);
      expect(state.free, "the next pass ran").toBeGreaterThanOrEqual(60);
      expect(reclaimer.stats().errors).toBe(1);
    } finally {
      stop();
      process.off("unhandledRejection", onUnhandled);
    }
  });
});
