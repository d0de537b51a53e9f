import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../src/index.js";
import { ManualClock } from "../../src/reclaim/clock.js";
import { Flusher } from "../../src/reclaim/flusher.js";
import { FakeCache } from "./fake-source.js";

function setup(cached = 100) {
  const clock = new ManualClock(1_000_000);
  const cache = new FakeCache(clock, cached);
  const flusher = new Flusher(cache, { clock, batch: 8 });
  return { clock, cache, flusher };
}

describe("the flusher's dirty zones (fake clock)", () => {
  it("below low: a wake-up writes nothing", async () => {
    const { cache, flusher } = setup();
    for (let p = 0; p < 29; p++) cache.dirtyPage(p);
    const r = await flusher.kick();
    expect(r.zone).toBe("below-low");
    expect(r.written).toBe(0);
    expect(cache.dirtyPages()).toBe(29);
  });

  it("between low and high: a wake-up writes one batch, oldest first", async () => {
    const { clock, cache, flusher } = setup();
    for (let p = 0; p < 40; p++) {
      cache.dirtyPage(p);
      await clock.advance(1);
    }
    const r = await flusher.kick();
    expect(r.zone).toBe("between");
    expect(r.written).toBe(8);
    expect(cache.written).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(cache.dirtyPages()).toBe(32);
  });

  it("above high: writers are throttled by a synchronous flush of a batch each", async () => {
    const { cache, flusher } = setup();
    for (let p = 0; p < 70; p++) cache.dirtyPage(p);
    expect(flusher.zone().zone).toBe("above-high");
    expect(await flusher.throttle()).toBe(true);
    expect(cache.dirtyPages()).toBe(62);
    expect(await flusher.throttle()).toBe(true);
    expect(cache.dirtyPages()).toBe(54);
    expect(await flusher.throttle()).toBe(false);
    expect(flusher.stats().throttled).toBe(2);
    expect(flusher.stats().throttleWritten).toBe(16);
  });

  it("a writer that keeps dirtying pages never gets far above the high ratio", async () => {
    const { cache, flusher } = setup(1000);
    let peak = 0;
    for (let p = 0; p < 5000; p++) {
      await flusher.throttle();
      cache.dirtyPage(p % 1000);
      peak = Math.max(peak, cache.dirtyPages());
    }
    expect(peak).toBeLessThanOrEqual(600 + 8);
    expect(flusher.stats().throttled).toBeGreaterThan(0);
  });

  it("pages dirty for longer than the expiry age are written whatever the ratio", async () => {
    const { clock, cache, flusher } = setup();
    cache.dirtyPage(1);
    cache.dirtyPage(2);
    await clock.advance(29_999);
    expect((await flusher.kick()).expired).toBe(0);
    await clock.advance(2);
    const r = await flusher.kick();
    expect(r.zone).toBe("below-low");
    expect(r.expired).toBe(2);
    expect(cache.dirtyPages()).toBe(0);
  });

  it("wakes periodically for data and metadata, and can be stopped and started", async () => {
    const { clock, cache, flusher } = setup();
    for (let p = 0; p < 40; p++) cache.dirtyPage(p);
    flusher.start();
    await clock.advance(29_999);
    expect(flusher.stats().wakeups).toBe(0);
    expect(cache.metadataSyncs).toBe(5);
    await clock.advance(1);
    expect(flusher.stats().wakeups).toBe(1);
    expect(cache.dirtyPages()).toBe(32);
    await clock.advance(30_000);
    expect(flusher.stats().wakeups).toBe(2);
    flusher.stop();
    await clock.advance(120_000);
    expect(flusher.stats().wakeups).toBe(2);
    expect(flusher.stats().running).toBe(false);
    flusher.start();
    await clock.advance(30_000);
    expect(flusher.stats().wakeups).toBe(3);
    flusher.stop();
  });

  it("reports its tunables and rejects bad ones", () => {
    const { flusher } = setup();
    expect(flusher.stats()).toMatchObject({
      lowRatio: 0.3,
      highRatio: 0.6,
      batch: 8,
      interval: 30_000,
      metadataInterval: 5_000,
      expire: 30_000,
    });
    const cache = new FakeCache(new ManualClock(), 10);
    expect(() => new Flusher(cache, { lowRatio: 0.6, highRatio: 0.6 })).toThrow(InvalidArgumentError);
    expect(() => new Flusher(cache, { lowRatio: 0, highRatio: 0.6 })).toThrow(InvalidArgumentError);
    expect(() => new Flusher(cache, { batch: 0 })).toThrow(InvalidArgumentError);
    expect(() => new Flusher(cache, { interval: -5 })).toThrow(InvalidArgumentError);
  });
});
