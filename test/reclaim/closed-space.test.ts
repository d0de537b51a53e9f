/**
 * Writeback and watermark reclaim on a space that close() or terminate() has ended: refused with
 * the space's own error (ECLOSED, or terminate()'s), nothing installed. Before, startWriteback
 * installed a flusher whose stop hook could never run: it reported running: true and its timers
 * went on for the life of the process.
 */
import { describe, expect, it } from "vitest";
import {
  AddressSpace,
  InvalidArgumentError,
  MnemeError,
  Reclaimer,
  startReclaim,
  startWriteback,
} from "../../src/index.js";
import { caught } from "../helpers/caught.js";

async function ended(how: "close" | "terminate"): Promise<AddressSpace> {
  const space = new AddressSpace({ frames: 8 });
  if (how === "close") await space.close();
  else space.terminate(new MnemeError("EGONE", "terminated by the test"));
  expect(space.closed).toBe(true);
  return space;
}

describe("reclaim on an ended address space", () => {
  for (const how of ["close", "terminate"] as const) {
    it(`after ${how}(): startWriteback and startReclaim throw its error and install nothing`, async () => {
      const space = await ended(how);
      const code = how === "close" ? "ECLOSED" : "EGONE";
      const e = caught(() => startWriteback(space, { interval: 10 }));
      expect(e).toBeInstanceOf(MnemeError);
      expect((e as MnemeError).code).toBe(code);
      expect(space.writeGate).toBeNull();
      const reclaimer = new Reclaimer();
      expect(caught(() => startReclaim(space, { reclaimer, name: "gone" }))).toBeInstanceOf(MnemeError);
      expect(reclaimer.stats().shrinkers).toEqual([]);
      expect(() => space.onClose(() => {})).toThrow(MnemeError);
    });
  }

  it("a live space still takes both, and close() stops them", async () => {
    const space = new AddressSpace({ frames: 8 });
    expect(space.closed).toBe(false);
    const flusher = startWriteback(space, { interval: 10 });
    const fr = startReclaim(space, { reclaimer: new Reclaimer(), name: "live" });
    expect(flusher.stats().running).toBe(true);
    // A hook that is not a function is refused at once, not a TypeError at close().
    for (const bad of [null, undefined, "stop", 1]) {
      expect(() => space.onClose(bad as never)).toThrow(InvalidArgumentError);
    }
    await space.close();
    expect(flusher.stats().running).toBe(false);
    fr.stop();
  });
});
