import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  AddressSpace,
  FileStore,
  InvalidArgumentError,
  ManualClock,
  startWriteback,
} from "../../src/index.js";

const PS = 4096;

describe("ManualClock", () => {
  it("now can be handed over on its own, as in `new AddressSpace({ now: clock.now })`", async () => {
    const clock = new ManualClock(1_000);
    const now = clock.now;
    expect(now()).toBe(1_000);
    await clock.advance(250);
    expect(now()).toBe(1_250);
  });

  it("never goes back or to NaN: a bad advance() or start is refused, time and timers unchanged", async () => {
    const clock = new ManualClock(1_000);
    let fired = 0;
    clock.setTimeout(() => fired++, 100);
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, "5"]) {
      await expect(clock.advance(bad as number)).rejects.toThrow(InvalidArgumentError);
    }
    expect(clock.now()).toBe(1_000);
    expect(fired).toBe(0);
    await clock.advance(0);
    expect(fired).toBe(0);
    await clock.advance(100);
    expect(fired).toBe(1);
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new ManualClock(bad)).toThrow(InvalidArgumentError);
    }
    // A delay that is no number fires at the next advance, as Node's setTimeout does, at a real time.
    clock.setTimeout(() => fired++, Number.NaN);
    await clock.advance(0);
    expect(fired).toBe(2);
    expect(clock.now()).toBe(1_100);
  });

  it("with now handed over that way, the flusher writes pages past their expiry age", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mneme-clock-"));
    try {
      const clock = new ManualClock(1_000);
      const space = new AddressSpace({ frames: 64, now: clock.now });
      const flusher = startWriteback(space, { clock, interval: 500, expire: 1_000 });
      const v = space.map({ length: 64 * PS, store: new FileStore(join(dir, "f.bin")) });
      // 60 clean pages: one dirty page is far below every ratio, so only its age gets it written.
      await space.read(v, 60 * PS);
      await space.write(v, new Uint8Array(PS).fill(5));
      await clock.advance(3_000);
      await flusher.settled();
      expect(space.dirtyPages()).toBe(0);
      expect(flusher.stats().written).toBe(1);
      expect(readFileSync(join(dir, "f.bin"))[0]).toBe(5);
      await space.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
