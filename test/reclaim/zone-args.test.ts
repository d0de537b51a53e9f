/**
 * The zone, clock and interval of background reclaim and of startReclaim are checked when they are
 * given. Before: startBackground took a zone without free() (every timed pass failed into the
 * errors counter, silently, for good) and an interval of 0 (a ManualClock's advance() never
 * returned; the system clock spun); startReclaim ignored `marks` next to a `zone` of its own and
 * failed at the first fault on a zone without free(); a space that was not one gave a TypeError.
 */
import { describe, expect, it } from "vitest";
import { AddressSpace, InvalidArgumentError, ManualClock, Reclaimer, startReclaim } from "../../src/index.js";
import { watermarks } from "../../src/page/watermarks.js";
import type { FrameZone } from "../../src/reclaim/reclaimer.js";
import { caught } from "../helpers/caught.js";
import { MemoryStore } from "../vm/helpers.js";

const PS = 4096;

function zone(): FrameZone {
  return { free: () => 10, marks: watermarks(1000, { min: 20, low: 40, high: 60 }), pageSize: PS };
}

const badZones: unknown[] = [
  undefined,
  {},
  { ...zone(), free: 10 },
  { ...zone(), marks: undefined },
  { ...zone(), marks: { min: 40, low: 20, high: 60 } },
  { ...zone(), marks: { min: 1, low: 2, high: Number.NaN } },
  { ...zone(), marks: { min: -1, low: 2, high: 3 } },
  { ...zone(), pageSize: 0 },
  { ...zone(), pageSize: "4096" },
];

describe("Reclaimer.startBackground", () => {
  it("refuses a bad zone, clock or interval at once and schedules nothing", async () => {
    const reclaimer = new Reclaimer();
    let scans = 0;
    reclaimer.registerShrinker({
      name: "c",
      count: () => PS,
      scan: () => {
        scans++;
        return 0;
      },
    });
    const clock = new ManualClock();
    for (const bad of badZones) {
      expect(caught(() => reclaimer.startBackground(bad as FrameZone, clock, 100))).toBeInstanceOf(
        InvalidArgumentError,
      );
    }
    for (const interval of [0, -5, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "100"]) {
      expect(caught(() => reclaimer.startBackground(zone(), clock, interval as number))).toBeInstanceOf(
        InvalidArgumentError,
      );
    }
    expect(caught(() => reclaimer.startBackground(zone(), {} as ManualClock))).toBeInstanceOf(
      InvalidArgumentError,
    );
    await clock.advance(1_000);
    expect(scans).toBe(0);
    expect(reclaimer.stats()).toMatchObject({ reclaims: 0, errors: 0 });
    // A good call still runs.
    const stop = reclaimer.startBackground(zone(), clock, 100);
    await clock.advance(100);
    stop();
    expect(scans).toBeGreaterThan(0);
  });
});

describe("startReclaim with a zone of its own", () => {
  it("refuses a bad zone, and marks next to a zone (they were ignored), installing nothing", async () => {
    const space = new AddressSpace({ frames: 16 });
    const v = space.map({ length: 4 * PS, store: new MemoryStore() });
    const reclaimer = new Reclaimer();
    for (const bad of badZones.filter((z) => z !== undefined)) {
      const e = caught(() => startReclaim(space, { reclaimer, name: "a", zone: bad as FrameZone }));
      expect(e).toBeInstanceOf(InvalidArgumentError);
    }
    const e = caught(() =>
      startReclaim(space, { reclaimer, name: "a", zone: zone(), marks: { min: 2, low: 4, high: 8 } }),
    );
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect((e as InvalidArgumentError).argument).toBe("marks");
    // A clock without setTimeout failed after the space had been added and its gate set.
    expect(
      caught(() => startReclaim(space, { reclaimer, name: "a", clock: {} as ManualClock })),
    ).toBeInstanceOf(InvalidArgumentError);
    expect(reclaimer.stats().shrinkers).toEqual([]);
    expect((await space.read(v, 1))[0]).toBe(0);
    // The same space still takes a good one.
    const fr = startReclaim(space, { reclaimer, name: "a", zone: zone(), clock: new ManualClock() });
    expect(fr.stats()).toMatchObject({ min: 20, low: 40, high: 60 });
    fr.stop();
    await space.close();
  });

  it("refuses something that is not an address space", () => {
    const reclaimer = new Reclaimer();
    for (const bad of [undefined, null, {}, 7]) {
      expect(caught(() => startReclaim(bad as never, { reclaimer, name: "a" }))).toBeInstanceOf(
        InvalidArgumentError,
      );
    }
    expect(reclaimer.stats().shrinkers).toEqual([]);
  });
});
