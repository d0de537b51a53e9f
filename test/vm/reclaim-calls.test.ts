/**
 * The calls the reclaim layer makes into an address space (shrink, writeback) validate their
 * arguments like every other public entry (DESIGN.md principle 4): a count that is not a
 * non-negative integer (or Infinity, for all) is refused with InvalidArgumentError and changes
 * nothing. writeback(NaN) used to write every dirty page back (no count is reached by n >= NaN),
 * shrink(NaN) or shrink(-1) quietly did nothing.
 */
import { describe, expect, it } from "vitest";
import { AddressSpace, InvalidArgumentError } from "../../src/index.js";
import { expectCleanRejection, MemoryStore } from "./helpers.js";

const PS = 1024;
const BAD = [Number.NaN, -1, 1.5, Number.NEGATIVE_INFINITY, "2", null, undefined, {}];

async function dirtySpace() {
  const store = new MemoryStore();
  const space = new AddressSpace({ frames: 4, pageSize: PS });
  const v = space.map({ length: 8 * PS - 3, store, hint: "random" });
  for (let i = 0; i < 3; i++) await space.write(v + i * PS + 5, new Uint8Array([i + 1]));
  await space.read(v + 7 * PS, 1); // one clean page
  return { space, store };
}

describe("shrink() and writeback() arguments", () => {
  it("bad counts are refused and change nothing", async () => {
    const { space, store } = await dirtySpace();
    for (const bad of BAD) {
      await expectCleanRejection(space, InvalidArgumentError, () => space.shrink(bad as number));
      await expectCleanRejection(space, InvalidArgumentError, () => space.writeback(bad as number));
    }
    await expectCleanRejection(space, InvalidArgumentError, () => space.writeback(1, Number.NaN));
    expect(store.writes).toBe(0);
    expect(space.stats()).toMatchObject({ resident: 4, dirty: 3 });
  });

  it("0, counts and Infinity work as before", async () => {
    const { space, store } = await dirtySpace();
    expect(space.shrink(0)).toBe(0);
    expect(await space.writeback(0)).toBe(0);
    expect(await space.writeback(1)).toBe(1);
    expect(await space.writeback(Number.POSITIVE_INFINITY)).toBe(2);
    expect(store.writes).toBe(3);
    expect(space.shrink(Number.POSITIVE_INFINITY)).toBe(4);
    space.check();
  });
});
