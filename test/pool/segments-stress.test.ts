/**
 * The same stress test on multi-segment pools of 1 MiB segments: addresses run past 2^32
 * (segment * 2^32 + offset), each worker allocates from its home segment first and moves on when
 * it is full. With segments this small, fragmentation makes a 16-page block fail now and then
 * even in the larger pool; both runs handle those failures.
 */
import { describe, expect, it } from "vitest";
import { stress } from "./stress.js";

const OPS = 1_000_000;
const SHAPE = { ops: OPS, maxLive: 200, maxPoolPages: 16, maxHeapBytes: 40_000 };

describe("multi-segment pool stress, 4 workers x 10^6 operations", () => {
  it("16 segments of 1 MiB (mostly empty)", async () => {
    const { counts, pool } = await stress({
      ...SHAPE,
      bytes: 16 << 20,
      options: { segmentBytes: 1 << 20 },
      seed: 0x5eed3,
    });
    expect(pool.segments.length).toBe(16);
    for (const k of counts) expect(k.ops).toBeGreaterThanOrEqual(OPS);
  });

  it("3 segments of 1 MiB (near full)", async () => {
    const { counts, pool } = await stress({
      ...SHAPE,
      bytes: 3 << 20,
      options: { segmentBytes: 1 << 20 },
      seed: 0x5eed4,
    });
    expect(pool.segments.length).toBe(3);
    for (const k of counts) {
      expect(k.ops).toBeGreaterThanOrEqual(OPS);
      expect(k.poolOoms).toBeGreaterThan(100);
    }
  });
});
