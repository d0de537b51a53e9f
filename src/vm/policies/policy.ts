/**
 * The replacement-policy interface, shared by the address space (src/vm/fault.ts) and the trace
 * replayer (src/vm/replay.ts), so that `mneme replay` measures exactly the code that pages.
 *
 * A policy tracks page *keys* (numbers; the address space uses store id * 2^32 + page index, the
 * replayer the trace's page numbers), never frames or data. The caller owns residency and drives
 * the policy with one protocol:
 *
 *     reference(key):
 *       has(key)?  -> hit(key)                                    a hit
 *       otherwise  -> if size == capacity:                        a miss
 *                       v = victim(key, evictable); evict(v)      (the caller writes v back first)
 *                     insert(key)
 *
 * `victim` only chooses (it may advance a clock hand or move keys between its own queues, which
 * is the algorithm, but the returned key stays resident until `evict`). The address space calls
 * `evict` once the victim's frame is free: at once for a clean victim, after writing it back for a
 * dirty one, and meanwhile other keys may be referenced, inserted and chosen (its `evictable` vetoes
 * the victim in writeback). If that writeback fails, `evict` is never called: the victim stays as
 * it was. `forget` drops a key completely (resident or ghost): unmap, `dontneed`, an evicted page
 * that must not leave history.
 *
 * `evictable(key)` lets the address space veto pinned or busy pages; a policy skips them and
 * returns NO_VICTIM (-1) when every resident key is vetoed.
 */
import { InvalidArgumentError } from "../../errors.js";

/** Returned by victim() when no resident key may be evicted. */
export const NO_VICTIM = -1;

export interface ReplacementPolicy {
  /** Registry name (`lru`, `clock`, ...). */
  readonly name: string;
  /** Resident keys the policy is sized for (frames). */
  readonly capacity: number;
  /** Resident keys now. */
  readonly size: number;
  /** Whether `key` is resident (ghost entries are not). */
  has(key: number): boolean;
  /** A reference to a resident key. */
  hit(key: number): void;
  /** A missed key becomes resident. Requires size < capacity and !has(key). */
  insert(key: number): void;
  /** The resident key to evict to make room for `incoming` (not resident), or NO_VICTIM. */
  victim(incoming: number, evictable?: (key: number) => boolean): number;
  /** A resident key leaves (after victim(), or chosen by the caller); it may stay as a ghost. */
  evict(key: number): void;
  /** Forget `key` entirely, resident or ghost. No-op for unknown keys. */
  forget(key: number): void;
  /** Figures for stats() (list sizes, adaptation targets, ghost counts). */
  stats(): Record<string, number>;
  /** Verifies the policy's internal invariants; throws CorruptionError. */
  check(): void;
}

export type PolicyFactory = (capacity: number) => ReplacementPolicy;

const registry = new Map<string, { factory: PolicyFactory; description: string }>();

/** Adds a policy under `name` (lowercase letters, digits and dashes). Replaces a same-named one. */
export function registerPolicy(name: string, description: string, factory: PolicyFactory): void {
  if (typeof name !== "string" || !/^[a-z][a-z0-9-]*$/.test(name)) {
    throw new InvalidArgumentError("policy name", name, "must be lowercase letters, digits and dashes");
  }
  if (typeof factory !== "function")
    throw new InvalidArgumentError("policy factory", factory, "must be a function");
  registry.set(name, { factory, description });
}

/** Names of every registered policy, in registration order. */
export function policyNames(): string[] {
  return [...registry.keys()];
}

/** One line per policy, for help texts. */
export function policyDescriptions(): { name: string; description: string }[] {
  return [...registry].map(([name, v]) => ({ name, description: v.description }));
}

/** A fresh policy of the named kind for `capacity` frames. */
export function createPolicy(name: string, capacity: number): ReplacementPolicy {
  const entry = typeof name === "string" ? registry.get(name) : undefined;
  if (!entry) {
    throw new InvalidArgumentError("policy", name, `must be one of ${policyNames().join(", ")}`);
  }
  checkCapacity(capacity);
  return entry.factory(capacity);
}

/** Every policy's constructor checks its capacity (frames) here. */
export function checkCapacity(capacity: number): void {
  if (!Number.isSafeInteger(capacity) || capacity <= 0 || capacity > 2 ** 30) {
    throw new InvalidArgumentError("capacity", capacity, "must be an integer from 1 to 2^30");
  }
}

/** A policy's tuning ratio (a share of its frames) must lie strictly between 0 and 1. */
export function checkRatio(name: string, ratio: number): void {
  if (!(ratio > 0 && ratio < 1)) throw new InvalidArgumentError(name, ratio, "must be between 0 and 1");
}

/**
 * One reference through the protocol above, for callers that own no data (the replayer, tests):
 * returns true on a hit.
 */
export function reference(policy: ReplacementPolicy, key: number): boolean {
  if (policy.has(key)) {
    policy.hit(key);
    return true;
  }
  if (policy.size >= policy.capacity) {
    const v = policy.victim(key);
    policy.evict(v);
  }
  policy.insert(key);
  return false;
}
