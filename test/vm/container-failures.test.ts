/**
 * copy, gather and scatter when something fails in the middle: a FileHandle that errors after some
 * bytes, one that stops making progress, a store that fails partway through a copy. The contract:
 * the call rejects (with the handle's own error, or StoreError for a store), what was moved before
 * the failure stays moved, page by page in order, and nothing is left held: no transient ref, no
 * pin, no I/O in flight, so dontneed and unmap of the range complete at once.
 */
import { open } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AddressSpace, MnemeError, StoreError } from "../../src/index.js";
import { MemoryStore, pattern, tempDir } from "./helpers.js";

const PS = 512;
const tmp = tempDir();
afterAll(() => tmp.remove());

/** A store whose read of the page at `failOffset` always fails. */
class FailingAt extends MemoryStore {
  constructor(
    name: string,
    private readonly failOffset: number,
  ) {
    super(name);
  }
  override async readPage(offset: number, into: Uint8Array): Promise<void> {
    if (offset === this.failOffset) throw new Error(`injected read failure at ${offset}`);
    return super.readPage(offset, into);
  }
}

function space8() {
  const space = new AddressSpace({ frames: 8, pageSize: PS, policy: "lru" });
  const store = new MemoryStore();
  const v = space.map({ length: 8 * PS, store });
  return { space, store, v };
}

async function expectNothingHeld(space: AddressSpace, v: number): Promise<void> {
  expect(space.stats()).toMatchObject({ pinned: 0, pins: 0, inFlight: 0 });
  space.check();
  await space.advise(v, 8 * PS, "dontneed"); // would wait forever for a leaked ref
  await space.unmap(v);
  space.check();
}

describe("container operations that fail in the middle", () => {
  it("gather to a real file whose handle fails after 3 pages: those pages are in the file, nothing held", async () => {
    const { space, v } = space8();
    const data = pattern(8 * PS, 1);
    await space.write(v, data);
    const fh = await open(join(tmp.path, "gather.out"), "w+");
    let budget = 3 * PS;
    const failing = {
      read: fh.read.bind(fh),
      write: async (b: Uint8Array, o: number, length: number, position: number) => {
        if (budget <= 0) throw new Error("disk on fire");
        const r = await fh.write(b, o, Math.min(length, budget), position);
        budget -= r.bytesWritten;
        return r;
      },
    };
    await expect(space.gather(v, 8 * PS, failing)).rejects.toThrow("disk on fire");
    const got = new Uint8Array(8 * PS);
    const { bytesRead } = await fh.read(got, 0, got.length, 0);
    await fh.close();
    expect(bytesRead).toBe(3 * PS);
    expect(got.subarray(0, 3 * PS)).toEqual(data.subarray(0, 3 * PS));
    await expectNothingHeld(space, v);
  });

  it("gather to a handle that writes nothing fails instead of spinning with the page held", async () => {
    const { space, v } = space8();
    await space.write(v, pattern(PS, 2));
    let calls = 0;
    const stuck = {
      read: async () => ({ bytesRead: 0 }),
      write: async () => {
        // Without a bound this would spin forever in microtasks (no timer could end the test).
        if (++calls > 1000) throw new Error("spun 1000 times");
        return { bytesWritten: 0 };
      },
    };
    const e = await space.gather(v, PS, stuck).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(MnemeError);
    expect((e as MnemeError).code).toBe("EIO");
    expect(calls).toBe(1);
    await expectNothingHeld(space, v);
  });

  it("scatter from a handle that fails after 20 pages' worth: the chunks before it are written, the rest untouched", async () => {
    const space = new AddressSpace({ frames: 8, pageSize: PS, policy: "lru" });
    const store = new MemoryStore();
    const v = space.map({ length: 40 * PS, store });
    const source = pattern(40 * PS, 3);
    let served = 0;
    const failing = {
      write: async () => ({ bytesWritten: 0 }),
      read: async (b: Uint8Array, o: number, length: number, position: number) => {
        if (served >= 20 * PS) throw new Error("network gone");
        const n = Math.min(length, 20 * PS - served);
        b.set(source.subarray(position, position + n), o);
        served += n;
        return { bytesRead: n };
      },
    };
    await expect(space.scatter(v, 40 * PS, failing)).rejects.toThrow("network gone");
    expect(await space.read(v, 20 * PS)).toEqual(source.subarray(0, 20 * PS));
    expect(await space.read(v + 20 * PS, 20 * PS)).toEqual(new Uint8Array(20 * PS));
    expect(space.stats()).toMatchObject({ pinned: 0, inFlight: 0 });
    space.check();
    await space.unmap(v);
  });

  it("copy whose source store fails at page 4: pages 0-3 copied, the rest of the destination unchanged", async () => {
    const space = new AddressSpace({ frames: 2, pageSize: PS, policy: "lru" });
    const src = new FailingAt("src", 4 * PS);
    for (let p = 0; p < 8; p++) src.data.set(p * PS, pattern(PS, 10 + p));
    const dst = new MemoryStore("dst");
    const a = space.map({ length: 8 * PS, store: src, hint: "random" });
    const b = space.map({ length: 8 * PS, store: dst, hint: "random" });
    await space.write(b, pattern(8 * PS, 4));
    const e = await space.copy(a, b, 8 * PS).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(StoreError);
    const got = await space.read(b, 8 * PS);
    expect((e as StoreError).offset).toBe(4 * PS);
    for (let p = 0; p < 8; p++) {
      const want = p < 4 ? pattern(PS, 10 + p) : pattern(8 * PS, 4).subarray(p * PS, (p + 1) * PS);
      expect(got.subarray(p * PS, (p + 1) * PS), `page ${p}`).toEqual(want);
    }
    expect(space.stats()).toMatchObject({ pinned: 0, inFlight: 0 });
    space.check();
    await space.close();
  });
});
