/**
 * scatter() trusted the byte count its FileHandle reported. FileHandleLike is an interface anyone
 * can implement; a handle reporting more bytes than asked for made scatter write past the range it
 * was given (into the bytes that follow it in the mapping, another caller's data) and return more
 * than `length`; NaN or a negative count ended it with a count of NaN. Such a report now fails
 * with EIO, the bytes after the range untouched.
 */
import { describe, expect, it } from "vitest";
import { AddressSpace, MnemeError } from "../../src/index.js";
import { MemoryStore } from "./helpers.js";

const PS = 512;

/** A handle that fills what it is asked for with 7s and reports `report(asked)` bytes. */
function lyingHandle(report: (asked: number) => number) {
  return {
    read: async (b: Uint8Array, o: number, length: number) => {
      b.fill(7, o, o + length);
      return { bytesRead: report(length) };
    },
    write: async (_b: Uint8Array, _o: number, length: number) => ({ bytesWritten: length }),
  };
}

describe("scatter from a handle that misreports what it read", () => {
  for (const [name, report] of [
    ["more than asked", (asked: number) => asked + 100],
    ["NaN", () => Number.NaN],
    ["a negative count", () => -5],
  ] as const) {
    it(`${name}: EIO, and nothing past the range is written`, async () => {
      const space = new AddressSpace({ frames: 4, pageSize: PS });
      const v = space.map({ length: 4 * PS, store: new MemoryStore() });
      await space.write(v + 300, new Uint8Array(200).fill(1)); // a neighbour's bytes after the range
      const e = await space.scatter(v, 300, lyingHandle(report)).catch((x) => x);
      expect(e).toBeInstanceOf(MnemeError);
      expect((e as MnemeError).code).toBe("EIO");
      expect((await space.read(v + 300, 200)).every((x) => x === 1)).toBe(true);
      space.check();
    });
  }
});
