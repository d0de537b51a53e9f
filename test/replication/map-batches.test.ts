/**
 * MAP regions are replicated as blocks are (issue 8): once `replicationBatch` pages of a region
 * are dirty, a BATCH record carrying them is appended at once; the timer is only for the rest.
 */
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { startService, tempDir } from "../service/helpers.js";
import { until } from "./crash-helpers.js";

describe("batches of MAP region pages", () => {
  for (const store of ["anon", "file"] as const) {
    it(`a full batch of a region's pages (${store}) is appended without waiting for the delay`, async () => {
      const dir = tempDir();
      const config = { replicate: `file:${dir}`, replicationBatch: 4, replicationDelay: 60_000 };
      const svc = await startService(config);
      const r = new Redis({ port: svc.port });
      let h: string;
      try {
        const rep = svc.replication!;
        h = String(await r.call("MAP", 10 * 4096, ...(store === "file" ? ["STORE", "file", "m.bin"] : [])));
        for (let p = 0; p < 3; p++) await r.call("WRITE", h, p * 4096 + 1, `page ${p}`);
        expect(rep.stats().batches).toBe(0);
        await r.call("WRITE", h, 3 * 4096 + 1, "page 3");
        // Four pages dirty: one batch of four, with no SYNC and a delay that never passes here.
        expect(await until(() => rep.stats().batches === 1, 20_000), "no batch was cut").toBe(true);
        expect(rep.stats().lastBatchPages).toBe(4);
        expect(rep.stats().pendingPages).toBe(0);
        await r.call("WRITE", h, 5 * 4096, "page 5");
        expect(rep.stats().pendingPages).toBe(1);
      } finally {
        r.disconnect();
        await svc.close();
      }
      const again = await startService(config);
      const r2 = new Redis({ port: again.port });
      try {
        for (const p of [0, 1, 2, 3, 5]) {
          const at = p === 5 ? 5 * 4096 : p * 4096 + 1;
          expect(String(await r2.callBuffer("READ", h, at, 6))).toBe(`page ${p}`);
        }
      } finally {
        r2.disconnect();
        await again.close();
      }
    });
  }
});
