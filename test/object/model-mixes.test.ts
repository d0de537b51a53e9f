/**
 * Seeded model tests of the object layer with the operation mixes property.test.ts leaves out:
 * partial vread/vwrite at any offset of an area (page boundaries crossed), calloc straight after
 * dirty memory is freed, realloc chains that grow large blocks in place, { wait: false },
 * shrink() in the middle of a sequence, a registered shrinker that gives memory back under
 * exhaustion, constructor caches, and misuse of every kind (double frees through the cache and
 * through the heap, frees of vmalloc addresses, vfree of arena addresses, interior addresses),
 * each checked byte for byte against a copy of the arena. The geometries are the unusual ones:
 * 8 KiB and 64 KiB pages, small max orders, arenas that are not a power of two, a shared arena.
 *
 * At the end everything is freed and the heap must be a fresh heap again, page layer included.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DoubleFreeError,
  Heap,
  type HeapOptions,
  InvalidAddressError,
  MnemeError,
  OutOfMemoryError,
  type SlabCache,
} from "../../src/index.js";

type Op =
  | { op: "malloc"; size: number; atomic: boolean }
  | { op: "calloc"; count: number; size: number; atomic: boolean }
  | { op: "realloc"; pick: number; size: number; atomic: boolean }
  | { op: "aligned"; alignLog: number; size: number; atomic: boolean }
  | { op: "cache"; cache: number }
  | { op: "free"; pick: number; viaCache: boolean }
  | { op: "vmalloc"; size: number }
  | { op: "vwrite"; pick: number; at: number; length: number }
  | { op: "vread"; pick: number; at: number; length: number }
  | { op: "vfree"; pick: number }
  | { op: "shrink" }
  | { op: "hoard"; size: number }
  | { op: "misuse"; pick: number; kind: number };

const CACHE_SIZES = [24, 117, 200];
const CTOR_BYTE = 0xc7;

function ops(ps: number, capacity: number): fc.Arbitrary<Op[]> {
  const size = fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 1, max: 512 }) },
    { weight: 2, arbitrary: fc.integer({ min: 513, max: 8192 }) },
    { weight: 2, arbitrary: fc.integer({ min: 8193, max: Math.max(8193, 6 * ps) }) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: Math.floor(capacity / 3) }) },
  );
  const pick = fc.nat();
  const at = fc.nat();
  const length = fc.oneof(fc.integer({ min: 0, max: 16 }), fc.integer({ min: 0, max: 3 * ps }));
  return fc.array(
    fc.oneof(
      { weight: 6, arbitrary: fc.record({ op: fc.constant("malloc" as const), size, atomic: fc.boolean() }) },
      {
        weight: 2,
        arbitrary: fc.record({
          op: fc.constant("calloc" as const),
          count: fc.integer({ min: 1, max: 40 }),
          size: fc.integer({ min: 1, max: 300 }),
          atomic: fc.boolean(),
        }),
      },
      {
        weight: 3,
        arbitrary: fc.record({ op: fc.constant("realloc" as const), pick, size, atomic: fc.boolean() }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          op: fc.constant("aligned" as const),
          alignLog: fc.integer({ min: 0, max: Math.log2(ps) + 2 }),
          size,
          atomic: fc.boolean(),
        }),
      },
      {
        weight: 3,
        arbitrary: fc.record({ op: fc.constant("cache" as const), cache: fc.nat(CACHE_SIZES.length - 1) }),
      },
      { weight: 9, arbitrary: fc.record({ op: fc.constant("free" as const), pick, viaCache: fc.boolean() }) },
      {
        weight: 1,
        arbitrary: fc.record({
          op: fc.constant("vmalloc" as const),
          size: fc.integer({ min: 1, max: 5 * ps }),
        }),
      },
      { weight: 2, arbitrary: fc.record({ op: fc.constant("vwrite" as const), pick, at, length }) },
      { weight: 2, arbitrary: fc.record({ op: fc.constant("vread" as const), pick, at, length }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant("vfree" as const), pick }) },
      { weight: 1, arbitrary: fc.constant({ op: "shrink" as const }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant("hoard" as const), size }) },
      {
        weight: 3,
        arbitrary: fc.record({ op: fc.constant("misuse" as const), pick, kind: fc.nat(9) }),
      },
    ),
    { minLength: 1, maxLength: 120, size: "max" },
  );
}

interface Live {
  kind: "heap" | "cache" | "v";
  cache: number;
  /** The bytes the model knows (usable size, object size or area size). */
  bytes: Uint8Array;
}

class Run {
  readonly heap: Heap;
  readonly caches: SlabCache[];
  readonly live = new Map<number, Live>();
  readonly freed: Array<{ address: number; kind: Live["kind"]; cache: number }> = [];
  /** Allocations a registered shrinker owns and gives back when asked. */
  readonly hoard: number[] = [];
  private fill = 1;

  constructor(options: HeapOptions) {
    this.heap = new Heap(options);
    this.caches = CACHE_SIZES.map((s, i) =>
      this.heap.createCache(`mix-${i}`, s, {
        align: i === 2 ? 64 : undefined,
        // The third cache constructs its objects; the model checks them only when fresh.
        ctor: i === 1 ? (a, m) => m.fill(CTOR_BYTE, a, a + s) : undefined,
      }),
    );
    this.heap.registerShrinker({
      name: "model-hoard",
      count: () => this.hoard.length * 64,
      scan: () => {
        let n = 0;
        for (const a of this.hoard.splice(0)) {
          n += this.heap.usableSize(a);
          this.heap.free(a);
        }
        return n;
      },
    });
  }

  private pattern(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (this.fill + i * 13) & 0xff || 1;
    this.fill = (this.fill * 31 + 7) & 0xffff;
    return b;
  }

  private add(address: number, kind: Live["kind"], cache: number, length: number): void {
    expect(this.live.has(address), `${address} handed out twice`).toBe(false);
    expect(this.hoard.includes(address), `${address} handed out while hoarded`).toBe(false);
    const bytes = this.pattern(length);
    if (kind === "v") this.heap.vwrite(address, bytes);
    else this.heap.memory.set(bytes, address);
    this.live.set(address, { kind, cache, bytes });
  }

  private content(address: number, e: Live): Uint8Array {
    return e.kind === "v"
      ? this.heap.vread(address, e.bytes.length)
      : this.heap.memory.subarray(address, address + e.bytes.length);
  }

  verifyAll(): void {
    for (const [a, e] of this.live) {
      if (Buffer.compare(this.content(a, e), e.bytes) !== 0)
        expect.fail(`${e.kind} allocation at ${a} (${e.bytes.length} bytes) lost its contents`);
    }
  }

  private pick(n: number, kinds: Array<Live["kind"]>): number | undefined {
    const keys = [...this.live].filter(([, e]) => kinds.includes(e.kind)).map(([a]) => a);
    return keys.length === 0 ? undefined : keys[n % keys.length];
  }

  private remove(address: number): void {
    const e = this.live.get(address)!;
    this.live.delete(address);
    this.freed.push({ address, kind: e.kind, cache: e.cache });
  }

  /**
   * An allocation: OutOfMemoryError is allowed, anything else fails. A failed `{ wait: false }`
   * request must change no byte of the arena; one that may wait runs the shrinkers first (the
   * heap's own returns empty slabs and cached runs, the model's frees its hoard), so only the
   * live allocations' contents (verifyAll) and the structure (check) are promised then.
   */
  private attempt(atomic: boolean, fn: () => number): number | undefined {
    // stats() first: it merges the page layer's hot pages into the free lists (free either way),
    // which a failing request does too.
    const stats = atomic ? JSON.stringify(this.heap.stats()) : "";
    const before = atomic ? this.heap.memory.slice() : undefined;
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof OutOfMemoryError)) throw e;
      if (before !== undefined) {
        expect(Buffer.compare(this.heap.memory, before), "arena changed by a failed allocation").toBe(0);
        expect(JSON.stringify(this.heap.stats()), "stats changed by a failed allocation").toBe(stats);
      }
      return undefined;
    }
  }

  /** A call that must fail with `cls` and leave every byte of the arena as it was. */
  private refused(cls: new (...args: never[]) => MnemeError, fn: () => unknown, label: string): void {
    const stats = JSON.stringify(this.heap.stats());
    const before = this.heap.memory.slice();
    let error: unknown;
    try {
      fn();
    } catch (e) {
      error = e;
    }
    expect(error, label).toBeInstanceOf(cls);
    expect(Buffer.compare(this.heap.memory, before), `arena changed by ${label}`).toBe(0);
    expect(JSON.stringify(this.heap.stats()), `stats changed by ${label}`).toBe(stats);
  }

  step(c: Op): void {
    const heap = this.heap;
    switch (c.op) {
      case "malloc": {
        const a = this.attempt(c.atomic, () => heap.malloc(c.size, { wait: !c.atomic }));
        if (a !== undefined) this.add(a, "heap", -1, heap.usableSize(a));
        break;
      }
      case "calloc": {
        const a = this.attempt(c.atomic, () => heap.calloc(c.count, c.size, { wait: !c.atomic }));
        if (a === undefined) break;
        const n = c.count * c.size;
        expect(
          heap.memory.subarray(a, a + n).every((b) => b === 0),
          "calloc zeroes",
        ).toBe(true);
        this.add(a, "heap", -1, heap.usableSize(a));
        break;
      }
      case "realloc": {
        const a = this.pick(c.pick, ["heap"]);
        if (a === undefined) break;
        const old = this.live.get(a)!;
        const b = this.attempt(c.atomic, () => heap.realloc(a, c.size, { wait: !c.atomic }));
        if (b === undefined) {
          expect(Buffer.compare(this.content(a, old), old.bytes), "realloc that failed kept the block").toBe(
            0,
          );
          break;
        }
        const kept = Math.min(old.bytes.length, c.size);
        expect(Buffer.compare(heap.memory.subarray(b, b + kept), old.bytes.subarray(0, kept))).toBe(0);
        expect(heap.usableSize(b)).toBeGreaterThanOrEqual(c.size);
        this.live.delete(a);
        if (b !== a) this.freed.push({ address: a, kind: "heap", cache: -1 });
        this.add(b, "heap", -1, heap.usableSize(b));
        break;
      }
      case "aligned": {
        const align = 2 ** c.alignLog;
        const a = this.attempt(c.atomic, () => heap.alignedAlloc(align, c.size, { wait: !c.atomic }));
        if (a === undefined) break;
        expect(a % align, `alignedAlloc(${align}, ${c.size})`).toBe(0);
        expect(heap.usableSize(a)).toBeGreaterThanOrEqual(c.size);
        this.add(a, "heap", -1, heap.usableSize(a));
        break;
      }
      case "cache": {
        const cache = this.caches[c.cache];
        const a = this.attempt(false, () => cache.alloc());
        if (a === undefined) break;
        if (c.cache === 2) expect(a % 64, "cache align 64").toBe(0);
        const reused = this.freed.some((f) => f.address === a);
        if (c.cache === 1 && !reused) {
          const fresh = heap.memory.subarray(a, a + cache.objectSize);
          expect(
            fresh.every((b) => b === CTOR_BYTE),
            "a fresh object is constructed",
          ).toBe(true);
        }
        this.add(a, "cache", c.cache, cache.objectSize);
        break;
      }
      case "free": {
        const a = this.pick(c.pick, ["heap", "cache"]);
        if (a === undefined) break;
        const e = this.live.get(a)!;
        if (e.kind === "cache" && c.viaCache) this.caches[e.cache].free(a);
        else heap.free(a);
        this.remove(a);
        break;
      }
      case "vmalloc": {
        const v = this.attempt(false, () => heap.vmalloc(c.size));
        if (v !== undefined) this.add(v, "v", -1, c.size);
        break;
      }
      case "vwrite":
      case "vread": {
        const v = this.pick(c.pick, ["v"]);
        if (v === undefined) break;
        const e = this.live.get(v)!;
        const at = c.at % (e.bytes.length + 1);
        if (at + c.length > e.bytes.length) {
          const label = `${c.op} of ${c.length} bytes at +${at} of a ${e.bytes.length}-byte area`;
          if (c.op === "vread") this.refused(MnemeError, () => heap.vread(v + at, c.length), label);
          else this.refused(MnemeError, () => heap.vwrite(v + at, new Uint8Array(c.length)), label);
          break;
        }
        if (c.op === "vread") {
          const got = heap.vread(v + at, c.length);
          expect(Buffer.compare(got, e.bytes.subarray(at, at + c.length))).toBe(0);
        } else {
          const data = this.pattern(c.length);
          expect(heap.vwrite(v + at, data)).toBe(c.length);
          e.bytes.set(data, at);
        }
        break;
      }
      case "vfree": {
        const v = this.pick(c.pick, ["v"]);
        if (v === undefined) break;
        heap.vfree(v);
        this.remove(v);
        break;
      }
      case "shrink":
        heap.shrink();
        break;
      case "hoard": {
        const a = this.attempt(false, () => heap.malloc(c.size));
        if (a !== undefined) this.hoard.push(a);
        break;
      }
      case "misuse":
        this.misuse(c.pick, c.kind);
        break;
    }
    this.verifyAll();
    heap.check();
  }

  private misuse(n: number, kind: number): void {
    const heap = this.heap;
    const stale = this.freed.filter((f) => !this.live.has(f.address) && !this.hoard.includes(f.address));
    const f = stale.length > 0 ? stale[n % stale.length] : undefined;
    switch (kind) {
      case 0: // double free of a freed slab object or large block, through the heap
        if (f && f.kind !== "v")
          this.refused(InvalidAddressError, () => heap.free(f.address), `free of freed ${f.address}`);
        break;
      case 1: // double free of a freed cache object, through its cache
        if (f && f.kind === "cache")
          this.refused(
            InvalidAddressError,
            () => this.caches[f.cache].free(f.address),
            `cache free of ${f.address}`,
          );
        break;
      case 2: // vfree twice
        if (f && f.kind === "v")
          this.refused(DoubleFreeError, () => heap.vfree(f.address), `vfree of ${f.address}`);
        break;
      case 3: {
        // free of a live vmalloc address
        const v = this.pick(n, ["v"]);
        if (v !== undefined) this.refused(InvalidAddressError, () => heap.free(v), `free of vaddress ${v}`);
        break;
      }
      case 4: {
        // vfree, vread and vwrite of a live arena address
        const a = this.pick(n, ["heap", "cache"]);
        if (a === undefined) break;
        this.refused(InvalidAddressError, () => heap.vfree(a), `vfree of arena address ${a}`);
        this.refused(InvalidAddressError, () => heap.vread(a, 1), `vread of arena address ${a}`);
        this.refused(InvalidAddressError, () => heap.vwrite(a, new Uint8Array(1)), `vwrite at ${a}`);
        break;
      }
      case 5: {
        // an interior address of a live allocation
        const a = this.pick(n, ["heap", "cache"]);
        if (a === undefined) break;
        const inner = a + 1 + (n % Math.max(1, this.live.get(a)!.bytes.length - 1));
        this.refused(InvalidAddressError, () => heap.free(inner), `free of interior ${inner}`);
        this.refused(InvalidAddressError, () => heap.usableSize(inner), `usableSize of interior ${inner}`);
        this.refused(InvalidAddressError, () => heap.realloc(inner, 8), `realloc of interior ${inner}`);
        break;
      }
      case 6: {
        // a live object of one cache freed through another cache
        const a = this.pick(n, ["cache", "heap"]);
        if (a === undefined) break;
        const e = this.live.get(a)!;
        const other = this.caches[(e.cache + 1 + (n % 2)) % this.caches.length];
        if (e.kind === "cache" && other === this.caches[e.cache]) break;
        this.refused(InvalidAddressError, () => other.free(a), `free of ${a} through ${other.name}`);
        break;
      }
      case 7: {
        // the interior of a live vmalloc area
        const v = this.pick(n, ["v"]);
        if (v === undefined) break;
        const inner = v + 1 + (n % this.live.get(v)!.bytes.length);
        this.refused(InvalidAddressError, () => heap.vfree(inner), `vfree of interior ${inner}`);
        break;
      }
      case 8: // realloc and usableSize of a freed allocation
        if (f && f.kind !== "v") {
          this.refused(
            InvalidAddressError,
            () => heap.realloc(f.address, 16),
            `realloc of freed ${f.address}`,
          );
          this.refused(
            InvalidAddressError,
            () => heap.usableSize(f.address),
            `usableSize of freed ${f.address}`,
          );
        }
        break;
    }
  }

  /** Frees everything, the hoard included, verifying contents before each free. */
  drain(): void {
    for (const a of this.hoard.splice(0)) this.heap.free(a);
    for (const [a, e] of [...this.live]) {
      this.verifyAll();
      if (e.kind === "v") this.heap.vfree(a);
      else this.heap.free(a);
      this.live.delete(a);
    }
    this.heap.shrink();
    this.heap.check();
  }
}

function fresh(options: HeapOptions): string {
  const h = new Heap(options);
  for (const [i, s] of CACHE_SIZES.entries()) {
    h.createCache(`mix-${i}`, s, { align: i === 2 ? 64 : undefined, ctor: i === 1 ? () => {} : undefined });
  }
  return JSON.stringify(h.stats().pageLayer);
}

const CASES: Array<[string, HeapOptions, number]> = [
  [
    "8 KiB pages, maxOrder 3, an arena of 1 MiB + 3 pages",
    { bytes: (1 << 20) + 3 * 8192, pageSize: 8192, maxOrder: 3 },
    120,
  ],
  ["64 KiB pages, maxOrder 2", { bytes: 4 << 20, pageSize: 65536, maxOrder: 2 }, 60],
  [
    "512-byte pages, maxOrder 4, 700 pages + 100 bytes, shared",
    { bytes: 700 * 512 + 100, pageSize: 512, maxOrder: 4, shared: true },
    120,
  ],
  [
    "4 KiB pages, maxOrder 5, 300 pages, debug",
    { bytes: 300 * 4096, pageSize: 4096, maxOrder: 5, debug: true },
    80,
  ],
];

describe("object layer: operation mixes the other model tests leave out", () => {
  CASES.forEach(([name, options, numRuns], i) => {
    it(name, () => {
      const options2 = { ...options, maxCaches: 128 };
      const start = fresh(options2);
      const capacity = new Heap(options2).pages.capacity;
      const ps = options.pageSize ?? 4096;
      fc.assert(
        fc.property(ops(ps, capacity), (seq) => {
          const run = new Run(options2);
          for (const c of seq) run.step(c);
          run.drain();
          expect(JSON.stringify(run.heap.stats().pageLayer), "the page layer after freeing everything").toBe(
            start,
          );
          expect(run.heap.stats().objects).toBe(0);
        }),
        { seed: 0x3a1c0 + i, numRuns },
      );
    });
  });
});
