/**
 * A space without a given page layer makes its own, of frames x pageSize bytes, and an arena
 * holds at most 4 GiB (addresses are below 2^32). frames within the documented 1 .. 2^24 but
 * past that (2^20 frames of 4 KiB) failed with the arena's words, "invalid bytes 4304400384",
 * an argument the caller never gave; the error now names frames and what limits it.
 */
import { describe, expect, it } from "vitest";
import { AddressSpace, InvalidArgumentError } from "../../src/index.js";

describe("frames beyond one arena", () => {
  it("is refused as an invalid frames count, naming the 4 GiB arena", () => {
    for (const [frames, pageSize] of [
      [2 ** 20, 4096],
      [2 ** 24, 512],
      [2 ** 16, 65536],
    ]) {
      let error: unknown;
      try {
        new AddressSpace({ frames, pageSize });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error).toMatchObject({ argument: "frames" });
      expect((error as Error).message).toMatch(/4 GiB/);
    }
  });
});
