/**
 * A hash table in a mneme pool, used at once by four worker threads.
 *
 *     npm run build && node --import tsx examples/shared-hash-table/main.ts
 *
 * 1. The main thread creates the pool, then the table in it (hash-table.ts), before any worker.
 * 2. Each worker gets `pool.handle` and the table's address through workerData, attaches the pool
 *    (`Mempool.attach`) and the table, and inserts, updates, looks up and deletes concurrently
 *    with the others (worker.ts); entries are `pool.heap` objects, allocated and freed by
 *    whichever thread inserts or deletes them.
 * 3. The main thread checks the table against what the workers report, frees it, and checks
 *    that the pool is back to where it started.
 */
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { Mempool } from "mneme";
import { SharedHashTable } from "./hash-table.js";
import type { WorkerReport, WorkerTask } from "./protocol.js";

export interface Options {
  workers?: number;
  keys?: number;
  counters?: number;
  claims?: number;
  buckets?: number;
  stripes?: number;
}

export interface Summary {
  workers: number;
  /** Distinct threads that ran workers. */
  threads: number;
  entries: number;
  inserts: number;
  deletes: number;
  lookups: number;
  foreignFound: number;
  /** Lookups that saw a value its key's owner never wrote (a torn or misplaced entry). */
  foreignBad: number;
  /** The table holds exactly the workers' ledgers, the counters and the claims. */
  contentsMatch: boolean;
  /** The table's atomic entry count equals the entries found by walking it. */
  sizeMatches: boolean;
  /** Every counter equals the number of increments all workers made to it. */
  countersExact: boolean;
  /** Every claim key was won by exactly one worker, and holds that worker's number. */
  claimsUnique: boolean;
  /** After destroy() and the workers' close(), the pool's free bytes are as right after creation. */
  accountingExact: boolean;
  checkPassed: boolean;
}

/** Starts a worker; `ready` resolves when it waits at the gate, `done` with its report. */
function startWorker(task: WorkerTask, pool: Mempool): { ready: Promise<void>; done: Promise<WorkerReport> } {
  const worker = new Worker(new URL("./worker-boot.mjs", import.meta.url), { workerData: task });
  pool.watch(worker);
  let ready!: () => void;
  const readyP = new Promise<void>((r) => {
    ready = r;
  });
  const done = new Promise<WorkerReport>((resolve, reject) => {
    let report: WorkerReport | undefined;
    worker.on("message", (m: "ready" | WorkerReport) => {
      if (m === "ready") ready();
      else report = m;
    });
    worker.once("error", reject);
    worker.once("exit", (code) => {
      if (report && code === 0) resolve(report);
      else
        reject(
          new Error(`worker ${task.worker} exited with code ${code}${report ? "" : " without a report"}`),
        );
    });
  });
  // A worker that fails before the gate must not leave main() waiting for it.
  return { ready: Promise.race([readyP, done.then(() => {})]), done };
}

export async function main(options: Options = {}): Promise<Summary> {
  const workers = options.workers ?? 4;
  const keys = options.keys ?? 3000;
  const counters = options.counters ?? 16;
  const claims = options.claims ?? 256;
  const pool = Mempool.create(32 << 20);
  const fresh = pool.stats().free;
  // Fewer buckets than entries, and fewer locks than buckets: chains are shared, stripes contended.
  const table = SharedHashTable.create(pool, {
    buckets: options.buckets ?? 1024,
    stripes: options.stripes ?? 32,
  });

  const gate = pool.heap.calloc(1, 4);
  const started = Array.from({ length: workers }, (_, worker) =>
    startWorker(
      { handle: pool.handle, table: table.address, worker, workers, keys, counters, claims, gate },
      pool,
    ),
  );
  await Promise.all(started.map((s) => s.ready));
  const g = new Int32Array(pool.memory.buffer, gate, 1);
  Atomics.store(g, 0, 1);
  Atomics.notify(g, 0);
  const reports = await Promise.all(started.map((s) => s.done));
  pool.heap.free(gate);

  // What the table must hold: each worker's ledger of its own keys, the counters, the claims.
  const expected = new Map<string, number>();
  for (const r of reports) for (const [k, v] of r.own) expected.set(k, v);
  const increments = new Array<number>(counters).fill(0);
  for (const r of reports) for (let i = 0; i < r.increments; i++) increments[i % counters]++;
  for (let c = 0; c < counters; c++) if (increments[c] > 0) expected.set(`counter:${c}`, increments[c]);
  const winners = new Map<number, number[]>();
  for (const r of reports) for (const j of r.claimsWon) winners.set(j, [...(winners.get(j) ?? []), r.worker]);
  for (const [j, ws] of winners) expected.set(`claim:${j}`, ws[0]);

  const actual = new Map(table.entries());
  const contentsMatch = actual.size === expected.size && [...expected].every(([k, v]) => actual.get(k) === v);
  const sizeMatches = table.size === actual.size;
  const countersExact = increments.every((n, c) => table.get(`counter:${c}`) === n);
  const claimed = Math.min(claims, keys);
  const claimsUnique =
    winners.size === claimed &&
    [...winners].every(([j, ws]) => ws.length === 1 && table.get(`claim:${j}`) === ws[0]);

  table.destroy();
  // The workers detached (pool.close()); the heap gives its now empty slabs back to the pages.
  pool.heap.shrink();
  let checkPassed = true;
  try {
    pool.check();
  } catch {
    checkPassed = false;
  }
  const sum = (f: (r: WorkerReport) => number) => reports.reduce((n, r) => n + f(r), 0);
  return {
    workers,
    threads: new Set(reports.map((r) => r.threadId)).size,
    entries: actual.size,
    inserts: sum((r) => r.inserts),
    deletes: sum((r) => r.deletes),
    lookups: sum((r) => r.lookups),
    foreignFound: sum((r) => r.foreignFound),
    foreignBad: sum((r) => r.foreignBad),
    contentsMatch,
    sizeMatches,
    countersExact,
    claimsUnique,
    accountingExact: pool.stats().free === fresh,
    checkPassed,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const summary = await main();
  console.log(JSON.stringify(summary));
}
