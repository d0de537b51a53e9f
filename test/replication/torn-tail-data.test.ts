/**
 * Torn tails whose data looks like log records: a batch carries pages written by clients, and
 * clients may write anything, including bytes that form a valid record (a copy of a mneme log,
 * say). A crash that cuts such a batch must still be a torn tail, cut and reported, not damage.
 */
import { readdirSync, readFileSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { FILE_HEADER } from "../../src/replication/file-backend.js";
import { Service } from "../../src/service/server.js";
import { startService, tempDir } from "../service/helpers.js";
import { recordOffsets } from "./log-files.js";

function lastSegment(dir: string): string {
  return join(
    dir,
    readdirSync(dir)
      .filter((f) => f.endsWith(".seg"))
      .sort()
      .at(-1)!,
  );
}

describe("a torn batch whose pages hold valid-looking records", () => {
  it("is cut as a torn tail, not refused as damage in the middle", async () => {
    const dir = tempDir();
    const svc = await startService({ replicate: `file:${dir}` });
    const r = new Redis({ port: svc.port });
    const keep = String(await r.call("ALLOC", 100));
    await r.call("WRITE", keep, 0, "kept");
    await r.call("SYNC");
    // A client stores a copy of the log so far (valid records, with their CRCs) in a block.
    const copy = readFileSync(lastSegment(dir)).subarray(FILE_HEADER);
    const h = String(await r.call("ALLOC", 8192));
    await r.call("WRITE", h, 0, copy);
    await r.call("SYNC");
    r.disconnect();
    await svc.close();

    const seg = lastSegment(dir);
    const offs = recordOffsets(seg);
    const batchAt = offs.at(-1)!;
    // The crash cut the last batch after the copied records but before its end.
    const size = readFileSync(seg).length;
    truncateSync(seg, size - 16);

    const again = new Service({ port: 0, data: tempDir(), memory: 16 << 20, replicate: `file:${dir}` });
    try {
      await again.listen();
      const rec = again.stats().replication.lastRecovery!;
      expect(rec.truncatedAt).toBe(batchAt);
      expect(again.caps.find(keep)).toBeDefined();
    } finally {
      await again.close();
    }
  });
});
