/** What the main thread sends each worker (workerData) and what each worker reports back. */
import type { MempoolHandle } from "mneme";

export interface WorkerTask {
  handle: MempoolHandle;
  /** Address of the table's header in the pool. */
  table: number;
  worker: number;
  workers: number;
  /** Own keys each worker inserts. */
  keys: number;
  /** Shared counters every worker increments, one per round, round-robin. */
  counters: number;
  /** Keys all workers race to insert first. */
  claims: number;
  /**
   * Address of an Int32 start gate in the pool: each worker, once attached, posts "ready" and
   * sleeps on it (Atomics.wait) until the main thread opens it, so all four run at the same time
   * instead of one after another as they finish starting up.
   */
  gate: number;
}

export interface WorkerReport {
  worker: number;
  threadId: number;
  inserts: number;
  deletes: number;
  rewrites: number;
  increments: number;
  lookups: number;
  /** Lookups of other workers' keys that found the key, and those that found a wrong value. */
  foreignFound: number;
  foreignBad: number;
  /** Claim keys this worker inserted (it saw no value before its update). */
  claimsWon: number[];
  /** The worker's own keys and values it left in the table, from its ledger. */
  own: [string, number][];
}
