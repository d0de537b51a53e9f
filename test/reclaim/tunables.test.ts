/**
 * Every reclaim tunable has a default, can be set, and is reported by stats() (DESIGN.md,
 * principle 5): the reclaimer's rounds before an OOM kill, the watermark gate's check interval and
 * watermarks, the flusher's ratios, batch and intervals.
 */
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/reclaim/clock.js";
import { startReclaim } from "../../src/reclaim/frame-reclaim.js";
import { Reclaimer } from "../../src/reclaim/reclaimer.js";
import { AddressSpace } from "../../src/vm/address-space.js";

describe("reclaim tunables in stats()", () => {
  it("the reclaimer reports maxRounds, default and given", () => {
    expect(new Reclaimer().stats().maxRounds).toBe(4);
    expect(new Reclaimer({ maxRounds: 9 }).stats().maxRounds).toBe(9);
  });

  it("startReclaim reports its interval and watermarks, default and given", async () => {
    const clock = new ManualClock();
    const space = new AddressSpace({ frames: 256 });
    try {
      const byDefault = startReclaim(space, { reclaimer: new Reclaimer(), name: "a", clock });
      expect(byDefault.stats()).toMatchObject({ interval: 100 });
      byDefault.stop();
      const given = startReclaim(space, {
        reclaimer: new Reclaimer(),
        name: "b",
        clock,
        interval: 250,
        marks: { min: 10, low: 20, high: 40 },
      });
      expect(given.stats()).toMatchObject({ interval: 250, min: 10, low: 20, high: 40 });
      given.stop();
    } finally {
      await space.close();
    }
  });
});
