/**
 * Two FileStore objects of one file mapped in one space had a page cache each: a write through
 * one mapping was not seen through the other, and whichever wrote its page back last overwrote
 * the other's bytes in the file (a real file mapped twice shows one set of bytes). A second
 * object of a file the space maps through another is now refused at map(), changing nothing; the
 * one object may be mapped as often as needed, and those mappings share their pages. The same
 * holds across address spaces: a file mapped in one space (through any object) is refused in
 * another until its mappings there are gone (unmap, close or terminate), or the second space's
 * writes back of its stale copy of a page undid the first's; unless no space maps it writable,
 * where each cache stays true to the file.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, describe, expect, it } from "vitest";
import { AddressSpace, FileStore, InvalidArgumentError } from "../../src/index.js";
import { tempDir } from "./helpers.js";

const PS = 512;
const tmp = tempDir();
afterAll(() => tmp.remove());

describe("one file, one store object per space", () => {
  it("a second FileStore of a mapped file is refused; mappings of the one object agree", async () => {
    const path = join(tmp.path, "f.bin");
    const first = new FileStore(path);
    const space = new AddressSpace({ frames: 4, pageSize: PS });
    const a = space.map({ length: 3 * PS, store: first });
    const before = JSON.stringify(space.stats());
    expect(() => space.map({ length: PS, store: new FileStore(path) })).toThrow(InvalidArgumentError);
    expect(() => space.map({ length: PS, store: new FileStore(join(tmp.path, ".", "f.bin")) })).toThrow(
      InvalidArgumentError,
    );
    expect(JSON.stringify(space.stats())).toBe(before);
    const b = space.map({ length: 2 * PS, store: first, offset: PS });
    await space.write(a + PS + 7, new Uint8Array([1, 2, 3]));
    expect([...(await space.read(b + 7, 3))]).toEqual([1, 2, 3]);
    await space.write(b + 8, new Uint8Array([9]));
    await space.sync();
    expect([...(await readFile(path)).subarray(PS + 7, PS + 10)]).toEqual([1, 9, 3]);
    // Once the file's mappings are gone, another object of it may be mapped.
    await space.unmap(a);
    await space.unmap(b);
    const second = new FileStore(path);
    const c = space.map({ length: 2 * PS, store: second });
    expect([...(await space.read(c + PS + 7, 3))]).toEqual([1, 9, 3]);
    await space.close();
    await first.close();
    await second.close();
  });

  it("a file mapped in one space is refused in another until it leaves the first", async () => {
    const path = join(tmp.path, "g.bin");
    const one = new AddressSpace({ frames: 4, pageSize: PS });
    const two = new AddressSpace({ frames: 4, pageSize: PS });
    const mine = new FileStore(path);
    const theirs = new FileStore(path);
    const a = one.map({ length: 2 * PS, store: mine });
    await one.write(a, new Uint8Array([1, 1, 1, 1]));
    await one.sync();
    const before = JSON.stringify(two.stats());
    expect(() => two.map({ length: 2 * PS, store: theirs })).toThrow(InvalidArgumentError);
    expect(() => two.map({ length: PS, store: new FileStore(join(tmp.path, "x", "..", "g.bin")) })).toThrow(
      /another address space/,
    );
    expect(JSON.stringify(two.stats())).toBe(before);
    await one.unmap(a);
    const b = two.map({ length: 2 * PS, store: theirs });
    await two.write(b + 2, new Uint8Array([7]));
    expect(() => one.map({ length: PS, store: mine })).toThrow(InvalidArgumentError);
    await two.close();
    expect([...(await readFile(path)).subarray(0, 4)]).toEqual([1, 1, 7, 1]);
    // Gone from the second (close), it maps in the first again; terminate frees it too.
    const c = one.map({ length: PS, store: mine });
    expect([...(await one.read(c, 4))]).toEqual([1, 1, 7, 1]);
    one.terminate(new Error("killed"));
    const three = new AddressSpace({ frames: 2, pageSize: PS });
    const d = three.map({ length: PS, store: theirs });
    expect([...(await three.read(d, 4))]).toEqual([1, 1, 7, 1]);
    await three.close();
    await mine.close();
    await theirs.close();
  });

  it("spaces may share a file while none maps it writable", async () => {
    const path = join(tmp.path, "h.bin");
    await writeFile(path, new Uint8Array([5, 6, 7]));
    const one = new AddressSpace({ frames: 2, pageSize: PS });
    const two = new AddressSpace({ frames: 2, pageSize: PS });
    const mine = new FileStore(path);
    const theirs = new FileStore(path, { readOnly: true });
    const a = one.map({ length: PS, store: mine, writable: false });
    const b = two.map({ length: PS, store: theirs });
    expect([...(await one.read(a, 3))]).toEqual([5, 6, 7]);
    expect([...(await two.read(b, 3))]).toEqual([5, 6, 7]);
    // A writable mapping in either would let the other's cache go stale.
    expect(() => one.map({ length: PS, store: mine })).toThrow(/another address space/);
    await two.unmap(b);
    const c = one.map({ length: PS, store: mine });
    expect(() => two.map({ length: PS, store: theirs })).toThrow(InvalidArgumentError);
    await one.write(c, new Uint8Array([1]));
    await one.close();
    const d = two.map({ length: PS, store: theirs });
    expect([...(await two.read(d, 3))]).toEqual([1, 6, 7]);
    await two.close();
    await mine.close();
    await theirs.close();
  });

  it("a space dropped without close() is not kept alive by the registry, nor keeps the file", async () => {
    const path = join(tmp.path, "i.bin");
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    let dropped: WeakRef<AddressSpace> | undefined;
    (() => {
      const forgotten = new AddressSpace({ frames: 2, pageSize: PS });
      forgotten.map({ length: PS, store: new FileStore(path) });
      dropped = new WeakRef(forgotten);
    })();
    const later = new AddressSpace({ frames: 2, pageSize: PS });
    const store = new FileStore(path);
    // A WeakRef's target lives to the end of the job that made it: collect from a later one.
    for (let round = 0; round < 50 && dropped?.deref() !== undefined; round++) {
      await new Promise((resolve) => setImmediate(resolve));
      gc();
    }
    expect(dropped?.deref(), "the dropped space was collected").toBeUndefined();
    const v = later.map({ length: PS, store });
    await later.write(v, new Uint8Array([3]));
    await later.close();
    await store.close();
  });
});
