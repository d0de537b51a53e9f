/**
 * One flusher per address space. A second startWriteback replaced the first's write gate while the
 * first's timers went on writing pages until close() (two flushers, the first out of reach);
 * stop() left the throttle on the space's writes, so a stopped flusher still paced every writer;
 * and start() after close() ran timers for the life of the process.
 */
import { describe, expect, it } from "vitest";
import {
  AddressSpace,
  InvalidArgumentError,
  ManualClock,
  MnemeError,
  startWriteback,
} from "../../src/index.js";
import { caught } from "../helpers/caught.js";
import { MemoryStore } from "../vm/helpers.js";

const PS = 4096;

/** A space of 16 frames over a 64-page mapping of memory. */
function smallSpace(clock: ManualClock): { space: AddressSpace; v: number } {
  const space = new AddressSpace({ frames: 16, now: clock.now });
  const v = space.map({ length: 64 * PS, store: new MemoryStore() });
  return { space, v };
}

describe("startWriteback, once per space", () => {
  it("refuses a second flusher while the first runs, changing nothing", async () => {
    const clock = new ManualClock();
    const { space, v } = smallSpace(clock);
    const first = startWriteback(space, { clock, interval: 1_000 });
    const gate = space.writeGate;
    const e = caught(() => startWriteback(space, { clock, interval: 1_000 }));
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect(space.writeGate).toBe(gate);
    await space.write(v, new Uint8Array([1]));
    await clock.advance(1_000);
    await first.settled();
    // One wake-up, by the one flusher; nothing else is left running after close().
    expect(first.stats().wakeups).toBe(1);
    await space.close();
    expect(first.stats().running).toBe(false);
  });

  it("stop() takes the throttle off the writes, start() puts it back; a new one may start after stop()", async () => {
    const clock = new ManualClock();
    const { space, v } = smallSpace(clock);
    const first = startWriteback(space, { clock, lowRatio: 0.1, highRatio: 0.2, batch: 1 });
    for (let p = 0; p < 8; p++) await space.write(v + p * PS, new Uint8Array([p + 1]));
    const throttled = first.stats().throttled;
    expect(throttled).toBeGreaterThan(0);
    first.stop();
    expect(space.writeGate).toBeNull();
    for (let p = 8; p < 12; p++) await space.write(v + p * PS, new Uint8Array([p + 1]));
    expect(first.stats().throttled).toBe(throttled);
    first.start();
    await space.write(v + 12 * PS, new Uint8Array([13]));
    expect(first.stats().throttled).toBe(throttled + 1);

    first.stop();
    const second = startWriteback(space, { clock, lowRatio: 0.1, highRatio: 0.2, batch: 1 });
    // The first cannot take the gate back while the second holds it.
    expect(caught(() => first.start())).toBeInstanceOf(InvalidArgumentError);
    expect(first.stats().running).toBe(false);
    await space.write(v + 13 * PS, new Uint8Array([14]));
    expect(second.stats().throttled).toBe(1);
    for (let p = 0; p < 14; p++) expect((await space.read(v + p * PS, 1))[0]).toBe(p + 1);
    await space.close();
    expect(second.stats().running).toBe(false);
  });

  it("start() after the space closed throws ECLOSED and starts nothing", async () => {
    const clock = new ManualClock();
    const { space } = smallSpace(clock);
    const flusher = startWriteback(space, { clock, interval: 1_000 });
    await space.close();
    const e = caught(() => flusher.start());
    expect(e).toBeInstanceOf(MnemeError);
    expect((e as MnemeError).code).toBe("ECLOSED");
    expect(flusher.stats().running).toBe(false);
    await clock.advance(10_000);
    expect(flusher.stats().wakeups).toBe(0);
  });

  it("a bad clock or options are refused before anything is installed; a good call then works", async () => {
    const clock = new ManualClock();
    const { space, v } = smallSpace(clock);
    for (const bad of [{}, { now: () => 0 }, "clock"]) {
      const e = caught(() => startWriteback(space, { clock: bad as never }));
      expect(e).toBeInstanceOf(InvalidArgumentError);
      expect(space.writeGate).toBeNull();
    }
    expect(caught(() => startWriteback(space, null as never))).toBeInstanceOf(InvalidArgumentError);
    expect(space.writeGate).toBeNull();
    await space.write(v, new Uint8Array([1]));
    const flusher = startWriteback(space, { clock });
    expect(flusher.stats().running).toBe(true);
    await space.close();
  });

  it("refuses something that is not an address space", () => {
    for (const bad of [undefined, null, {}, "space"]) {
      expect(caught(() => startWriteback(bad as never))).toBeInstanceOf(InvalidArgumentError);
    }
  });
});
