/**
 * A mapping may be far larger than memory (it is virtual), so read(v, n) and peek(v, n) can be
 * asked for more bytes than one Uint8Array can hold. They threw a RangeError ("Invalid typed
 * array length"), not one of mneme's typed errors; now InvalidArgumentError, nothing changed.
 */
import { constants } from "node:buffer";
import { describe, expect, it } from "vitest";
import { AddressSpace, InvalidArgumentError } from "../../src/index.js";
import { expectCleanRejection, MemoryStore } from "./helpers.js";

describe("reads longer than one array", () => {
  it("read and peek of more than constants.MAX_LENGTH bytes: InvalidArgumentError, nothing changed", async () => {
    const space = new AddressSpace({ frames: 4, pageSize: 65536 });
    const v = space.map({ length: 2 ** 46, store: new MemoryStore() });
    await space.write(v + 2 ** 40, new Uint8Array([3]));
    for (const n of [constants.MAX_LENGTH + 1, 2 ** 40, 2 ** 46 - 1]) {
      const e = await expectCleanRejection(space, InvalidArgumentError, () => space.read(v + 1, n));
      expect(e.argument).toBe("length");
      await expectCleanRejection(space, InvalidArgumentError, () => space.peek(v + 1, n));
    }
    // Read in parts, or into a given array, it is all there.
    expect([...(await space.read(v + 2 ** 40 - 1, 3))]).toEqual([0, 3, 0]);
  });
});
