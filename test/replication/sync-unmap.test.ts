/**
 * A SYNC from one client while another client FREEs (unmaps) a MAP region failed with "ERR Cannot
 * read properties of undefined (reading 'discard')": AddressSpace.sync() lists every page key,
 * then cleans them in batches with awaits between, and a region unmapped meanwhile had no store
 * for its keys (fixed in src/vm/sync.ts; test/vm/sync-unmap.test.ts is the deterministic case).
 * Found by the crash rounds of three identities (one mapping regions, the others syncing).
 */
import { describe, expect, it } from "vitest";
import { spawnServer, tempDir } from "../service/helpers.js";
import { CrashModel } from "./crash-driver.js";
import { kill9, sleep } from "./crash-helpers.js";

describe("SYNC while another client unmaps a MAP region", () => {
  it("every SYNC succeeds (12 rounds, three identities, one with MAP regions)", async () => {
    const args = ["--replicate", `file:${tempDir()}`, "--user", "alice:pw-a", "--user", "bob:pw-b"];
    const users = [undefined, { name: "alice", password: "pw-a" }, { name: "bob", password: "pw-b" }];
    const models = users.map((u, i) => new CrashModel(i === 1, u));
    for (let round = 0; round < 12; round++) {
      const srv = await spawnServer(args);
      try {
        for (const m of models) await m.verify(srv.port);
        const stop = { killed: false };
        const driving = models.map((m, i) => m.drive(srv.port, 3000 + round * 10 + i, false, stop));
        await sleep(400);
        stop.killed = true;
        await kill9(srv);
        await Promise.all(driving);
      } finally {
        await kill9(srv);
      }
    }
    for (const m of models) expect(m.acked.syncs).toBeGreaterThan(0);
  });
});
