/**
 * stats() while four real worker threads allocate and free (the stress workers of issue 4, near
 * full so that pages change hands all the time). Each sample, taken without any lock, must be
 * possible: free bytes between 0 and the total, no negative charge or cache, the largest free
 * block within the free bytes, no more bytes charged to workers than are in use. At the end, with
 * the workers gone, the figures are exact (stress.ts). The last two failed in about one sample of
 * 50,000 when stats() read the page layer's counters one after another while the workers' fast
 * paths changed them; it now takes them from one walk (Segment.census).
 */
import { describe, expect, it } from "vitest";
import type { Mempool } from "../../src/index.js";
import { stress } from "./stress.js";

describe("pool stats() sampled while workers run", () => {
  it("near full (2 MiB), 4 workers x 200,000 operations: every sample is possible", async () => {
    const seen: { pool: Mempool | null } = { pool: null };
    let samples = 0;
    const impossible: string[] = [];
    let running = true;
    const sampler = (async () => {
      while (running) {
        if (seen.pool !== null) {
          const s = seen.pool.stats();
          samples++;
          if (s.free < 0 || s.free > s.total) impossible.push(`free ${s.free} of ${s.total}`);
          for (const w of s.workers)
            if (w.bytes < 0 || w.allocations < 0 || w.cachedPages < 0)
              impossible.push(`worker ${JSON.stringify(w)}`);
          const charged = s.workers.reduce((n, w) => n + w.bytes, 0);
          if (s.contiguous > s.free) impossible.push(`contiguous ${s.contiguous} > free ${s.free}`);
          if (charged > s.total - s.free) impossible.push(`charged ${charged} > used ${s.total - s.free}`);
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    try {
      await stress({
        bytes: 2 << 20,
        ops: 200_000,
        maxLive: 200,
        maxPoolPages: 16,
        maxHeapBytes: 40_000,
        seed: 0x5747,
        created: (p) => {
          seen.pool = p;
        },
      });
    } finally {
      running = false;
      await sampler;
    }
    expect(samples).toBeGreaterThan(1000);
    expect(impossible.slice(0, 5)).toEqual([]);
  });
});
