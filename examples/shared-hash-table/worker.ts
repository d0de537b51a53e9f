/**
 * One of the threads sharing the table: attaches the pool from the handle in workerData, opens
 * the table at the address the main thread created it at, runs its share of the workload
 * interleaved with the other workers, and reports what it did.
 *
 * The workload of worker w (keys of worker x are "w<x>:<i>", their values x * 1e6 + i, plus 0.5
 * once rewritten), one round per i:
 *
 * | operation                                     | shows                                        |
 * |-----------------------------------------------|----------------------------------------------|
 * | set own key i                                 | inserts into chains the other threads change |
 * | update "counter:<i mod C>" by +1              | read-modify-write under the stripe lock      |
 * | update "claim:<j>" to w if absent             | racing inserts of one key: exactly one wins  |
 * | get a random key of another worker            | lookups during their inserts and deletes     |
 * | delete own key i - 2 when i mod 3 = 2         | unlinks and frees (pool.heap.free)           |
 * | rewrite own key i - 1 when i mod 5 = 4        | in-place value changes                       |
 *
 * Only w touches its own keys, so its ledger (a Map) is exactly what the table must hold for
 * them at the end; the main thread checks that.
 */
import { parentPort, threadId, workerData } from "node:worker_threads";
import { Mempool } from "mneme";
import { SharedHashTable } from "./hash-table.js";
import type { WorkerReport, WorkerTask } from "./protocol.js";

const task = workerData as WorkerTask;
const pool = Mempool.attach(task.handle);
const table = SharedHashTable.attach(pool, task.table);

/** xorshift32, seeded per worker: the run is repeatable. */
let seed = (task.worker + 1) * 0x9e3779b1;
function random(n: number): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
}

// The start gate: report ready, then sleep until the main thread has seen every worker ready.
const gate = new Int32Array(pool.memory.buffer, task.gate, 1);
parentPort!.postMessage("ready");
Atomics.wait(gate, 0, 0);

const w = task.worker;
const own = (i: number) => `w${w}:${i}`;
const ledger = new Map<string, number>();
const report: WorkerReport = {
  worker: w,
  threadId,
  inserts: 0,
  deletes: 0,
  rewrites: 0,
  increments: 0,
  lookups: 0,
  foreignFound: 0,
  foreignBad: 0,
  claimsWon: [],
  own: [],
};

for (let i = 0; i < task.keys; i++) {
  const v = w * 1e6 + i;
  if (!table.set(own(i), v)) throw new Error(`${own(i)} was already there`);
  ledger.set(own(i), v);
  report.inserts++;

  table.update(`counter:${i % task.counters}`, (c) => (c ?? 0) + 1);
  report.increments++;

  if (i < task.claims) {
    const j = (i + w * 7) % task.claims;
    if (table.update(`claim:${j}`, (c) => c ?? w) === undefined) report.claimsWon.push(j);
  }

  if (task.workers > 1) {
    const x = (w + 1 + random(task.workers - 1)) % task.workers;
    const k = random(task.keys);
    const found = table.get(`w${x}:${k}`);
    report.lookups++;
    if (found !== undefined) {
      report.foreignFound++;
      // Whatever state the key is in, its value must be one its owner wrote for it.
      if (found !== x * 1e6 + k && found !== x * 1e6 + k + 0.5) report.foreignBad++;
    }
  }

  if (i % 3 === 2) {
    if (!table.delete(own(i - 2))) throw new Error(`${own(i - 2)} was not there to delete`);
    ledger.delete(own(i - 2));
    report.deletes++;
  }
  if (i % 5 === 4 && ledger.has(own(i - 1))) {
    const nv = w * 1e6 + (i - 1) + 0.5;
    if (table.set(own(i - 1), nv)) throw new Error(`${own(i - 1)} vanished`);
    ledger.set(own(i - 1), nv);
    report.rewrites++;
  }
}

report.own = [...ledger];
parentPort!.postMessage(report);
// Detach: this thread's cached pages and heap objects go back to the pool.
pool.close();
