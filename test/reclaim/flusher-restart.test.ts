/**
 * The flusher stopped and started while one of its passes is still under way (a metadata sync or
 * a data writeback on a slow store): it must go on with one timer of each kind, and a stop must
 * stop it, whatever was in flight.
 */
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/reclaim/clock.js";
import { Flusher } from "../../src/reclaim/flusher.js";
import { FakeCache } from "./fake-source.js";

/** A page cache whose metadata syncs finish only when the test says so. */
class SlowMetadata extends FakeCache {
  started = 0;
  private finish: (() => void)[] = [];
  override syncMetadata(): Promise<void> {
    this.started++;
    return new Promise((resolve) => this.finish.push(resolve));
  }
  async finishAll(): Promise<void> {
    for (const f of this.finish.splice(0)) f();
    for (let i = 0; i < 20; i++) await Promise.resolve();
  }
}

describe("the flusher restarted while a pass is under way", () => {
  it("a metadata sync in flight across stop() and start(): one metadata pass per interval, none after stop()", async () => {
    const clock = new ManualClock(1_000_000);
    const cache = new SlowMetadata(clock, 100);
    const flusher = new Flusher(cache, { clock, metadataInterval: 5_000 });
    flusher.start();
    await clock.advance(5_000);
    expect(cache.started).toBe(1);
    flusher.stop();
    flusher.start();
    // The sync that was under way ends after the restart.
    await cache.finishAll();
    await clock.advance(5_000);
    expect(cache.started, "one metadata pass per interval").toBe(2);
    await cache.finishAll();
    await clock.advance(5_000);
    expect(cache.started).toBe(3);
    await cache.finishAll();
    flusher.stop();
    await clock.advance(60_000);
    expect(cache.started, "nothing after stop()").toBe(3);
    expect(flusher.stats().metadataSyncs).toBe(3);
  });
});
