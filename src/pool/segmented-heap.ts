/**
 * The object layer of a multi-segment pool: the same calls as Heap, each served by one segment's
 * heap. Addresses carry their segment (segment * 2^32 + offset), so free() and friends find the
 * right heap from the address alone. Named caches and vmalloc live in segment 0.
 */
import { InvalidAddressError, InvalidArgumentError, OutOfMemoryError } from "../errors.js";
import type { AllocFlags, Heap } from "../object/heap.js";
import type { HeapStats } from "../object/inspect.js";
import type { Shrinker } from "../object/shrinker.js";
import type { SlabCache, SlabCacheOptions } from "../object/slab-cache.js";
import { RETRY_HOME, SEGMENT_SPAN } from "./layout.js";
import type { Segment } from "./segment.js";
import { combineHeapStats } from "./segment-stats.js";

export class SegmentedHeap {
  private readonly segments: Segment[];
  /** Where the next allocation starts looking: home, or where the last one came from (Mempool.alloc). */
  private cursor = -1;
  private sinceHome = 0;

  constructor(segments: Segment[]) {
    this.segments = segments;
  }

  malloc(size: number, flags?: AllocFlags): number {
    return this.anySegment((h) => h.malloc(size, flags));
  }

  calloc(count: number, size: number, flags?: AllocFlags): number {
    return this.anySegment((h) => h.calloc(count, size, flags));
  }

  alignedAlloc(align: number, size: number, flags?: AllocFlags): number {
    return this.anySegment((h) => h.alignedAlloc(align, size, flags));
  }

  realloc(address: number, size: number, flags?: AllocFlags): number {
    const { heap, base } = this.locate(address);
    try {
      return base + heap.realloc(address - base, size, flags);
    } catch (e) {
      if (!(e instanceof OutOfMemoryError)) throw e;
      const old = heap.usableSize(address - base);
      const fresh = this.malloc(size, flags);
      this.view(fresh, Math.min(old, size)).set(this.view(address, Math.min(old, size)));
      heap.free(address - base);
      return fresh;
    }
  }

  free(address: number): void {
    const { heap, base } = this.locate(address);
    heap.free(address - base);
  }

  usableSize(address: number): number {
    const { heap, base } = this.locate(address);
    return heap.usableSize(address - base);
  }

  createCache(name: string, objectSize: number, options?: SlabCacheOptions): SlabCache {
    return this.segments[0].heap.createCache(name, objectSize, options);
  }

  vmalloc(bytes: number, flags?: AllocFlags): number {
    return this.segments[0].heap.vmalloc(bytes, flags);
  }

  vfree(vaddress: number): void {
    this.segments[0].heap.vfree(vaddress);
  }

  vread(vaddress: number, length: number): Uint8Array {
    return this.segments[0].heap.vread(vaddress, length);
  }

  vwrite(vaddress: number, bytes: Uint8Array): number {
    return this.segments[0].heap.vwrite(vaddress, bytes);
  }

  /** `length` bytes at `address` as a view (no copy). */
  view(address: number, length: number): Uint8Array {
    const { heap, base } = this.locate(address);
    const offset = address - base;
    return heap.memory.subarray(offset, offset + length);
  }

  shrink(): number {
    return this.segments.reduce((n, s) => n + s.heap.shrink(), 0);
  }

  /**
   * The figures of all the segments together, as Heap.stats() gives them for one arena
   * (segment-stats.ts), and each segment's own in `segments` (index = segment).
   */
  stats(): HeapStats & { segments: HeapStats[] } {
    const segments = this.segments.map((s) => s.heap.stats());
    return { ...combineHeapStats(segments), segments };
  }

  /** A multi-segment pool has no single buffer: its memory is per segment (Mempool.view). */
  get memory(): Uint8Array {
    throw new InvalidArgumentError(
      "memory",
      this.segments.length,
      "a multi-segment pool has no single buffer; use pool.view()",
    );
  }

  /** The pool address that backs virtual address `v` (vmalloc lives in segment 0). */
  vtranslate(vaddress: number): number {
    return this.segments[0].heap.vtranslate(vaddress);
  }

  /** A shrinker for every segment's heap (each asks it when it runs short); the result removes it from all. */
  registerShrinker(shrinker: Shrinker): () => void {
    const removers: (() => void)[] = [];
    try {
      for (const s of this.segments) removers.push(s.heap.registerShrinker(shrinker));
    } catch (e) {
      for (const r of removers) r();
      throw e;
    }
    return () => {
      for (const r of removers) r();
    };
  }

  /** Asks each segment's shrinkers for `bytes` in turn, until one frees anything; true if one did. */
  reclaim(bytes: number): boolean {
    return this.segments.some((s) => s.heap.reclaim(bytes));
  }

  check(): void {
    for (const s of this.segments) s.heap.check();
  }

  debugInfo(): string {
    return this.segments.map((s) => `segment ${s.index}: ${s.heap.debugInfo()}`).join("\n");
  }

  private anySegment(f: (h: Heap) => number): number {
    const n = this.segments.length;
    const home = (this.segments[0].slot - 1) % n;
    let start = this.cursor < 0 ? home : this.cursor;
    if (start !== home && ++this.sinceHome >= RETRY_HOME) {
      start = home;
      this.sinceHome = 0;
    }
    let last: unknown;
    for (let k = 0; k < n; k++) {
      const s = this.segments[(start + k) % n];
      try {
        const a = f(s.heap);
        this.cursor = s.index;
        return s.index * SEGMENT_SPAN + a;
      } catch (e) {
        if (!(e instanceof OutOfMemoryError)) throw e;
        last = e;
      }
    }
    throw last;
  }

  private locate(address: number): { heap: Heap; base: number } {
    if (typeof address !== "number" || !Number.isSafeInteger(address) || address < 0) {
      throw new InvalidAddressError(address, "not a pool address");
    }
    const index = Math.floor(address / SEGMENT_SPAN);
    const seg = this.segments[index];
    if (!seg) throw new InvalidAddressError(address, "outside the pool");
    return { heap: seg.heap, base: index * SEGMENT_SPAN };
  }
}
