/**
 * The swap file's directory is made on first use, with its missing parents. It was made with
 * Node's recursive mkdir, which below a pseudo-filesystem refusing new entries with ENOENT
 * (/proc/self/x/y) loops forever in a thread of libuv's pool: the fault that had to swap a dirty
 * page out never returned. It now fails with StoreError, the page stays dirty and resident, and
 * the space goes on. The /proc case runs in a child process (the old code's loop never ends).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AddressSpace, AnonymousStore } from "../../src/index.js";
import { tempDir } from "./helpers.js";

const PS = 4096;
const tmp = tempDir();
afterAll(() => tmp.remove());

describe("the swap file's directory", () => {
  it("is made with its missing parents", async () => {
    const path = join(tmp.path, "a", "b", "c", "s.swap");
    const store = new AnonymousStore({ swap: path });
    const space = new AddressSpace({ frames: 1 });
    const v = space.map({ length: 2 * PS, store });
    await space.write(v, new Uint8Array([1]));
    await space.write(v + PS, new Uint8Array([2])); // swaps page 0 out
    expect(existsSync(path)).toBe(true);
    expect([...(await space.read(v, 1))]).toEqual([1]);
    await space.close();
    await store.close();
  });

  it("below /proc: the eviction fails with StoreError and the dirty page stays, never a hang", () => {
    const script = `
      import { AddressSpace, AnonymousStore } from "./src/index.ts";
      const space = new AddressSpace({ frames: 1 });
      const v = space.map({ length: 2 * ${PS}, store: new AnonymousStore({ swap: "/proc/self/none/deeper/s.swap" }) });
      await space.write(v, new Uint8Array([7]));
      try { await space.write(v + ${PS}, new Uint8Array([8])); console.log("written"); }
      catch (e) { console.log(e.name, e.code, e.message); }
      const s = space.stats();
      console.log(JSON.stringify({ dirty: s.dirty, resident: s.resident, byte: (await space.read(v, 1))[0] }));
      space.check();
    `;
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: new URL("../../", import.meta.url).pathname,
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.error, "the fault did not return").toBeUndefined();
    const [first, second] = r.stdout.trim().split("\n");
    expect(first).toMatch(/^StoreError EIO .*open .*\/proc\/self\/none/);
    expect(JSON.parse(second)).toEqual({ dirty: 1, resident: 1, byte: 7 });
  });
});
