/**
 * Store constructors validate their options like every public entry. FileStore took any value
 * for its switches: readOnly "false" (a string, so truthy) made a store that map() treated as
 * writable (it checks readOnly === true) and whose every write back failed, so the dirty pages
 * could never leave; a null options object was a TypeError.
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AddressSpace, FileStore, InvalidArgumentError } from "../../src/index.js";
import { tempDir } from "./helpers.js";

const tmp = tempDir();
afterAll(() => tmp.remove());

describe("FileStore options", () => {
  it("refuses switches that are not booleans and options that are not an object", () => {
    const path = join(tmp.path, "f.bin");
    for (const bad of ["false", "true", 0, 1, null]) {
      expect(() => new FileStore(path, { readOnly: bad as unknown as boolean })).toThrow(
        InvalidArgumentError,
      );
      expect(() => new FileStore(path, { create: bad as unknown as boolean })).toThrow(InvalidArgumentError);
    }
    for (const bad of [null, 5, "r"]) {
      expect(() => new FileStore(path, bad as unknown as { create?: boolean })).toThrow(InvalidArgumentError);
    }
  });

  it("readOnly false and true behave as booleans through map(), write() and sync()", async () => {
    const path = join(tmp.path, "g.bin");
    const writable = new FileStore(path, { readOnly: false });
    const space = new AddressSpace({ frames: 2, pageSize: 512 });
    const v = space.map({ length: 1000, store: writable });
    await space.write(v + 999, new Uint8Array([5]));
    await space.sync();
    await space.close();
    await writable.close();
    const readOnly = new FileStore(path, { readOnly: true, create: false });
    const again = new AddressSpace({ frames: 2, pageSize: 512 });
    const w = again.map({ length: 1000, store: readOnly });
    expect((await again.read(w + 999, 1))[0]).toBe(5);
    await expect(again.write(w, new Uint8Array([1]))).rejects.toMatchObject({ code: "EACCES" });
    await again.close();
    await readOnly.close();
  });
});
