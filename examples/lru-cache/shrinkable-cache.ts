/**
 * A user cache that gives memory back under pressure: an lru-cache whose values live in a mneme
 * Heap, registered as a shrinker. When an allocation would fail, the heap asks its shrinkers in
 * priority order; this one evicts least recently used entries (freeing their heap blocks) until
 * the heap has what it asked for.
 *
 *   node --import tsx examples/lru-cache/shrinkable-cache.ts
 */
import { LRUCache } from "lru-cache";
import { Heap } from "mneme";

/** An entry: the heap block holding the value, and the value's length (the block may be larger). */
interface Entry {
  address: number;
  length: number;
}

export function shrinkableCache(heap: Heap, maxEntries: number) {
  const cache = new LRUCache<string, Entry>({
    max: maxEntries,
    dispose: (entry) => heap.free(entry.address),
  });
  const unregister = heap.registerShrinker({
    name: "user-lru-cache",
    priority: 100,
    count: () => [...cache.values()].reduce((n, e) => n + heap.usableSize(e.address), 0),
    scan: (bytes) => {
      let freed = 0;
      while (freed < bytes && cache.size > 0) {
        const oldest = cache.rkeys().next().value as string;
        freed += heap.usableSize((cache.peek(oldest) as Entry).address);
        cache.delete(oldest);
      }
      return freed;
    },
  });
  return {
    cache,
    /** Stores `bytes` under `key` in heap memory. */
    put(key: string, bytes: Uint8Array): void {
      const address = heap.malloc(bytes.length);
      heap.memory.set(bytes, address);
      cache.set(key, { address, length: bytes.length });
    },
    /**
     * The bytes stored under `key`: as many as were put. The block's usable size is larger for
     * most lengths (size classes), and the bytes past the value are whatever the block held before.
     */
    get(key: string): Uint8Array | undefined {
      const e = cache.get(key);
      return e === undefined ? undefined : heap.memory.slice(e.address, e.address + e.length);
    },
    close: unregister,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const heap = new Heap({ bytes: 4 * 1024 * 1024 });
  const c = shrinkableCache(heap, 100_000);
  // Fill the cache with 2 KiB values until the heap is nearly full...
  for (let i = 0; i < 1800; i++) c.put(`k${i}`, new Uint8Array(2048).fill(i & 0xff));
  console.log(`cached ${c.cache.size} entries, heap free ${heap.stats().free} bytes`);
  // ...then a large allocation succeeds because the shrinker evicts old entries for it.
  const big = heap.malloc(1024 * 1024);
  console.log(`1 MiB allocated at ${big}; cache now holds ${c.cache.size} entries (oldest evicted)`);
}
