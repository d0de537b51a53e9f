/**
 * A piscina task module working in a shared mneme pool.
 *
 * Piscina imports this module once in each of its worker threads, so the pool is attached once
 * per worker, here at module scope, from the handle the main thread put in piscina's workerData
 * option (which piscina hands to each worker as its worker_threads workerData).
 * Every task then runs against the same pool: results are written into pool memory and only their
 * addresses travel back, and any worker may free a block another thread allocated.
 *
 * The worker never detaches (piscina has no per-worker teardown hook): when piscina ends a worker,
 * the main thread's pool.watch() recovers its slot and returns its cached pages and objects
 * (see main.ts).
 */
import { threadId, workerData } from "node:worker_threads";
import { Mempool, type MempoolHandle } from "mneme";

const pool = Mempool.attach((workerData as { handle: MempoolHandle }).handle);

/** Writes (from + i)^2 for i < count into a new pool block. */
export interface SquaresTask {
  kind: "squares";
  from: number;
  count: number;
}

/** Sums `count` float64s the main thread wrote at `address` (read in place, no copy). */
export interface SumTask {
  kind: "sum";
  address: number;
  count: number;
}

/** Stores each word as UTF-8 in a pool.heap object. */
export interface WordsTask {
  kind: "words";
  words: string[];
}

/** Frees pool blocks (pool.free) and heap objects (pool.heap.free), whoever allocated them. */
export interface FreeTask {
  kind: "free";
  blocks: number[];
  objects: number[];
}

export type Task = SquaresTask | SumTask | WordsTask | FreeTask;

export interface TaskResult {
  threadId: number;
  /** squares: the block; words: one object per word. */
  address?: number;
  objects?: { address: number; length: number }[];
  sum?: number;
  freed?: number;
}

const encoder = new TextEncoder();

function floats(address: number, count: number): Float64Array {
  const v = pool.view(address, count * 8);
  // Pool blocks are page aligned, so a Float64Array can sit right on top of one.
  return new Float64Array(v.buffer, v.byteOffset, count);
}

export default function run(task: Task): TaskResult {
  switch (task.kind) {
    case "squares": {
      const address = pool.alloc(task.count * 8);
      const f = floats(address, task.count);
      for (let i = 0; i < task.count; i++) f[i] = (task.from + i) ** 2;
      return { threadId, address };
    }
    case "sum": {
      const f = floats(task.address, task.count);
      let sum = 0;
      for (let i = 0; i < task.count; i++) sum += f[i];
      return { threadId, sum };
    }
    case "words": {
      const objects = task.words.map((word) => {
        const bytes = encoder.encode(word);
        const address = pool.heap.malloc(Math.max(1, bytes.length));
        pool.view(address, bytes.length).set(bytes);
        return { address, length: bytes.length };
      });
      return { threadId, objects };
    }
    case "free": {
      for (const b of task.blocks) pool.free(b);
      for (const o of task.objects) pool.heap.free(o);
      return { threadId, freed: task.blocks.length + task.objects.length };
    }
  }
}
