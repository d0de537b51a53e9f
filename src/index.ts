export { Arena, type ArenaBuffer, type ArenaOptions } from "./arena/arena.js";
export {
  CorruptionError,
  DoubleFreeError,
  InvalidAddressError,
  InvalidArgumentError,
  MnemeError,
  OutOfMemoryError,
  type OutOfMemoryReason,
  OutOfPoolMemoryError,
} from "./errors.js";
export { HeapCorruptionError } from "./object/debug.js";
export { type AllocFlags, Heap, type HeapOptions } from "./object/heap.js";
export type { CacheStats, HeapStats } from "./object/inspect.js";
export { VMALLOC_BASE } from "./object/layout.js";
export { type Shrinker, ShrinkerRegistry, type ShrinkResult } from "./object/shrinker.js";
export { SlabCache, type SlabCacheOptions } from "./object/slab-cache.js";
export { PageAllocator, type PageAllocatorOptions } from "./page/buddy.js";
export type { PageStats } from "./page/inspect.js";
