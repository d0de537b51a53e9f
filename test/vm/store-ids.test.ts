/**
 * Store ids name a store's pages in the page keys (id * 2^32 + page). A space kept the id, and
 * the store object, of every store it ever mapped: the service maps a new anonymous store per
 * MAP, so a long-running space grew without bound, and after 2^21 stores the keys passed 2^53,
 * where doubles round neighbouring pages of one store to the same key and their bytes mix. Ids
 * now go back with a store's last mapping and are reused once 2^20 fresh ones are spent.
 */
import { describe, expect, it } from "vitest";
import { AddressSpace, InvalidAddressError } from "../../src/index.js";
import { KEY_STRIDE } from "../../src/vm/frames.js";
import { MAX_STORE_ID, StoreIds } from "../../src/vm/store-ids.js";
import { MemoryStore } from "./helpers.js";

const PS = 512;

describe("store ids", () => {
  it("a space forgets a store with its last mapping, and serves the stores still mapped", async () => {
    const space = new AddressSpace({ frames: 3, pageSize: PS });
    const kept = new MemoryStore("kept");
    const a = space.map({ length: 3 * PS, store: kept });
    const b = space.map({ length: PS, store: kept, offset: 2 * PS }); // an alias of page 2
    await space.write(a + 2 * PS + 1, new Uint8Array([5]));
    for (let i = 0; i < 2000; i++) {
      const store = new MemoryStore(`churn ${i}`);
      const v = space.map({ length: 2 * PS - 1, store });
      await space.write(v + PS, new Uint8Array([i & 0xff]));
      expect((await space.read(v + PS, 1))[0]).toBe(i & 0xff);
      await space.unmap(v);
      expect(store.data.get(PS)?.[0]).toBe(i & 0xff);
    }
    expect(space.stats()).toMatchObject({ stores: 1, mappings: 2 });
    await space.unmap(a);
    expect(space.stats().stores).toBe(1); // b still maps it
    expect((await space.read(b + 1, 1))[0]).toBe(5);
    await space.unmap(b);
    expect(space.stats()).toMatchObject({ stores: 0, mappings: 0, resident: 0 });
    space.check();
  });

  it("ids stay where every key of them is exact, fresh ones first, then the longest free", () => {
    expect(Number.isSafeInteger(MAX_STORE_ID * KEY_STRIDE + KEY_STRIDE - 1)).toBe(true);
    // One id further, two pages of one store would share a key.
    expect((MAX_STORE_ID + 1) * KEY_STRIDE + 1).toBe((MAX_STORE_ID + 1) * KEY_STRIDE);
    const ids = new StoreIds(3, 5);
    expect([ids.take(), ids.take(), ids.take()]).toEqual([1, 2, 3]);
    ids.release(2);
    ids.release(1);
    expect([ids.take(), ids.take()]).toEqual([2, 1]); // past `fresh`: freed ids, oldest first
    expect([ids.take(), ids.take()]).toEqual([4, 5]); // none freed: fresh up to `max`
    expect(ids.available).toBe(false);
    expect(ids.take()).toBe(-1);
    ids.release(3);
    expect(ids.take()).toBe(3);
    expect(ids.used).toBe(5);
  });

  it("a peek whose store read is in flight when its mapping goes fails, as a read does", async () => {
    const store = new MemoryStore();
    const space = new AddressSpace({ frames: 2, pageSize: PS });
    const v = space.map({ length: 2 * PS, store });
    store.hold();
    const peek = space.peek(v, 2 * PS);
    const deadline = Date.now() + 10_000;
    while (store.reads === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    await space.unmap(v);
    store.release();
    await expect(peek).rejects.toBeInstanceOf(InvalidAddressError);
  });
});
