/**
 * The fsync policies' promises, observed through the replicator's figures (no clock thresholds):
 * `everysec` makes what was written durable on its own, with no SYNC; `batch` leaves it to SYNC
 * (and to rotations and checkpoints); `always` holds each reply until it is durable.
 */
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { startService, tempDir } from "../service/helpers.js";
import { until } from "./crash-helpers.js";

describe("fsync policies", () => {
  it("everysec: records become durable without SYNC, and fsyncs keep coming", async () => {
    const svc = await startService({
      replicate: `file:${tempDir()}`,
      appendfsync: "everysec",
      replicationBatch: 1,
    });
    const r = new Redis({ port: svc.port });
    try {
      const rep = svc.replication!;
      const h = String(await r.call("ALLOC", 100));
      await r.call("WRITE", h, 0, "x");
      const seq = rep.stats().seq;
      expect(seq).toBeGreaterThanOrEqual(2);
      expect(await until(() => rep.stats().durableSeq >= seq, 30_000), "never made durable").toBe(true);
      expect(rep.stats().fsyncs).toBeGreaterThan(0);
      expect(rep.stats().lagRecords).toBe(0);
    } finally {
      r.disconnect();
      await svc.close();
    }
  });

  it("batch: nothing is claimed durable until SYNC, then everything before it is", async () => {
    const svc = await startService({
      replicate: `file:${tempDir()}`,
      appendfsync: "batch",
      replicationBatch: 1,
    });
    const r = new Redis({ port: svc.port });
    try {
      const rep = svc.replication!;
      const h = String(await r.call("ALLOC", 100));
      await r.call("WRITE", h, 0, "x");
      const seq = rep.stats().seq;
      expect(rep.stats().durableSeq).toBeLessThan(seq);
      await r.call("SYNC");
      expect(rep.stats().durableSeq).toBeGreaterThanOrEqual(seq);
    } finally {
      r.disconnect();
      await svc.close();
    }
  });

  it("always: each reply comes with its records durable", async () => {
    const svc = await startService({ replicate: `file:${tempDir()}`, appendfsync: "always" });
    const r = new Redis({ port: svc.port });
    try {
      const rep = svc.replication!;
      const h = String(await r.call("ALLOC", 5000));
      expect(rep.stats().durableSeq).toBe(rep.stats().seq);
      await r.call("WRITE", h, 4000, "across two pages");
      expect(rep.stats().pendingPages).toBe(0);
      expect(rep.stats().durableSeq).toBe(rep.stats().seq);
      await r.call("FREE", h);
      expect(rep.stats().durableSeq).toBe(rep.stats().seq);
    } finally {
      r.disconnect();
      await svc.close();
    }
  });
});
