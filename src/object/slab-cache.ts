/** The handle createCache returns: a named cache of fixed-size objects (kmem_cache). */
import { InvalidAddressError } from "../errors.js";
import type { AllocFlags, Heap } from "./heap.js";
import { type CacheStats, cacheStats } from "./inspect.js";

export interface SlabCacheOptions {
  /** Object alignment, a power of two up to the page size. Default: the size's natural alignment, at most 8. */
  align?: number;
  /** Runs on every object when a slab is created (Linux ctor semantics: objects are constructed once). */
  ctor?: (address: number, memory: Uint8Array) => void;
}

export class SlabCache {
  /** @internal */ readonly heap: Heap;
  /** Index in the heap's cache directory. */
  readonly id: number;

  /** @internal */
  constructor(heap: Heap, id: number) {
    this.heap = heap;
    this.id = id;
  }

  get name(): string {
    return this.heap.slabs.name(this.id);
  }

  get objectSize(): number {
    return this.heap.slabs.size[this.id];
  }

  /** Objects per slab of the cache's first order (slabs grow as the cache grows, slab.ts). */
  get objectsPerSlab(): number {
    return this.heap.slabs.perSlab[this.id];
  }

  /** Bytes from one object's start to the next (size, alignment and, in debug mode, both red zones). */
  get stride(): number {
    return this.heap.slabs.stride[this.id];
  }

  /** Bytes of a slab of the cache's first order. */
  get slabBytes(): number {
    return this.heap.pages.pageSize * 2 ** this.heap.slabs.order[this.id];
  }

  alloc(flags?: AllocFlags): number {
    return this.heap.slabs.alloc(this.id, flags?.wait !== false);
  }

  /** Frees an object of this cache; an address of another cache is refused, nothing changes. */
  free(address: number): void {
    const page = this.heap.pageAt(address);
    const o = page >= 0 && page < this.heap.owner.length ? this.heap.owner[page] : 0;
    if (o > 0 && this.heap.slabs.cacheOf(o) !== this.id) {
      throw new InvalidAddressError(address, `belongs to another cache, not ${this.name}`);
    }
    if (o <= 0) throw new InvalidAddressError(address, `not an object of cache ${this.name}`);
    this.heap.slabs.free(address, page, o);
  }

  /** Returns this cache's empty slabs to the page layer; bytes freed. */
  shrink(): number {
    return this.heap.slabs.shrinkCache(this.id);
  }

  /**
   * Under the heap's lock, as Heap.stats(): in a pool the census walks slabs that other threads
   * create and release meanwhile (a page released and reused between reading its owner entry and
   * its header was reported as a CorruptionError, 'slab N names cache M, which does not exist').
   */
  stats(): CacheStats {
    return this.heap.slabs.withLock(() => cacheStats(this.heap, this.id));
  }
}
