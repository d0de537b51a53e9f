/**
 * OutOfMemoryError from the vm layer, one test per reason the issue names (all-pinned,
 * fragmented, no-backing-store, quota): each fails at once (never a hang), carries the figures
 * that explain it, and leaves the space as it was. Odd page sizes and lengths on purpose.
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AddressSpace, AnonymousStore, OutOfMemoryError, PageAllocator } from "../../src/index.js";
import { expectCleanRejection, MemoryStore, tempDir } from "./helpers.js";

const tmp = tempDir();
afterAll(() => tmp.remove());

describe("OutOfMemoryError reasons and figures", () => {
  it("all-pinned: every frame pinned; the message counts them, debugInfo names the holder, peek still works", async () => {
    const ps = 2048;
    const space = new AddressSpace({ frames: 3, pageSize: ps });
    const v = space.map({ length: 5 * ps - 1, store: new MemoryStore() });
    await space.write(v + 5 * ps - 2, new Uint8Array([9]));
    const pin = await space.pin(v + ps - 1, ps + 2, { owner: "the holder" }); // pages 0, 1, 2
    const e = await expectCleanRejection(space, OutOfMemoryError, () => space.read(v + 4 * ps, 1));
    expect(e).toMatchObject({ reason: "all-pinned", requested: ps, free: 0, largestFree: 0 });
    expect(e.message).toMatch(/all 3 frames .* 3 resident pages are pinned/);
    expect(space.debugInfo()).toContain('"the holder" holds');
    expect([...(await space.peek(v + 5 * ps - 2, 1))]).toEqual([9]); // evicted by the pin, read from the store
    pin.release();
    expect([...(await space.read(v + 5 * ps - 2, 1))]).toEqual([9]);
    space.check();
  });

  it("fragmented: the page layer has the bytes of a frame but no aligned block of them", async () => {
    const pages = new PageAllocator({ bytes: 64 * 1024, pageSize: 4096 });
    const held: number[] = [];
    for (;;) {
      try {
        held.push(pages.alloc(4096));
      } catch {
        break;
      }
    }
    for (let i = 0; i < held.length; i += 2) pages.free(held[i]);
    const space = new AddressSpace({ frames: 4, pageSize: 8192, pages });
    const v = space.map({ length: 3 * 8192 + 5, store: new MemoryStore() });
    const e = await expectCleanRejection(space, OutOfMemoryError, () => space.read(v + 8192, 3));
    expect(e.reason).toBe("fragmented");
    expect(e.requested).toBe(8192);
    expect(e.largestFree).toBe(4096);
    expect(e.free).toBeGreaterThanOrEqual(8192);
    pages.free(held[1]);
    expect([...(await space.read(v + 8192, 3))]).toEqual([0, 0, 0]);
    space.check();
  });

  it("no-backing-store: only dirty anonymous pages without swap are left to evict", async () => {
    const ps = 512;
    const space = new AddressSpace({ frames: 2, pageSize: ps });
    const v = space.map({ length: 3 * ps + 1, store: new AnonymousStore({ swap: false }) });
    await space.write(v, new Uint8Array([1]));
    await space.write(v + 3 * ps, new Uint8Array([2]));
    const e = await expectCleanRejection(space, OutOfMemoryError, () => space.read(v + ps, 1));
    expect(e).toMatchObject({ reason: "no-backing-store", requested: ps });
    expect(e.message).toContain("cannot leave memory");
    expect([...(await space.read(v + 3 * ps, 1))]).toEqual([2]);
  });

  it("quota: the swap file is at its cap; the figures give the cap room left, too small for a slot", async () => {
    const ps = 1024;
    const store = new AnonymousStore({ swap: join(tmp.path, "q.swap"), swapCap: ps + ps / 2 });
    const space = new AddressSpace({ frames: 1, pageSize: ps });
    const v = space.map({ length: 4 * ps - 3, store });
    await space.write(v, new Uint8Array([1]));
    await space.write(v + ps, new Uint8Array([2])); // page 0 goes to the only slot
    const e = await expectCleanRejection(space, OutOfMemoryError, () =>
      space.write(v + 4 * ps - 4, new Uint8Array([3])),
    );
    expect(e).toMatchObject({ reason: "quota", requested: ps, free: ps / 2 });
    expect(e.message).toContain(`cap of ${ps + ps / 2} bytes`);
    // Only that operation failed: the space still serves what fits.
    expect([...(await space.read(v + ps, 1))]).toEqual([2]);
    await space.close();
    await store.close();
  });
});
