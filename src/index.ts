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
export { PageAllocator, type PageAllocatorOptions } from "./page/buddy.js";
export type { PageStats } from "./page/inspect.js";
