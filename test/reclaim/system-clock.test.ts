/**
 * systemClock with delays past what one Node timer takes (2^31 - 1 ms): Node fires such a timer
 * after 1 ms, so a flusher with an interval of 30 days ran a pass every millisecond. Driven by
 * vitest's fake timers, which take the same limit as Node.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { systemClock } from "../../src/reclaim/clock.js";
import { Flusher } from "../../src/reclaim/flusher.js";

const DAY = 24 * 60 * 60 * 1000;

describe("systemClock", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("fires a 30-day timer after 30 days, not after 1 ms, and clearTimeout ends it at any link", async () => {
    vi.useFakeTimers();
    let fired = 0;
    systemClock.setTimeout(() => fired++, 30 * DAY);
    const cancelled = systemClock.setTimeout(() => fired++, 30 * DAY);
    await vi.advanceTimersByTimeAsync(DAY);
    expect(fired).toBe(0);
    await vi.advanceTimersByTimeAsync(25 * DAY);
    expect(fired).toBe(0);
    // Past the first link of the chain: clearing still ends it.
    systemClock.clearTimeout(cancelled);
    await vi.advanceTimersByTimeAsync(4 * DAY - 1);
    expect(fired).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(fired).toBe(1);
    await vi.advanceTimersByTimeAsync(60 * DAY);
    expect(fired).toBe(1);
  });

  it("a flusher with a 30-day interval wakes once in 30 days", async () => {
    vi.useFakeTimers();
    let passes = 0;
    const flusher = new Flusher(
      {
        cachedPages: () => 10,
        dirtyPages: () => 0,
        writeback: async () => {
          passes++;
          return 0;
        },
      },
      { interval: 30 * DAY, metadataInterval: 30 * DAY, clock: systemClock },
    );
    flusher.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(flusher.stats().wakeups).toBe(0);
    await vi.advanceTimersByTimeAsync(30 * DAY);
    expect(flusher.stats()).toMatchObject({ wakeups: 1, metadataSyncs: 1 });
    expect(passes).toBe(1);
    flusher.stop();
  });
});
