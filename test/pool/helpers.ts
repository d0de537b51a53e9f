/**
 * Shared pieces of the pool tests: starting a TypeScript fixture in a real worker thread (through
 * test/arena/fixtures/ts-worker.mjs, which registers tsx there), collecting its messages, and
 * snapshots of a pool's figures for "nothing changed" assertions.
 */
import { Worker } from "node:worker_threads";
import { expect } from "vitest";
import { type Mempool, OutOfPoolMemoryError } from "../../src/index.js";

const boot = new URL("../arena/fixtures/ts-worker.mjs", import.meta.url);

/** The file URL of a fixture under test/pool/fixtures. */
export function fixture(name: string): string {
  return new URL(`./fixtures/${name}`, import.meta.url).href;
}

export interface Started<M> {
  worker: Worker;
  /** Resolves with the next message (messages that came earlier are queued). */
  next(): Promise<M>;
  /** Resolves with the exit code. */
  exited: Promise<number>;
}

/**
 * Starts fixture `entry` in a worker with `data` as its workerData (plus `entry`); the pool, if
 * given, watches it, so its slot is recovered when it exits for whatever reason. A worker error
 * (an uncaught exception) rejects the pending and later next() calls. With POOL_CPU_PROF=DIR in
 * the environment, each worker writes a V8 CPU profile there (see bench/malloc/prof-summary.ts).
 */
export function start<M>(entry: string, data: object, pool?: Mempool): Started<M> {
  const worker = new Worker(boot, {
    workerData: { ...data, entry },
    ...(process.env.POOL_CPU_PROF
      ? { execArgv: ["--cpu-prof", `--cpu-prof-dir=${process.env.POOL_CPU_PROF}`] }
      : {}),
  });
  pool?.watch(worker);
  const queue: M[] = [];
  const waiting: Array<{ resolve: (m: M) => void; reject: (e: unknown) => void }> = [];
  let failure: unknown;
  worker.on("message", (m: M) => {
    const w = waiting.shift();
    if (w) w.resolve(m);
    else queue.push(m);
  });
  const fail = (e: unknown) => {
    failure = e;
    for (const w of waiting.splice(0)) w.reject(e);
  };
  worker.on("error", fail);
  const exited = new Promise<number>((resolve) => {
    worker.once("exit", (code) => {
      if (failure === undefined) fail(new Error(`worker exited with code ${code}`));
      resolve(code);
    });
  });
  return {
    worker,
    exited,
    next: () =>
      new Promise<M>((resolve, reject) => {
        const m = queue.shift();
        if (m !== undefined) resolve(m);
        else if (failure !== undefined) reject(failure);
        else waiting.push({ resolve, reject });
      }),
  };
}

/** Runs `entry` to completion: its first message and its exit. */
export async function runToEnd<M>(entry: string, data: object, pool?: Mempool): Promise<M> {
  const w = start<M>(entry, data, pool);
  const reply = await w.next();
  await w.exited;
  return reply;
}

/**
 * What "the pool is unchanged" compares: the figures, the dump and the check. The dump comes
 * first: the heap's part of it merges this thread's hot pages back (free either way), which the
 * per-worker figures would otherwise show as a change.
 */
export function snapshot(pool: Mempool): { stats: string; debug: string } {
  pool.check();
  const debug = pool.debugInfo();
  return { stats: JSON.stringify(pool.stats()), debug };
}

/** `fn` throws an instance of `cls` and leaves the pool's figures, dump and invariants unchanged. */
export function expectCleanFailure<E extends Error>(
  pool: Mempool,
  cls: abstract new (...args: never[]) => E,
  fn: () => unknown,
  label = fn.toString(),
): E {
  const before = snapshot(pool);
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error, `${label} should throw ${cls.name}`).toBeInstanceOf(cls);
  const after = snapshot(pool);
  expect(after.stats, `stats() after the failed ${label}`).toBe(before.stats);
  expect(after.debug, `debugInfo() after the failed ${label}`).toBe(before.debug);
  return error as E;
}

export { rng } from "../helpers/rng.js";

/** Allocates blocks of `bytes` until the pool is full (the last attempt must fail cleanly); returns them. */
export function fillPool(pool: Mempool, bytes: number): number[] {
  const blocks: number[] = [];
  for (;;) {
    try {
      blocks.push(pool.alloc(bytes));
    } catch (e) {
      expect(e).toBeInstanceOf(OutOfPoolMemoryError);
      return blocks;
    }
  }
}

/**
 * Runs `body` while two workers churn `pool`'s heap (fixtures/churn-worker.ts, seeds 1 and 2),
 * both at work before it starts; then stops them and checks that each finished cleanly.
 */
export async function whileWorkersChurn(pool: Mempool, body: () => void): Promise<void> {
  // Words: [0] stop, [1] operations done (counted by the workers).
  const control = new SharedArrayBuffer(16);
  const c = new Int32Array(control);
  const workers = [1, 2].map((seed) =>
    start<{ kind: string }>(
      fixture("churn-worker.ts"),
      { handle: pool.handle, mode: "churn", seed, control },
      pool,
    ),
  );
  try {
    while (Atomics.load(c, 1) < 20_000) await new Promise((r) => setTimeout(r, 5));
    body();
  } finally {
    Atomics.store(c, 0, 1);
    for (const w of workers) {
      let reply = await w.next();
      while (reply.kind === "running") reply = await w.next();
      expect(reply.kind).toBe("done");
    }
  }
}
