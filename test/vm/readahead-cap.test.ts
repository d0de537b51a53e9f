/**
 * Read-ahead takes at most a quarter of the frames: the largest window is readahead.max, capped at
 * frames / 4. The first window was readahead.initial uncapped, so with 8 frames and the default
 * initial window of 4 the first sequential fault read 4 pages ahead, twice the largest window,
 * evicting pages to make room for guesses. Now the first window is capped alike, and stats()
 * reports both windows as in force (DESIGN.md principle 5: every tunable is reported).
 */
import { describe, expect, it } from "vitest";
import { AddressSpace } from "../../src/index.js";
import { MemoryStore } from "./helpers.js";

const PS = 4096;

describe("the read-ahead cap", () => {
  it("holds for the first window as for the later ones", async () => {
    for (const frames of [4, 8, 12]) {
      const space = new AddressSpace({ frames, policy: "lru" });
      const v = space.map({ length: 64 * PS, store: new MemoryStore(), hint: "sequential" });
      let last = 0;
      for (let p = 0; p < 64; p++) {
        await space.read(v + p * PS, 1);
        const ra = space.stats().readahead;
        expect(ra - last, `${frames} frames, page ${p}`).toBeLessThanOrEqual(Math.floor(frames / 4));
        last = ra;
      }
      expect(last).toBeGreaterThan(0);
      await space.close();
    }
  });

  it("stats() reports the windows in force", () => {
    const cases: Array<[number, { initial?: number; max?: number } | undefined, number, number]> = [
      [8, undefined, 2, 2],
      [400, undefined, 4, 32],
      [1000, { initial: 8, max: 64 }, 8, 64],
      [3, undefined, 0, 0],
    ];
    for (const [frames, readahead, initial, max] of cases) {
      const s = new AddressSpace({ frames, readahead }).stats();
      expect(s).toMatchObject({ readaheadInitial: initial, readaheadMax: max });
    }
  });
});
