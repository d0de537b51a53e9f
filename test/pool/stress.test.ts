/**
 * The stress test of issue 4 on a single-segment pool: 4 real worker threads, 10^6 random
 * alloc/free operations each across the pool API and the heap, patterns verified before every
 * free, some frees done by another worker; exact accounting and check() at the end (stress.ts).
 * Near empty, nothing fails; near full, out-of-memory errors are frequent and handled.
 */
import { describe, expect, it } from "vitest";
import { stress } from "./stress.js";

const OPS = 1_000_000;
const SHAPE = { ops: OPS, maxLive: 200, maxPoolPages: 16, maxHeapBytes: 40_000 };

describe("pool stress, 4 workers x 10^6 operations", () => {
  it("near empty (64 MiB pool): no allocation fails", async () => {
    const { counts } = await stress({ ...SHAPE, bytes: 64 << 20, seed: 0x5eed1 });
    for (const k of counts) {
      expect(k.ops).toBeGreaterThanOrEqual(OPS);
      expect(k.poolOoms + k.heapOoms).toBe(0);
      expect(k.heapAllocs).toBeGreaterThan(OPS / 4);
      expect(k.poolAllocs).toBeGreaterThan(OPS / 8);
      expect(k.views).toBeGreaterThan(0);
      expect(k.handed).toBeGreaterThan(0);
    }
    // Every block handed over was received and freed by the next worker.
    const handed = counts.reduce((n, k) => n + k.handed, 0);
    expect(counts.reduce((n, k) => n + k.received, 0)).toBe(handed);
  });

  it("near full (2 MiB pool): OutOfPoolMemoryError is frequent and handled", async () => {
    const { counts } = await stress({ ...SHAPE, bytes: 2 << 20, seed: 0x5eed2 });
    for (const k of counts) {
      expect(k.ops).toBeGreaterThanOrEqual(OPS);
      expect(k.poolOoms).toBeGreaterThan(100);
    }
  });
});
