/** The vm layer's public names (re-exported from the package root). */
export {
  AddressSpace,
  type AddressSpaceOptions,
  type MapOptions,
  type PinnedRange,
  type VmStats,
} from "./address-space.js";
export type { FileHandleLike } from "./container.js";
export { HINTS, type Hint } from "./hints.js";
export {
  AdaptivePolicy,
  ArcPolicy,
  ClockPolicy,
  createPolicy,
  DEFAULT_POLICY,
  LirsPolicy,
  LruPolicy,
  NO_VICTIM,
  policyNames,
  type ReplacementPolicy,
  registerPolicy,
  S3FifoPolicy,
  SievePolicy,
} from "./policies/index.js";
export { optMisses } from "./policies/opt.js";
export {
  parseTrace,
  type ReplayResult,
  readTrace,
  replay,
  replayPolicyNames,
  type Trace,
  TraceError,
} from "./replay.js";
export { AnonymousStore, type AnonymousStoreOptions } from "./stores/anonymous.js";
export { FileStore, type FileStoreOptions } from "./stores/file.js";
export { RedisStore, type RedisStoreOptions } from "./stores/redis.js";
export { type Store, StoreError } from "./stores/store.js";
