/**
 * gather() and pin() page like read(). Their page loops faulted each page with the mapping's hint
 * but never did what read() does after using a page: note it for the next fault's read-ahead, and
 * apply the kept hint's after-use action. So a gather or a pin of a normal mapping faulted every
 * page alone (32 faults, each its own store round trip, for 32 pages where read() has 4 and reads
 * the rest ahead), and a gather of a readOnce or sequential range pushed the caller's other pages
 * out of memory, though those hints exist to keep a scan from doing that (a pin, whose pages stay
 * until released, reads ahead but leaves the eviction front alone). And both asked for the
 * read-ahead window of resident pages too, which grows it: a sequential range read 8 pages more
 * than read() past a 32-page pin.
 */
import { describe, expect, it } from "vitest";
import { AddressSpace } from "../../src/index.js";
import { MemoryStore } from "./helpers.js";

const PS = 512;

const sink = {
  read: async () => ({ bytesRead: 0 }),
  write: async (_b: Uint8Array, _o: number, length: number) => ({ bytesWritten: length }),
};

type Hint = "normal" | "sequential" | "readOnce";
type How = "read" | "gather" | "pin";

async function access(space: AddressSpace, how: How, v: number, length: number): Promise<void> {
  if (how === "read") await space.read(v, length);
  else if (how === "gather") expect(await space.gather(v, length, sink)).toBe(length);
  // A read-only pin: a writable one dirties its pages, which read-ahead then cannot reuse.
  else (await space.pin(v, length, { write: false })).release();
}

/**
 * Scans `pages` pages of a mapping of `hint` after touching 8 hot pages; returns the figures, the
 * pages the store read (in order) and the hot pages' refaults.
 */
async function scan(hint: Hint, how: How, frames: number, pages: number) {
  const space = new AddressSpace({ frames, pageSize: PS, policy: "lru" });
  const hot = space.map({ length: 8 * PS, store: new MemoryStore("hot") });
  for (let i = 0; i < 8; i++) await space.read(hot + i * PS, 1);
  const store = new MemoryStore("scanned");
  const v = space.map({ length: 2 * pages * PS, store, hint });
  const before = space.stats();
  // A pin holds its pages: it scans in pieces that leave room for the read-ahead.
  const step = how === "pin" ? Math.min(pages, frames / 4) : pages;
  for (let p = 0; p < pages; p += step) await access(space, how, v + p * PS, step * PS);
  const after = space.stats();
  for (let i = 0; i < 8; i++) await space.read(hot + i * PS, 1);
  const refaults = space.stats().faults - after.faults;
  space.check();
  await space.close();
  return {
    faults: after.faults - before.faults,
    readahead: after.readahead - before.readahead,
    pagesRead: store.readOffsets.map((o) => o / PS),
    refaults,
  };
}

describe("gather() and pin() apply hints and read-ahead as read() does", () => {
  for (const how of ["gather", "pin"] as const) {
    for (const hint of ["normal", "sequential", "readOnce"] as const) {
      it(`${how} of a ${hint} mapping, under pressure`, async () => {
        const read = await scan(hint, "read", 16, 64);
        const other = await scan(hint, how, 16, 64);
        expect(read.readahead).toBeGreaterThan(0);
        if (how === "gather") {
          expect(other).toEqual(read);
          if (hint !== "normal") expect(read.refaults).toBe(0);
        } else {
          // A pin reads like read() but leaves the eviction front alone (see pin.ts).
          expect({ ...other, refaults: 0 }).toEqual({ ...read, refaults: 0 });
        }
      });

      it(`${how} of a ${hint} mapping, with room to read ahead`, async () => {
        const read = await scan(hint, "read", 128, 32);
        const other = await scan(hint, how, 128, 32);
        expect(other).toEqual(read);
      });
    }
  }
});
