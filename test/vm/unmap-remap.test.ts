/**
 * unmap() of one mapping while another mapping of the same store appears: the pages unmap drops
 * (and, for an anonymous store, the swap slots it discards) are those no other mapping covers at
 * the moment it drops them, not at the moment it began. A mapping made while the unmap waits (for
 * a gather's ref here) shares the pages, and what is written through it must stay.
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AddressSpace, AnonymousStore } from "../../src/index.js";
import { heldHandle, pattern, settle, tempDir } from "./helpers.js";

const PS = 512;
const tmp = tempDir();
afterAll(() => tmp.remove());

describe("unmap while the store is mapped again", () => {
  it("a write through a mapping made during an anonymous unmap is kept, in memory and in swap", async () => {
    const store = new AnonymousStore({ swap: join(tmp.path, "remap.swap") });
    const space = new AddressSpace({ frames: 4, pageSize: PS, policy: "lru" });
    const a = space.map({ length: 2 * PS, store });
    await space.write(a, pattern(PS, 1));
    await space.write(a + PS, pattern(PS, 2));
    await space.advise(a + PS, PS, "dontneed"); // page 1 lives in its swap slot now
    const held = heldHandle();
    const gathering = space.gather(a, PS, held.handle); // unmap waits for this ref on page 0
    await settle();
    const unmapping = space.unmap(a);
    await settle();
    space.check(); // an unmap in progress: its page 0 is still resident, not an orphan
    const b = space.map({ length: 2 * PS, store });
    await space.write(b, pattern(PS, 3)); // the page unmap is waiting to drop
    held.finish();
    await gathering;
    await unmapping;
    expect(await space.read(b, PS)).toEqual(pattern(PS, 3));
    expect(await space.read(b + PS, PS)).toEqual(pattern(PS, 2));
    expect(space.stats().mappings).toBe(1);
    space.check();
    await space.close();
    await store.close();
  });
});
