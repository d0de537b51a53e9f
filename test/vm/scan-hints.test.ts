/**
 * gather() pages like read(). Its page loop faulted each page with the mapping's hint but never
 * did what read() does after using a page: note it for the next fault's read-ahead, and apply the
 * kept hint's after-use action. So a gather of a normal mapping faulted every page alone (64
 * faults for 64 pages where read() has 14 and reads the rest ahead), and a gather of a readOnce
 * or sequential range pushed the caller's other pages out of memory, though those hints exist to
 * keep a scan from doing that.
 */
import { describe, expect, it } from "vitest";
import { AddressSpace } from "../../src/index.js";
import { MemoryStore } from "./helpers.js";

const PS = 512;
const PAGES = 64;

const sink = {
  read: async () => ({ bytesRead: 0 }),
  write: async (_b: Uint8Array, _o: number, length: number) => ({ bytesWritten: length }),
};

/** Scans a mapping of `hint` after touching 8 hot pages; returns the figures and the hot pages' refaults. */
async function scan(hint: "normal" | "sequential" | "readOnce", how: "read" | "gather") {
  const space = new AddressSpace({ frames: 16, pageSize: PS, policy: "lru" });
  const hot = space.map({ length: 8 * PS, store: new MemoryStore("hot") });
  for (let i = 0; i < 8; i++) await space.read(hot + i * PS, 1);
  const v = space.map({ length: PAGES * PS, store: new MemoryStore("scanned"), hint });
  const before = space.stats();
  if (how === "read") await space.read(v, PAGES * PS);
  else expect(await space.gather(v, PAGES * PS, sink)).toBe(PAGES * PS);
  const after = space.stats();
  for (let i = 0; i < 8; i++) await space.read(hot + i * PS, 1);
  const refaults = space.stats().faults - after.faults;
  space.check();
  await space.close();
  return { faults: after.faults - before.faults, readahead: after.readahead - before.readahead, refaults };
}

describe("gather() applies hints and read-ahead as read() does", () => {
  for (const hint of ["normal", "sequential", "readOnce"] as const) {
    it(`on a ${hint} mapping`, async () => {
      const read = await scan(hint, "read");
      const gathered = await scan(hint, "gather");
      expect(gathered).toEqual(read);
      expect(read.readahead).toBeGreaterThan(0);
      if (hint !== "normal") expect(read.refaults).toBe(0);
    });
  }
});
