/**
 * Multi-segment pools (1 MiB segments): the same semantics suite, plus what is particular to
 * them: addresses beyond 2^32, no single memory, blocks never spanning two segments.
 */
import { describe, expect, it } from "vitest";
import { InvalidArgumentError, Mempool } from "../../src/index.js";
import { fillPool } from "./helpers.js";
import { semanticsSuite } from "./semantics.js";

const PS = 4096;

semanticsSuite("4 segments of 1 MiB", 4 << 20, { segmentBytes: 1 << 20 });

describe("multi-segment pools", () => {
  it("span several SharedArrayBuffers; addresses are segment * 2^32 + offset, beyond 2^32", () => {
    const pool = Mempool.create(4 << 20, { segmentBytes: 1 << 20 });
    expect(pool.segments.length).toBe(4);
    expect(pool.handle.buffers.length).toBe(4);
    expect(() => pool.memory).toThrow(InvalidArgumentError);
    const fresh = pool.stats();
    const blocks = fillPool(pool, 16 * PS);
    const segments = new Set(blocks.map((a) => Math.floor(a / 2 ** 32)));
    expect(segments).toEqual(new Set([0, 1, 2, 3]));
    expect(Math.max(...blocks)).toBeGreaterThan(2 ** 32);
    for (const [i, a] of blocks.entries()) {
      const v = pool.view(a, 16 * PS);
      expect(v.buffer).toBe(pool.handle.buffers[Math.floor(a / 2 ** 32)]);
      // A block never spans two segments.
      expect(v.byteOffset + v.length).toBeLessThanOrEqual(v.buffer.byteLength);
      v.fill(i & 255);
    }
    for (const [i, a] of blocks.entries()) {
      expect(pool.view(a, 16 * PS).every((x) => x === (i & 255))).toBe(true);
      pool.free(a);
    }
    pool.check();
    expect(pool.stats().free).toBe(fresh.free);
  });

  it("a block larger than a segment is out of pool memory, not an error of another kind", () => {
    const pool = Mempool.create(3 << 20, { segmentBytes: 1 << 20 });
    expect(() => pool.alloc(1 << 20)).toThrowError(/no contiguous space/);
  });

  it("rejects segment sizes no engine can give", () => {
    expect(() => Mempool.create(4 << 20, { segmentBytes: 2 ** 31 + 1 })).toThrow(InvalidArgumentError);
    expect(() => Mempool.create(4 << 20, { segmentBytes: 0 })).toThrow(InvalidArgumentError);
  });
});

describe("pool and segment sizes", () => {
  it("a pool just past a multiple of segmentBytes works: its last segment of a few pages grows to hold its own structures", () => {
    for (const extra of [1, PS, 3 * PS, 40_000]) {
      const pool = Mempool.create((3 << 20) + extra, { segmentBytes: 1 << 20 });
      expect(pool.segments.length).toBe(4);
      expect(pool.stats().total).toBeGreaterThanOrEqual((3 << 20) + extra - PS);
      const blocks = fillPool(pool, PS);
      expect(new Set(blocks.map((a) => Math.floor(a / 2 ** 32)))).toEqual(new Set([0, 1, 2, 3]));
      for (const a of blocks) pool.free(a);
      pool.check();
      pool.close();
    }
  });

  it("a pool or a segment size too small for the pool's own structures is an InvalidArgumentError naming it", () => {
    const bad = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e as InvalidArgumentError;
      }
      throw new Error("no error");
    };
    const small = bad(() => Mempool.create(100));
    expect(small).toBeInstanceOf(InvalidArgumentError);
    expect(small.argument).toBe("bytes");
    expect(small.value).toBe(100);
    expect(small.message).toMatch(/too small for a pool segment of 16 worker slots/);
    const seg = bad(() => Mempool.create(1 << 20, { segmentBytes: 64 * 1024, maxWorkers: 4 }));
    expect(seg).toBeInstanceOf(InvalidArgumentError);
    expect(seg.argument).toBe("segmentBytes");
    // The same sizes with room for the structures are fine.
    Mempool.create(256 * 1024).close();
    Mempool.create(1 << 20, { segmentBytes: 128 * 1024, maxWorkers: 4 }).close();
  });
});
