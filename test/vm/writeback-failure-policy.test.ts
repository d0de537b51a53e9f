/**
 * A victim whose writeback fails is put back as it was: resident, dirty, and where the policy had
 * it. Before, the pager told the policy "evicted" and then insert()ed the page again, which every
 * policy takes for a new reference: ARC, LIRS and S3-FIFO found the key among their ghosts and
 * promoted it as reused (ARC also grew its T1 target), LRU and CLOCK moved it to the recent end.
 * So a failed writeback made the coldest page look hot, and once the store recovered another page
 * was evicted in its place.
 *
 * Each case runs two spaces through the same references; in one of them the store fails the
 * victim's writeback once and the fault is retried. Afterwards both must hold the same pages in
 * the same policy state.
 */
import { describe, expect, it } from "vitest";
import { AddressSpace, policyNames, StoreError } from "../../src/index.js";
import { MemoryStore } from "./helpers.js";

const PS = 512;
const FRAMES = 4;
const PAGES = 16;
/** Page keys of the first store mapped in a space (store id 1). */
const key = (page: number) => 2 ** 32 + page;

async function run(policy: string, failOnce: boolean) {
  const store = new MemoryStore();
  const space = new AddressSpace({ frames: FRAMES, pageSize: PS, policy });
  const v = space.map({ length: PAGES * PS, store, hint: "random" });
  // Every frame dirty; pages 1..3 referenced again, so page 0 is the coldest.
  for (let i = 0; i < FRAMES; i++) await space.write(v + i * PS, new Uint8Array([i + 1]));
  for (let r = 0; r < 3; r++) for (let i = 1; i < FRAMES; i++) await space.read(v + i * PS, 1);
  if (failOnce) {
    store.failWrites = 1;
    const before = space.stats();
    await expect(space.read(v + 8 * PS, 1)).rejects.toBeInstanceOf(StoreError);
    space.check();
    const after = space.stats();
    expect(after).toMatchObject({
      resident: before.resident,
      dirty: before.dirty,
      evictions: before.evictions,
      writebacks: before.writebacks,
      faults: before.faults,
      inFlight: 0,
      arenaBytes: before.arenaBytes,
      storeErrors: before.storeErrors + 1,
    });
  }
  await space.read(v + 8 * PS, 1);
  await space.read(v + 9 * PS, 1);
  space.check();
  const resident = [];
  for (let page = 0; page < PAGES; page++) if (space.policy.has(key(page))) resident.push(page);
  const state = { resident, policy: space.policy.stats(), stats: space.stats() };
  await space.close();
  return state;
}

describe("a failed eviction writeback", () => {
  for (const policy of policyNames()) {
    it(`leaves ${policy}'s choice as it was`, async () => {
      const twin = await run(policy, false);
      const failed = await run(policy, true);
      expect(failed.resident).toEqual(twin.resident);
      expect(failed.policy).toEqual(twin.policy);
      expect(failed.stats).toMatchObject({
        resident: twin.stats.resident,
        dirty: twin.stats.dirty,
        evictions: twin.stats.evictions,
        faults: twin.stats.faults,
        // The failed attempt wrote nothing; the retry wrote the same victims back.
        writebacks: twin.stats.writebacks,
      });
    });
  }

  it("keeps a readOnce page first in line", async () => {
    const store = new MemoryStore();
    const space = new AddressSpace({ frames: FRAMES, pageSize: PS, policy: "lru" });
    const v = space.map({ length: PAGES * PS, store, hint: "random" });
    for (let i = 0; i < FRAMES; i++) await space.write(v + i * PS, new Uint8Array([i + 1]));
    // Page 2 was read once: it goes before the policy's own choice (page 0, the least recent).
    await space.advise(v + 2 * PS, PS, "readOnce");
    await space.read(v + 2 * PS, 1);
    store.failWrites = 1;
    await expect(space.read(v + 8 * PS, 1)).rejects.toBeInstanceOf(StoreError);
    await space.read(v + 8 * PS, 1);
    expect(space.policy.has(key(2))).toBe(false);
    expect(space.policy.has(key(0))).toBe(true);
    space.check();
    await space.close();
  });
});
