/**
 * The built-in policies, registered by name. `DEFAULT_POLICY` is the one the trace benchmark
 * measured best (BENCHMARKS.md, "VM layer").
 */
import { AdaptivePolicy } from "./adaptive.js";
import { ArcPolicy } from "./arc.js";
import { ClockPolicy } from "./clock.js";
import { LirsPolicy } from "./lirs.js";
import { LruPolicy } from "./lru.js";
import { registerPolicy } from "./policy.js";
import { S3FifoPolicy } from "./s3fifo.js";
import { SievePolicy } from "./sieve.js";
import { WTinyLfuPolicy } from "./wtinylfu.js";

registerPolicy("lru", "least recently used (the seed's default)", (c) => new LruPolicy(c));
registerPolicy("clock", "second chance: one reference bit, a sweeping hand", (c) => new ClockPolicy(c));
registerPolicy(
  "arc",
  "adaptive replacement cache: recency and frequency lists with ghosts",
  (c) => new ArcPolicy(c),
);
registerPolicy(
  "lirs",
  "low inter-reference recency set: reuse distance, 1% HIR frames",
  (c) => new LirsPolicy(c),
);
registerPolicy(
  "s3fifo",
  "small, main and ghost FIFO queues with 2-bit frequencies",
  (c) => new S3FifoPolicy(c),
);
registerPolicy(
  "adaptive",
  "keeps the pages arc, lru, lirs, s3fifo and wtinylfu (simulated on keys) agree on, weighted by recent misses",
  (c) =>
    new AdaptivePolicy(c, [
      new ArcPolicy(c),
      new LruPolicy(c),
      new LirsPolicy(c),
      new S3FifoPolicy(c),
      new WTinyLfuPolicy(c),
    ]),
);
registerPolicy(
  "sieve",
  "FIFO with visited bits and a hand that does not move survivors",
  (c) => new SievePolicy(c),
);
registerPolicy(
  "wtinylfu",
  "window LRU + segmented LRU with frequency-sketch admission and a hill-climbed window",
  (c) => new WTinyLfuPolicy(c),
);

export const DEFAULT_POLICY = "adaptive";

export {
  createPolicy,
  NO_VICTIM,
  type PolicyFactory,
  policyDescriptions,
  policyNames,
  type ReplacementPolicy,
  reference,
  registerPolicy,
} from "./policy.js";
export {
  AdaptivePolicy,
  ArcPolicy,
  ClockPolicy,
  LirsPolicy,
  LruPolicy,
  S3FifoPolicy,
  SievePolicy,
  WTinyLfuPolicy,
};
