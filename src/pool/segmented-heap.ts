/**
 * The object layer of a multi-segment pool: the same calls as Heap, each served by one segment's
 * heap. Addresses carry their segment (segment * 2^32 + offset), so free() and friends find the
 * right heap from the address alone. Named caches and vmalloc live in segment 0.
 */
import { InvalidAddressError, OutOfMemoryError } from "../errors.js";
import type { AllocFlags, Heap } from "../object/heap.js";
import type { HeapStats } from "../object/inspect.js";
import type { SlabCache, SlabCacheOptions } from "../object/slab-cache.js";
import { RETRY_HOME, SEGMENT_SPAN } from "./layout.js";
import type { Segment } from "./segment.js";

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

  stats(): HeapStats[] {
    return this.segments.map((s) => s.heap.stats());
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
