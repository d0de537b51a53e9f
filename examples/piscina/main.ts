/**
 * A mneme pool shared by the threads of a piscina worker pool.
 *
 *     node --import tsx examples/piscina/main.ts
 *
 * 1. Create the pool before piscina starts any worker, and pass its handle as piscina's workerData.
 * 2. Watch every worker piscina creates (pool.watch): piscina exposes them as `piscina.threads` and
 *    announces each with the "workerCreate" event. When piscina ends a worker (idle timeout,
 *    destroy(), a crash), the pool recovers its slot and its cached pages and objects.
 * 3. Tasks (task.ts) write results into pool memory and return addresses; the main thread reads
 *    them in place and hands them to other tasks to free.
 *
 * Piscina loads task-loader.mjs, which registers tsx in the worker and re-exports task.ts; with a
 * compiled task.js no loader is needed.
 */
import { pathToFileURL } from "node:url";
import type { Worker } from "node:worker_threads";
import { Mempool } from "mneme";
import { Piscina } from "piscina";
import type { Task, TaskResult } from "./task.js";

export interface Summary {
  tasks: number;
  /** Distinct worker threads that ran tasks. */
  threads: number;
  squaresOk: boolean;
  sumOk: boolean;
  wordsOk: boolean;
  /** Pool blocks and heap objects freed by a different thread than the one that allocated them. */
  crossFrees: number;
  /** Worker slots the pool recovered after piscina ended its workers. */
  recovered: number;
  /** The pool's free bytes are back to their value right after creation. */
  accountingExact: boolean;
  checkPassed: boolean;
}

export async function main(threads = 2): Promise<Summary> {
  const pool = Mempool.create(16 << 20);
  const fresh = pool.stats();
  const piscina = new Piscina<Task, TaskResult>({
    // task-loader.mjs registers tsx in each worker and re-exports task.ts (a compiled task.js
    // would be named here directly).
    filename: new URL("./task-loader.mjs", import.meta.url).href,
    workerData: { handle: pool.handle },
    minThreads: threads,
    maxThreads: threads,
  });
  const watched = new Set<Worker>();
  const watchAll = () => {
    for (const w of piscina.threads) {
      if (!watched.has(w)) {
        watched.add(w);
        pool.watch(w);
      }
    }
  };
  piscina.on("workerCreate", watchAll);
  watchAll();

  const seen = new Set<number>();
  let tasks = 0;
  const run = async (task: Task): Promise<TaskResult> => {
    const r = await piscina.run(task);
    tasks++;
    seen.add(r.threadId);
    return r;
  };

  // Squares, computed by the workers into pool blocks, read here in place.
  const count = 10_000;
  const squares = await Promise.all(
    Array.from({ length: 8 }, (_, k) => run({ kind: "squares", from: k * count, count })),
  );
  let squaresOk = true;
  for (const [k, r] of squares.entries()) {
    const v = pool.view(r.address!, count * 8);
    const f = new Float64Array(v.buffer, v.byteOffset, count);
    for (let i = 0; i < count; i += 997) if (f[i] !== (k * count + i) ** 2) squaresOk = false;
  }

  // The other way: the main thread writes, a worker reads in place.
  const input = pool.alloc(count * 8);
  const iv = pool.view(input, count * 8);
  const nums = new Float64Array(iv.buffer, iv.byteOffset, count);
  for (let i = 0; i < count; i++) nums[i] = i;
  const { sum } = await run({ kind: "sum", address: input, count });
  const sumOk = sum === (count * (count - 1)) / 2;

  // Strings in pool.heap objects, read here.
  const words = ["mneme", "pool", "shared", "by", "piscina", "workers"];
  const stored = await Promise.all([run({ kind: "words", words }), run({ kind: "words", words })]);
  const decoder = new TextDecoder();
  const wordsOk = stored.every((r) =>
    r.objects!.every((o, i) => decoder.decode(pool.view(o.address, o.length).slice()) === words[i]),
  );

  // Every block and object freed by a task, most likely on another thread than its allocator:
  // blocks of one squares task go to the task after it, and so on.
  const owners = new Map<number, number>();
  for (const r of squares) owners.set(r.address!, r.threadId);
  for (const r of stored) for (const o of r.objects!) owners.set(o.address, r.threadId);
  owners.set(input, 0);
  const frees = await Promise.all([
    run({ kind: "free", blocks: [input, ...squares.slice(0, 4).map((r) => r.address!)], objects: [] }),
    run({ kind: "free", blocks: squares.slice(4).map((r) => r.address!), objects: [] }),
    run({ kind: "free", blocks: [], objects: stored[0].objects!.map((o) => o.address) }),
    run({ kind: "free", blocks: [], objects: stored[1].objects!.map((o) => o.address) }),
  ]);
  let crossFrees = 0;
  const batches = [
    [input, ...squares.slice(0, 4).map((r) => r.address!)],
    squares.slice(4).map((r) => r.address!),
    stored[0].objects!.map((o) => o.address),
    stored[1].objects!.map((o) => o.address),
  ];
  for (const [i, batch] of batches.entries())
    for (const a of batch) if (owners.get(a) !== frees[i].threadId) crossFrees++;

  // piscina ends its workers; the pool recovers each one (they never called pool.close()).
  await piscina.destroy();
  while (pool.stats().workers.length > 1) await new Promise((r) => setTimeout(r, 5));
  const after = pool.stats();
  pool.heap.shrink();
  let checkPassed = true;
  try {
    pool.check();
  } catch {
    checkPassed = false;
  }
  return {
    tasks,
    threads: seen.size,
    squaresOk,
    sumOk,
    wordsOk,
    crossFrees,
    recovered: after.recoveries,
    accountingExact: pool.stats().free === fresh.free,
    checkPassed,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const summary = await main();
  console.log(JSON.stringify(summary));
}
