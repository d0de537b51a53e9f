/**
 * A store unmapped from one address space may be mapped in another (DESIGN.md: a store's frames
 * belong to one space at a time, not the store itself). What the first space does afterwards must
 * not reach the store: its terminate() (the OOM killer's kill) closes the stores it maps, and a
 * store it no longer maps is not one of them.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AddressSpace, AnonymousStore, FileStore, MnemeError } from "../../src/index.js";
import { tempDir } from "./helpers.js";

const PS = 4096;
const tmp = tempDir();
afterAll(() => tmp.remove());

describe("a store handed from one space to another", () => {
  it("terminate() of the space that mapped it before leaves its swap to the space that maps it now", async () => {
    const swap = join(tmp.path, "handed.swap");
    const store = new AnonymousStore({ swap });
    const first = new AddressSpace({ frames: 4, pageSize: PS });
    const a = first.map({ length: PS, store });
    await first.write(a, new Uint8Array([1]));
    await first.unmap(a);

    const second = new AddressSpace({ frames: 2, pageSize: PS, policy: "lru" });
    const b = second.map({ length: 8 * PS, store });
    for (let i = 0; i < 8; i++) await second.write(b + i * PS, new Uint8Array(100).fill(i + 1));
    expect(store.stats().swapSlots).toBeGreaterThanOrEqual(6);

    first.terminate(new MnemeError("EKILLED", "killed by the test"));
    // A close of the store forgets every slot at once, and removes the file soon after.
    expect(store.stats().swapSlots).toBeGreaterThanOrEqual(6);
    for (let i = 0; i < 8; i++)
      expect((await second.read(b + i * PS, 100)).every((x) => x === i + 1)).toBe(true);
    expect(existsSync(swap)).toBe(true);
    second.check();
    await second.close();
    await store.close();
  });

  it("terminate() still closes the stores the killed space maps", async () => {
    const swap = join(tmp.path, "killed.swap");
    const store = new AnonymousStore({ swap });
    const space = new AddressSpace({ frames: 1, pageSize: PS });
    const v = space.map({ length: 2 * PS, store });
    await space.write(v, new Uint8Array([1]));
    await space.write(v + PS, new Uint8Array([2]));
    expect(existsSync(swap)).toBe(true);
    space.terminate(new MnemeError("EKILLED", "killed by the test"));
    const deadline = Date.now() + 10_000;
    while (existsSync(swap) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(existsSync(swap)).toBe(false);
  });

  it("a store of a terminated space can be mapped by another space, with what was synced before the kill", async () => {
    const store = new FileStore(join(tmp.path, "after-kill.bin"));
    const killed = new AddressSpace({ frames: 2, pageSize: PS });
    const v = killed.map({ length: 3 * PS, store });
    await killed.write(v + PS - 1, new Uint8Array([7, 8]));
    await killed.sync();
    await killed.write(v, new Uint8Array([9])); // never written back: lost with the kill
    killed.terminate(new MnemeError("EKILLED", "killed by the test"));
    const next = new AddressSpace({ frames: 2, pageSize: PS });
    const w = next.map({ length: 3 * PS, store });
    expect([...(await next.read(w, 1))]).toEqual([0]);
    expect([...(await next.read(w + PS - 1, 2))]).toEqual([7, 8]);
    await next.close();
    await store.close();
  });
});
