/**
 * Unmapping a huge sparse anonymous mapping. A mapping is virtual, so it may span 2^32 pages (the
 * most one store's page keys name) while only a few are ever touched. unmap() found the store
 * ranges to discard by asking, page by page, whether another mapping covered each one: about a
 * minute for a mapping of 2^32 pages, during which the call did not return. It now works run by
 * run over the other mappings, in time of their number, not of the pages.
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AddressSpace, AnonymousStore } from "../../src/index.js";
import { tempDir } from "./helpers.js";

const PS = 512;
const MAX_PAGES = 2 ** 32;
const tmp = tempDir();
afterAll(() => tmp.remove());

describe("unmap of sparse anonymous mappings", () => {
  // The deadline only tells a hang from a result: the work is a handful of pages.
  it("returns at once for three mappings of 2^32 pages, discarding what they swapped", {
    timeout: 60_000,
  }, async () => {
    const space = new AddressSpace({ frames: 2, pageSize: PS });
    const stores = [0, 1, 2].map((i) => new AnonymousStore({ swap: join(tmp.path, `s${i}.swap`) }));
    const length = MAX_PAGES * PS;
    const starts: number[] = [];
    for (const store of stores) {
      const v = space.map({ length, store });
      starts.push(v);
      for (const at of [0, length / 2 + 3, length - 1]) await space.write(v + at, new Uint8Array([7]));
      expect(await space.read(v + length - 1, 1)).toEqual(new Uint8Array([7]));
      expect(store.stats().swapSlots).toBeGreaterThan(0);
    }
    // Another mapping of one store's first pages keeps their bytes (and swap slots) past the unmap.
    const keep = space.map({ length: 4 * PS, store: stores[0] });
    for (const v of starts) await space.unmap(v);
    expect(space.stats()).toMatchObject({ mappings: 1, stores: 1 });
    expect(stores[1].stats().swapSlots).toBe(0);
    expect(stores[2].stats().swapSlots).toBe(0);
    expect(await space.read(keep, 1)).toEqual(new Uint8Array([7]));
    space.check();
    await space.close();
    for (const store of stores) await store.close();
  });
});
