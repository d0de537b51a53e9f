/**
 * SYNC writes the dirty pages of the caller's own file-backed MAP regions. Alice's region is
 * backed by /dev/full (a symlink in her maps directory): its writeback fails with ENOSPC. Before
 * the fix SYNC wrote every identity's regions, so Bob's SYNC (and the default user's) failed with
 * Alice's error, which also told them about her region. A region being unmapped (its FREE under
 * way) is out of SYNC's list from the moment the vm layer takes it out of its tree.
 */
import { mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServerProcess, spawnServer, startService, tempDir } from "./helpers.js";

let server: ServerProcess;
const data = tempDir();

beforeAll(async () => {
  mkdirSync(join(data, "maps", "@alice"), { recursive: true });
  symlinkSync("/dev/full", join(data, "maps", "@alice", "full"));
  server = await spawnServer(["--data", data, "--user", "alice:pw1", "--user", "bob:pw2"]);
});

afterAll(async () => {
  await server.stop("SIGKILL");
});

function open(username?: string, password?: string): Promise<Redis> {
  const r = new Redis({ port: server.port, username, password, lazyConnect: true, maxRetriesPerRequest: 0 });
  return r.connect().then(() => r);
}

describe("SYNC of one identity", () => {
  it("writes its own file regions and is not failed by another identity's", async () => {
    const alice = await open("alice", "pw1");
    const bob = await open("bob", "pw2");
    const operator = await open();
    try {
      const hers = String(await alice.call("MAP", 4096, "STORE", "file", "full"));
      await alice.call("WRITE", hers, 0, "lost");
      const his = String(await bob.call("MAP", 4096, "STORE", "file", "notes"));
      await bob.call("WRITE", his, 0, "kept");
      expect(await bob.call("SYNC")).toBe("OK");
      expect(
        readFileSync(join(data, "maps", "@bob", "notes"))
          .subarray(0, 4)
          .toString(),
      ).toBe("kept");
      expect(await operator.call("SYNC")).toBe("OK");
      await expect(alice.call("SYNC")).rejects.toThrow(/ENOSPC|no space/i);
    } finally {
      for (const r of [alice, bob, operator]) r.disconnect();
    }
  });
});

describe("SYNC while a file region is being unmapped", () => {
  it("leaves that region to its unmap instead of failing on it", async () => {
    const svc = await startService();
    const r = new Redis({ port: svc.port, lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await r.connect();
      const h = String(await r.call("MAP", 8192, "STORE", "file", "racing"));
      await r.call("WRITE", h, 0, "bytes");
      const region = svc.caps.find(h)!;
      // The vm layer removes the mapping at the call; its writeback is still to come.
      const unmapping = svc.maps.unmap(region.address);
      await svc.maps.syncOwner("default");
      await unmapping;
    } finally {
      r.disconnect();
      await svc.close();
    }
  });
});
