/**
 * Two AnonymousStores given the same swap path each truncated the file when they opened it and
 * wrote their slots over each other's: one store's swapped-out pages came back as zeros (or as the
 * other's bytes). A path in use by a store that is not closed is now refused at construction.
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AddressSpace, AnonymousStore, InvalidArgumentError } from "../../src/index.js";
import { tempDir } from "./helpers.js";

const PS = 512;
const tmp = tempDir();
afterAll(() => tmp.remove());

async function swapOut(store: AnonymousStore, fill: number) {
  const space = new AddressSpace({ frames: 1, pageSize: PS });
  const v = space.map({ length: 4 * PS, store });
  for (let p = 0; p < 4; p++) await space.write(v + p * PS, new Uint8Array(PS).fill(fill + p));
  return { space, v };
}

describe("one swap file per store", () => {
  it("a second store on a swap path in use is refused; the first keeps its pages", async () => {
    const path = join(tmp.path, "shared.swap");
    const first = new AnonymousStore({ swap: path });
    const { space, v } = await swapOut(first, 10);
    expect(() => new AnonymousStore({ swap: path })).toThrow(InvalidArgumentError);
    expect(() => new AnonymousStore({ swap: join(tmp.path, ".", "shared.swap") })).toThrow(
      InvalidArgumentError,
    );
    for (let p = 0; p < 4; p++)
      expect((await space.read(v + p * PS, PS)).every((x) => x === 10 + p)).toBe(true);
    await space.close();
    await first.close();
    // Closed, the path is free again.
    const next = new AnonymousStore({ swap: path });
    const again = await swapOut(next, 50);
    for (let p = 0; p < 4; p++) expect((await again.space.read(again.v + p * PS, 1))[0]).toBe(50 + p);
    await again.space.close();
    await next.close();
  });
});
