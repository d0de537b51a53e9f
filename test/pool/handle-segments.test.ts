/**
 * Handles put together by hand (or garbled on the way to a worker) from a multi-segment pool's
 * buffers: reordered, cut short, repeated, or mixed with another pool's. Each buffer is a valid
 * segment, so attach took them; the addresses of segment i then went to whichever buffer came
 * i-th, and a free through such a handle released a block of another segment (or another pool).
 * Now they are an InvalidArgumentError, with nothing claimed.
 */
import { describe, expect, it } from "vitest";
import { InvalidArgumentError, Mempool } from "../../src/index.js";
import { expectCleanFailure } from "./helpers.js";

const PS = 4096;

describe("Mempool.attach of a handle whose buffers are not one pool's segments in order", () => {
  it("is refused, and nothing changes in either pool", () => {
    const pool = Mempool.create(3 << 20, { segmentBytes: 1 << 20 });
    const other = Mempool.create(3 << 20, { segmentBytes: 1 << 20 });
    const [a, b, c] = pool.handle.buffers;
    const [x, y, z] = other.handle.buffers;
    const kept = pool.alloc(2 * PS);
    const cases: Array<[string, SharedArrayBuffer[]]> = [
      ["reordered", [b, a, c]],
      ["cut short", [a, b]],
      ["from the second segment on", [b, c]],
      ["a segment twice", [a, a, c]],
      ["the last segment another pool's", [a, b, z]],
      ["the first segment another pool's", [x, b, c]],
      ["the middle segment another pool's", [a, y, c]],
    ];
    for (const [what, buffers] of cases) {
      const label = `attach of a handle ${what}`;
      const otherBefore = JSON.stringify(other.stats());
      expectCleanFailure(
        pool,
        InvalidArgumentError,
        () => Mempool.attach({ kind: "mneme.mempool", buffers }),
        label,
      );
      expect(JSON.stringify(other.stats()), label).toBe(otherBefore);
    }
    // The real handles still attach.
    for (const p of [pool, other]) Mempool.attach(p.handle).close();
    pool.free(kept);
    pool.check();
    other.check();
  });
});
