/**
 * FREE of a MAP region whose unmap fails. The region's file is /dev/full (a symlink in the data
 * directory): writes to it fail with ENOSPC, so the dirty pages cannot be written back and the vm
 * layer keeps the mapping. Before the fix FREE replied OK, refunded the quota, logged the UNMAP and
 * forgot the handle while the region stayed mapped, its written bytes never stored. Now FREE
 * replies the error and the handle works as before (READ, WRITE, SIZE, the quota), and the next
 * FREE tries again.
 */
import { mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServerProcess, spawnServer, tempDir } from "./helpers.js";

let server: ServerProcess;
let r: Redis;

beforeAll(async () => {
  const data = tempDir();
  mkdirSync(join(data, "maps"));
  // One file per test: regions of one identity on one file share their pages, so a second region
  // on the first one's file would unmap without a writeback.
  symlinkSync("/dev/full", join(data, "maps", "full"));
  symlinkSync("/dev/full", join(data, "maps", "full2"));
  server = await spawnServer(["--data", data, "--quota-handles", "2"]);
  r = new Redis({ port: server.port, lazyConnect: true, maxRetriesPerRequest: 0 });
  await r.connect();
});

afterAll(async () => {
  r.disconnect();
  await server.stop("SIGKILL");
});

async function figures(): Promise<Record<string, number>> {
  const flat = (await r.call("STATS")) as (string | number)[];
  const out: Record<string, number> = {};
  for (let i = 0; i < flat.length; i += 2) out[String(flat[i])] = Number(flat[i + 1]);
  return out;
}

describe("FREE of a MAP region whose writeback fails", () => {
  it("replies the store's error and leaves the handle usable, the quota charged", async () => {
    const h = String(await r.call("MAP", 3 * 4096 + 5, "STORE", "file", "full"));
    const data = Buffer.alloc(4096 + 5, 0x5a); // up to the last byte
    expect(await r.callBuffer("WRITE", h, 4096 * 2, data)).toBe(data.length);
    const before = await figures();
    expect(before.identity_handles).toBe(1);

    await expect(r.call("FREE", h)).rejects.toThrow(/^ERR .*(ENOSPC|no space)/i);
    expect(await r.call("SIZE", h)).toBe(3 * 4096 + 5);
    expect(((await r.callBuffer("READ", h, 4096 * 2, data.length)) as Buffer).equals(data)).toBe(true);
    expect(await r.callBuffer("WRITE", h, 0, Buffer.from("still mine"))).toBe(10);
    const after = await figures();
    expect(after.identity_handles).toBe(before.identity_handles);
    expect(after.handles).toBe(before.handles);
    expect(after.frees).toBe(before.frees);
    // The quota (2 handles) still counts it: one more fits, a third does not.
    const other = String(await r.call("MAP", 4096));
    await expect(r.call("MAP", 4096)).rejects.toThrow(/quota exceeded.*holds 2 handles/);
    expect(await r.call("FREE", other)).toBe("OK");

    // Tried again, it fails again the same way and changes nothing.
    await expect(r.call("FREE", h)).rejects.toThrow(/ENOSPC|no space/i);
    expect(((await r.callBuffer("READ", h, 0, 10)) as Buffer).toString()).toBe("still mine");
  });

  it("a pipeline of FREE, READ, FREE on such a region: both FREEs fail, the READ in between works", async () => {
    const h = String(await r.call("MAP", 4096, "STORE", "file", "full2"));
    await r.callBuffer("WRITE", h, 4095, Buffer.from("z"));
    const out =
      (await r.pipeline().call("FREE", h).callBuffer("READ", h, 4095, 1).call("FREE", h).exec()) ?? [];
    expect(String(out[0][0])).toMatch(/ENOSPC|no space/i);
    expect((out[1][1] as Buffer).toString()).toBe("z");
    expect(String(out[2][0])).toMatch(/ENOSPC|no space/i);
    expect(await r.call("SIZE", h)).toBe(4096);
  });
});
