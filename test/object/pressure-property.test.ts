/**
 * The heap near exhaustion, as fast-check property tests: random mixes of malloc, cache allocs
 * (one cache with a constructor), realloc and vmalloc, each with or without { wait: false }, on a
 * heap whose registered shrinkers free live blocks and allocate themselves (the shrinkers a
 * cache of user data would register). What must hold (issue 3, the metadata reserve):
 * - the only failures are OutOfMemoryErrors, and check() passes after every step;
 * - a { wait: false } failure changes nothing (no shrinker runs, nothing is taken);
 * - every live block keeps its bytes, whatever the shrinkers and the reserve did;
 * - freeing everything returns the heap to a fresh heap's figures.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Heap, type HeapOptions, OutOfMemoryError, type SlabCache } from "../../src/index.js";
import { freshHeapStats } from "./helpers.js";

type Command =
  | { kind: "malloc"; size: number; wait: boolean }
  | { kind: "cache"; cache: number; wait: boolean }
  | { kind: "realloc"; pick: number; size: number; wait: boolean }
  | { kind: "vmalloc"; size: number; wait: boolean }
  | { kind: "free"; pick: number };

interface Block {
  kind: "heap" | "cache" | "v";
  address: number;
  length: number;
  fill: number;
  /** The user's shrinker may free it (an entry of the user's own cache). */
  evictable: boolean;
}

function commands(ps: number, capacity: number): fc.Arbitrary<Command[]> {
  const wait = fc.boolean();
  const size = fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 1, max: 2048 }) },
    { weight: 2, arbitrary: fc.integer({ min: 2049, max: 8192 }) },
    { weight: 2, arbitrary: fc.integer({ min: 8193, max: Math.max(12 * ps, 24 * 1024) }) },
  );
  const command: fc.Arbitrary<Command> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant("malloc" as const), size, wait }) },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant("cache" as const),
        cache: fc.integer({ min: 0, max: 1 }),
        wait,
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant("realloc" as const), pick: fc.nat(), size, wait }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant("vmalloc" as const),
        // Up to half the arena: with 512-byte pages, tables of one page and of two (the reserve's
        // order-2 block).
        size: fc.oneof(
          { weight: 3, arbitrary: fc.integer({ min: 1, max: 2 * ps }) },
          { weight: 1, arbitrary: fc.integer({ min: 1, max: Math.floor(capacity / 2) }) },
        ),
        wait,
      }),
    },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("free" as const), pick: fc.nat() }) },
  );
  return fc.array(command, { minLength: 20, maxLength: 200, size: "max" });
}

class Run {
  readonly heap: Heap;
  readonly caches: SlabCache[];
  readonly blocks: Block[] = [];
  private fills = 0;
  /** The block a realloc is moving: the user's shrinker must not evict it meanwhile. */
  private busy: Block | null = null;
  ooms = 0;

  constructor(options: HeapOptions) {
    this.heap = new Heap(options);
    this.caches = [
      this.heap.createCache("pressure-117", 117),
      this.heap.createCache("pressure-ctor", 700, { ctor: (a, m) => m.fill(0x5c, a, a + 700) }),
    ];
    // Evicts the user's cache entries, newest first, after noting the eviction in a small block
    // of its own (which fails while the heap is short: a shrinker must not recurse into reclaim).
    this.heap.registerShrinker({
      name: "user-entries",
      count: () => this.blocks.filter((b) => b.evictable && b !== this.busy).length * 64,
      scan: (bytes) => {
        let note = 0;
        try {
          note = this.heap.malloc(48);
        } catch (e) {
          if (!(e instanceof OutOfMemoryError)) throw e;
        }
        let freed = 0;
        for (let i = this.blocks.length - 1; i >= 0 && freed < bytes; i--) {
          const b = this.blocks[i];
          if (!b.evictable || b === this.busy) continue;
          freed += Math.max(64, b.length);
          this.release(i);
        }
        if (note !== 0) this.heap.free(note);
        return freed;
      },
    });
  }

  step(c: Command): void {
    const heap = this.heap;
    if (c.kind === "free") {
      if (this.blocks.length > 0) this.release(c.pick % this.blocks.length);
      heap.check();
      return;
    }
    const flags = { wait: c.wait };
    const before = c.wait ? "" : JSON.stringify(heap.stats());
    try {
      if (c.kind === "malloc") {
        this.add("heap", heap.malloc(c.size, flags), c.size);
      } else if (c.kind === "cache") {
        const cache = this.caches[c.cache];
        this.add("cache", cache.alloc(flags), cache.objectSize);
      } else if (c.kind === "vmalloc") {
        this.add("v", heap.vmalloc(c.size, flags), c.size);
      } else {
        const heapBlocks = this.blocks.filter((b) => b.kind === "heap");
        if (heapBlocks.length === 0) return;
        const b = heapBlocks[c.pick % heapBlocks.length];
        this.verify(b);
        this.busy = b;
        let moved: number;
        try {
          moved = heap.realloc(b.address, c.size, flags);
        } finally {
          this.busy = null;
        }
        const kept = Math.min(b.length, c.size);
        const mem = heap.memory;
        for (let i = 0; i < kept; i++) {
          if (mem[moved + i] !== b.fill) throw new Error(`realloc lost byte ${i} of ${b.length}`);
        }
        b.address = moved;
        b.length = c.size;
        mem.fill(b.fill, moved, moved + c.size);
      }
    } catch (e) {
      if (!(e instanceof OutOfMemoryError)) throw e;
      this.ooms++;
      if (!c.wait) expect(JSON.stringify(heap.stats()), `failed ${c.kind} with { wait: false }`).toBe(before);
    }
    heap.check();
  }

  private add(kind: Block["kind"], address: number, length: number): void {
    const b: Block = {
      kind,
      address,
      length,
      fill: (this.fills++ % 251) + 1,
      evictable: this.fills % 2 === 0,
    };
    if (kind === "v") this.heap.vwrite(address, new Uint8Array(length).fill(b.fill));
    else this.heap.memory.fill(b.fill, address, address + length);
    this.blocks.push(b);
  }

  private verify(b: Block): void {
    const bytes =
      b.kind === "v"
        ? this.heap.vread(b.address, b.length)
        : this.heap.memory.subarray(b.address, b.address + b.length);
    const at = bytes.findIndex((x) => x !== b.fill);
    if (at >= 0) throw new Error(`${b.kind} block ${b.address} lost byte ${at} of ${b.length}`);
  }

  release(i: number): void {
    const b = this.blocks[i];
    this.verify(b);
    if (b.kind === "v") this.heap.vfree(b.address);
    else this.heap.free(b.address);
    this.blocks.splice(i, 1);
  }

  drain(): void {
    while (this.blocks.length > 0) this.release(this.blocks.length - 1);
    this.heap.shrink();
    this.heap.check();
  }
}

function property(options: HeapOptions, seed: number, numRuns: number): void {
  const fresh = freshHeapStats(options);
  let ooms = 0;
  fc.assert(
    fc.property(commands(fresh.pageLayer.pageSize, fresh.total), (cmds) => {
      const run = new Run(options);
      for (const c of cmds) run.step(c);
      ooms += run.ooms;
      run.drain();
      const end = run.heap.stats();
      expect(end.footprint).toBe(fresh.footprint);
      expect(end.free).toBe(fresh.free);
      expect(end.reserve).toEqual(fresh.reserve);
      expect(end.objects).toBe(0);
      expect(end.vmalloc.areas).toBe(0);
    }),
    { seed, numRuns },
  );
  // The arenas are small enough that the mixes do run out of memory.
  expect(ooms).toBeGreaterThan(numRuns);
}

describe("the heap under pressure, shrinkers and { wait: false } mixed in", () => {
  it("4096-byte pages", () => {
    property({ bytes: 128 << 10, pageSize: 4096 }, 0x9e55, 300);
  });

  it("512-byte pages (vmalloc tables of several pages)", () => {
    property({ bytes: 256 << 10, pageSize: 512 }, 0x512e55, 150);
  });
});
