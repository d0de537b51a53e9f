/**
 * Model-based property tests of the object layer: random sequences of malloc / calloc / realloc /
 * alignedAlloc / free, named-cache alloc / free, vmalloc / vfree and frees of stale addresses, run
 * against a reference model that knows only what is live and which byte pattern each live
 * allocation holds. Every live allocation is filled with its own pattern, and ALL patterns are
 * verified before every free, so an allocator that ever hands out overlapping memory, or writes
 * its own metadata into live memory, is caught at the next free. heap.check() runs after every
 * step; at the end everything is freed and the heap must be back to a fresh heap's figures.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  Heap,
  type HeapOptions,
  InvalidAddressError,
  OutOfMemoryError,
  type SlabCache,
} from "../../src/index.js";
import { expectCleanFailure, freshHeapStats } from "./helpers.js";

type Command =
  | { kind: "malloc"; size: number }
  | { kind: "calloc"; count: number; size: number }
  | { kind: "realloc"; pick: number; size: number }
  | { kind: "aligned"; alignLog: number; size: number }
  | { kind: "cacheAlloc"; cache: number }
  | { kind: "free"; pick: number }
  | { kind: "vmalloc"; size: number }
  | { kind: "vfree"; pick: number }
  | { kind: "stale"; pick: number };

interface Live {
  /** "heap": kmalloc or large; "cache": a named cache's object; "v": a vmalloc area. */
  kind: "heap" | "cache" | "v";
  cache: number;
  /** Bytes the pattern covers: the usable size, the object size or the area's size. */
  length: number;
  pattern: number;
}

const CACHE_SIZES = [24, 117, 1000];

function commands(ps: number): fc.Arbitrary<Command[]> {
  const size = fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 1, max: 1024 }) },
    { weight: 2, arbitrary: fc.integer({ min: 1025, max: 8192 }) },
    { weight: 1, arbitrary: fc.integer({ min: 8193, max: 48 * 1024 }) },
  );
  const pick = fc.nat();
  const command: fc.Arbitrary<Command> = fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant("malloc" as const), size }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("calloc" as const),
        count: fc.integer({ min: 1, max: 16 }),
        size: fc.integer({ min: 1, max: 600 }),
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("realloc" as const), pick, size }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant("aligned" as const),
        // Up to the page size and a little beyond it (page-layer alignment).
        alignLog: fc.constantFrom(0, 3, 4, 6, 8, Math.log2(ps), Math.log2(ps) + 2),
        size,
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant("cacheAlloc" as const),
        cache: fc.integer({ min: 0, max: CACHE_SIZES.length - 1 }),
      }),
    },
    { weight: 9, arbitrary: fc.record({ kind: fc.constant("free" as const), pick }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("vmalloc" as const),
        size: fc.oneof(fc.integer({ min: 1, max: 6 * ps }), fc.integer({ min: 1, max: 40 * ps })),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("vfree" as const), pick }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("stale" as const), pick }) },
  );
  return fc.array(command, { minLength: 1, maxLength: 150, size: "max" });
}

/** Runs one command sequence against a fresh heap and the model. */
class Run {
  readonly heap: Heap;
  readonly caches: SlabCache[];
  readonly live = new Map<number, Live>();
  /** Addresses freed during the run, for stale frees. */
  readonly freed: number[] = [];
  readonly patternsInUse = new Set<number>();
  usedVmalloc = false;
  /** One buffer per pattern byte, sliced for comparisons (native memcmp through Buffer). */
  private readonly reference = new Map<number, Buffer>();

  constructor(readonly options: HeapOptions) {
    this.heap = new Heap(options);
    this.caches = CACHE_SIZES.map((s, i) => this.heap.createCache(`prop-${i}`, s));
  }

  private nextPattern(): number {
    // 1..255, never one held by a live allocation: neighbours always differ.
    for (let p = 1; p < 256; p++) if (!this.patternsInUse.has(p)) return p;
    throw new Error("more than 255 live allocations");
  }

  private ref(pattern: number, length: number): Buffer {
    let b = this.reference.get(pattern);
    if (!b || b.length < length) {
      b = Buffer.alloc(Math.max(length, 64 * 1024), pattern);
      this.reference.set(pattern, b);
    }
    return b.subarray(0, length);
  }

  private bytesOf(address: number, entry: Live): Buffer {
    if (entry.kind === "v") {
      const r = this.heap.vread(address, entry.length);
      return Buffer.from(r.buffer, r.byteOffset, r.length);
    }
    const m = this.heap.memory;
    return Buffer.from(m.buffer, m.byteOffset + address, entry.length);
  }

  private write(address: number, entry: Live): void {
    if (entry.kind === "v") this.heap.vwrite(address, this.ref(entry.pattern, entry.length));
    else this.heap.memory.fill(entry.pattern, address, address + entry.length);
  }

  private add(address: number, entry: Omit<Live, "pattern">): void {
    expect(this.live.has(address), `address ${address} handed out while live`).toBe(false);
    const full: Live = { ...entry, pattern: this.nextPattern() };
    this.patternsInUse.add(full.pattern);
    this.live.set(address, full);
    this.write(address, full);
  }

  private remove(address: number): void {
    const e = this.live.get(address)!;
    this.patternsInUse.delete(e.pattern);
    this.live.delete(address);
    if (e.kind !== "v") this.freed.push(address);
  }

  /** Every live allocation still holds its own pattern. */
  verifyAll(): void {
    for (const [address, e] of this.live) {
      if (!this.bytesOf(address, e).equals(this.ref(e.pattern, e.length))) {
        const bytes = this.bytesOf(address, e);
        const at = bytes.findIndex((b) => b !== e.pattern);
        expect.fail(`${e.kind} allocation at ${address} (${e.length} bytes) lost its pattern at +${at}`);
      }
    }
  }

  private pick(kind: Live["kind"], n: number): number | undefined {
    const keys = [...this.live].filter(([, e]) => e.kind === kind).map(([a]) => a);
    return keys.length === 0 ? undefined : keys[n % keys.length];
  }

  private pickAny(n: number): number | undefined {
    const keys = [...this.live].filter(([, e]) => e.kind !== "v").map(([a]) => a);
    return keys.length === 0 ? undefined : keys[n % keys.length];
  }

  /** Runs an allocation; an OutOfMemoryError is an allowed outcome, anything else fails. */
  private attempt(fn: () => number): number | undefined {
    try {
      return fn();
    } catch (e) {
      if (e instanceof OutOfMemoryError) return undefined;
      throw e;
    }
  }

  private checkHeapAllocation(a: number, size: number, align = 8): void {
    expect(a % align).toBe(0);
    expect(this.heap.usableSize(a)).toBeGreaterThanOrEqual(size);
  }

  step(c: Command): void {
    const heap = this.heap;
    switch (c.kind) {
      case "malloc": {
        const a = this.attempt(() => heap.malloc(c.size));
        if (a === undefined) break;
        this.checkHeapAllocation(a, c.size);
        this.add(a, { kind: "heap", cache: -1, length: heap.usableSize(a) });
        break;
      }
      case "calloc": {
        const a = this.attempt(() => heap.calloc(c.count, c.size));
        if (a === undefined) break;
        const bytes = c.count * c.size;
        this.checkHeapAllocation(a, bytes);
        expect(heap.memory.subarray(a, a + bytes).every((b) => b === 0)).toBe(true);
        this.add(a, { kind: "heap", cache: -1, length: heap.usableSize(a) });
        break;
      }
      case "realloc": {
        const a = this.pick("heap", c.pick);
        if (a === undefined) break;
        const old = this.live.get(a)!;
        this.verifyAll();
        const b = this.attempt(() => heap.realloc(a, c.size));
        if (b === undefined) break;
        this.checkHeapAllocation(b, c.size);
        // min(old, new) bytes kept.
        const kept = Math.min(old.length, c.size);
        const m = heap.memory;
        expect(Buffer.from(m.buffer, m.byteOffset + b, kept).equals(this.ref(old.pattern, kept))).toBe(true);
        this.remove(a);
        if (b !== a) expect(this.live.has(b)).toBe(false);
        this.add(b, { kind: "heap", cache: -1, length: heap.usableSize(b) });
        break;
      }
      case "aligned": {
        const align = 2 ** c.alignLog;
        const a = this.attempt(() => heap.alignedAlloc(align, c.size));
        if (a === undefined) break;
        this.checkHeapAllocation(a, c.size, align);
        this.add(a, { kind: "heap", cache: -1, length: heap.usableSize(a) });
        break;
      }
      case "cacheAlloc": {
        const cache = this.caches[c.cache];
        const a = this.attempt(() => cache.alloc());
        if (a === undefined) break;
        expect(heap.usableSize(a)).toBe(cache.objectSize);
        this.add(a, { kind: "cache", cache: c.cache, length: cache.objectSize });
        break;
      }
      case "free": {
        const a = this.pickAny(c.pick);
        if (a === undefined) break;
        this.verifyAll();
        const e = this.live.get(a)!;
        // Cache objects go back through their cache half the time, through heap.free otherwise.
        if (e.kind === "cache" && c.pick % 2 === 0) this.caches[e.cache].free(a);
        else heap.free(a);
        this.remove(a);
        break;
      }
      case "vmalloc": {
        const v = this.attempt(() => heap.vmalloc(c.size));
        if (v === undefined) break;
        this.usedVmalloc = true;
        this.add(v, { kind: "v", cache: -1, length: c.size });
        break;
      }
      case "vfree": {
        const v = this.pick("v", c.pick);
        if (v === undefined) break;
        this.verifyAll();
        heap.vfree(v);
        this.remove(v);
        break;
      }
      case "stale": {
        if (this.freed.length === 0) break;
        const a = this.freed[c.pick % this.freed.length];
        // Handed out again since: then it is live and not stale.
        if (this.live.has(a)) break;
        expectCleanFailure(heap, InvalidAddressError, () => heap.free(a), `stale free(${a})`);
        break;
      }
    }
    heap.check();
    const s = heap.stats();
    const areas = [...this.live.values()].filter((e) => e.kind === "v");
    expect(s.vmalloc.areas).toBe(areas.length);
    expect(s.vmalloc.bytes).toBe(areas.reduce((n, e) => n + e.length, 0));
    // Every live heap allocation is either a slab object or a large block.
    expect(s.objects + s.large.count).toBe(this.live.size - areas.length);
  }

  /** Frees everything (verifying all patterns before each free) and shrinks. */
  drain(): void {
    const order = [...this.live.keys()];
    for (const a of order) {
      this.verifyAll();
      const e = this.live.get(a)!;
      if (e.kind === "v") this.heap.vfree(a);
      else this.heap.free(a);
      this.remove(a);
      this.heap.check();
    }
    this.heap.shrink();
    this.heap.check();
  }
}

function property(options: HeapOptions, seed: number, numRuns: number): void {
  const fresh = freshHeapStats(options);
  const ps = fresh.pageLayer.pageSize;
  fc.assert(
    // Half of the runs leave vmalloc out, so that the exact page-layer comparison below runs often.
    fc.property(fc.boolean(), commands(ps), (withVmalloc, cmds) => {
      const run = new Run(options);
      for (const c of cmds) {
        if (withVmalloc || (c.kind !== "vmalloc" && c.kind !== "vfree")) run.step(c);
      }
      run.drain();
      const end = run.heap.stats();
      expect(end.footprint, "footprint back to root + reserve").toBe(fresh.footprint);
      expect(end.free).toBe(fresh.free);
      expect(end.pageLayer.free).toBe(fresh.pageLayer.free);
      expect(end.objects).toBe(0);
      expect(end.large).toEqual({ count: 0, bytes: 0 });
      expect(end.reserve).toEqual(fresh.reserve);
      // Without vmalloc the page layer must be block for block a fresh heap's. With vmalloc it is
      // not (the reserve ends up holding other pages, the bug that vmalloc.test.ts and
      // reserve.test.ts report), so only the figures above are compared then.
      if (!run.usedVmalloc) {
        expect(end.pageLayer.freeBlocksPerOrder).toEqual(fresh.pageLayer.freeBlocksPerOrder);
        expect(end.pageLayer).toEqual(fresh.pageLayer);
      }
    }),
    { seed, numRuns },
  );
}

// A directory with room for every aligned cache the sequences can create (see kmalloc.test.ts
// for the default directory running full).
const BASE = { maxCaches: 160 };

describe("object layer against a reference model", () => {
  // Arenas small enough that the larger requests run out of memory now and then.
  it("4096-byte pages", () => {
    property({ ...BASE, bytes: 512 << 10, pageSize: 4096 }, 0x0b1ec7, 500);
  });

  it("512-byte pages", () => {
    property({ ...BASE, bytes: 512 << 10, pageSize: 512 }, 0x512, 400);
  });

  it("a shared arena (SharedArrayBuffer)", () => {
    const options = { ...BASE, bytes: 512 << 10, pageSize: 4096, shared: true };
    expect(new Heap(options).pages.arena.buffer).toBeInstanceOf(SharedArrayBuffer);
    property(options, 0x5ba2ed, 200);
  });

  it("debug mode (red zones and poisoning stay out of live memory)", () => {
    property({ ...BASE, bytes: 512 << 10, pageSize: 4096, debug: true }, 0xdeb, 120);
  });
});
