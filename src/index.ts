export { Arena, type ArenaBuffer, type ArenaOptions } from "./arena/arena.js";
export { Mutex } from "./arena/mutex.js";
export {
  CorruptionError,
  DoubleFreeError,
  InvalidAddressError,
  InvalidArgumentError,
  MnemeError,
  OutOfMemoryError,
  type OutOfMemoryReason,
  OutOfPoolMemoryError,
  PoolClosedError,
  reviveError,
  type SerializedError,
  serializeError,
} from "./errors.js";
export { HeapCorruptionError } from "./object/debug.js";
export { type AllocFlags, Heap, type HeapOptions } from "./object/heap.js";
export type { CacheStats, HeapStats } from "./object/inspect.js";
export { VMALLOC_BASE } from "./object/layout.js";
export { type Shrinker, ShrinkerRegistry, type ShrinkResult } from "./object/shrinker.js";
export { SlabCache, type SlabCacheOptions } from "./object/slab-cache.js";
export type { ArenaMap, ClientInfo, Snapshot } from "./observe/feed.js";
export { type ObserveOptions, ObserveServer } from "./observe/http.js";
export type { IdentityUsage } from "./observe/identities.js";
export { Metrics } from "./observe/metrics.js";
export { type CommandTiming, CommandTimings, LATENCY_BUCKETS } from "./observe/timings.js";
export { PageAllocator, type PageAllocatorOptions } from "./page/buddy.js";
export type { PageStats } from "./page/inspect.js";
export {
  mayAllocate,
  type WatermarkOptions,
  type Watermarks,
  watermarks,
  zoneOf,
} from "./page/watermarks.js";
export {
  Mempool,
  type MempoolHandle,
  type MempoolOptions,
  type MempoolStats,
  type WorkerFigures,
} from "./pool/mempool.js";
export { SegmentedHeap } from "./pool/segmented-heap.js";
export { type Clock, ManualClock, systemClock } from "./reclaim/clock.js";
export {
  type DirtySource,
  Flusher,
  type FlusherOptions,
  type FlusherStats,
  type FlushReport,
} from "./reclaim/flusher.js";
export {
  type FrameReclaim,
  type FrameReclaimOptions,
  type FrameReclaimStats,
  startReclaim,
} from "./reclaim/frame-reclaim.js";
export { type Consumer, ConsumerKilledError, type OomEvent, OomKiller } from "./reclaim/oom.js";
export {
  type WorkerConsumer,
  type WorkerConsumerOptions,
  workerConsumer,
} from "./reclaim/pool-consumer.js";
export {
  Reclaimer,
  type ReclaimerOptions,
  type ReclaimResult,
  type SpaceOptions,
} from "./reclaim/reclaimer.js";
export { startWriteback } from "./reclaim/writeback.js";
export { heapZone, poolZone } from "./reclaim/zones.js";
export {
  type Handle,
  MnemeClient,
  type MnemeClientOptions,
  type MnemeMapOptions,
  MnemePipeline,
} from "./service/client.js";
export { ServiceError } from "./service/client-errors.js";
export { DEFAULTS as SERVICE_DEFAULTS, type ServiceConfig } from "./service/config.js";
export { Service } from "./service/server.js";
export { copyBytes, fillBytes } from "./util/shared-bytes.js";
export * from "./vm/index.js";
