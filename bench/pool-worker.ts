/**
 * One worker thread of the pool benchmark (pool.bench.ts). It sets up its allocator once, then
 * runs a round of a workload each time the main thread asks, and answers with the operations done
 * and the milliseconds they took. Designs:
 *
 *   pool      the shared Mempool (attached from the handle): pool.heap / pool.alloc directly
 *   locked    the same shared pool, every call wrapped in pool.segments[0].mutex lock/unlock
 *             (the naive design: one global lock)
 *   private   a Heap or PageAllocator of this worker's own, not shared (no lock, no sharing):
 *             the upper bound
 *   private-pool  a Mempool of this worker's own (same code as "pool", nobody to share with):
 *             tells the cost of sharing apart from the cost of the pool's bookkeeping
 *   pool-nocache  the shared Mempool created with workerCachePages: 0 (no block caches, no
 *             remote-free lists): what those two are worth
 *
 * Workloads keep a working set of `live` slots: each iteration frees the slot's block (if any)
 * and allocates a new one there, so one iteration is two operations (a free and an allocation).
 * The handoff workload instead passes every block it allocates to the next worker through a ring
 * (to itself when alone, and with the private designs, which share nothing), and frees the blocks
 * the previous worker passed to it: the producer/consumer shape of worker-thread programs.
 */
import { parentPort, workerData } from "node:worker_threads";
import { Heap, Mempool, type MempoolHandle, PageAllocator } from "../src/index.js";
import { Ring } from "../test/pool/fixtures/ring.js";

export type Design = "pool" | "locked" | "private" | "private-pool" | "pool-nocache";
export type WorkloadKey = "malloc" | "pages-1" | "pages-mixed" | "handoff";

export interface PoolWorkerData {
  entry: string;
  design: Design;
  handle?: MempoolHandle;
  /** Arena size for a private allocator. */
  privateBytes: number;
  seed: number;
  /** Handoff rings (Ring buffers): blocks this worker passes on, and blocks passed to it. */
  out: SharedArrayBuffer;
  in: SharedArrayBuffer;
}

export interface RoundRequest {
  workload: WorkloadKey;
  iterations: number;
}

export interface RoundReply {
  ops: number;
  ms: number;
}

const data = workerData as PoolWorkerData;
const PS = 4096;
const LIVE = 256;

// Sizes precomputed from a seeded PRNG, so the timed loop only reads an array.
const SIZES = 4096;
let s = data.seed >>> 0;
const rnd = () => {
  s = (s + 0x6d2b79f5) >>> 0;
  let t = s;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const small = new Int32Array(SIZES);
const pagesMixed = new Int32Array(SIZES);
for (let i = 0; i < SIZES; i++) {
  // Small objects: mostly up to 128 bytes, some up to 512.
  small[i] = rnd() < 0.8 ? 8 + Math.floor(rnd() * 121) : 129 + Math.floor(rnd() * 384);
  pagesMixed[i] = PS * (1 + Math.floor(rnd() * 8)) - Math.floor(rnd() * 100);
}

interface Api {
  malloc(n: number): number;
  mfree(a: number): void;
  alloc(n: number): number;
  free(a: number): void;
}

function api(): Api {
  if (data.design === "private") {
    const heap = new Heap({ bytes: data.privateBytes });
    const pages = new PageAllocator({ bytes: data.privateBytes });
    return {
      malloc: (n) => heap.malloc(n),
      mfree: (a) => heap.free(a),
      alloc: (n) => pages.alloc(n),
      free: (a) => pages.free(a),
    };
  }
  const pool =
    data.design === "private-pool" ? Mempool.create(data.privateBytes) : Mempool.attach(data.handle!);
  const heap = pool.heap;
  if (data.design === "pool" || data.design === "private-pool" || data.design === "pool-nocache") {
    return {
      malloc: (n) => heap.malloc(n),
      mfree: (a) => heap.free(a),
      alloc: (n) => pool.alloc(n),
      free: (a) => pool.free(a),
    };
  }
  const m = pool.segments[0].mutex!;
  return {
    malloc: (n) => {
      m.lock();
      try {
        return heap.malloc(n);
      } finally {
        m.unlock();
      }
    },
    mfree: (a) => {
      m.lock();
      try {
        heap.free(a);
      } finally {
        m.unlock();
      }
    },
    alloc: (n) => {
      m.lock();
      try {
        return pool.alloc(n);
      } finally {
        m.unlock();
      }
    },
    free: (a) => {
      m.lock();
      try {
        pool.free(a);
      } finally {
        m.unlock();
      }
    },
  };
}

const a = api();
const live = new Float64Array(LIVE);

function mallocRound(iterations: number): number {
  const { malloc, mfree } = a;
  for (let i = 0; i < iterations; i++) {
    const j = i & (LIVE - 1);
    const old = live[j];
    if (old !== 0) mfree(old);
    live[j] = malloc(small[i & (SIZES - 1)]);
  }
  for (let j = 0; j < LIVE; j++) {
    if (live[j] !== 0) mfree(live[j]);
    live[j] = 0;
  }
  return 2 * iterations;
}

function pagesRound(iterations: number, sizes: Int32Array | null): number {
  const { alloc, free } = a;
  // 64 live blocks: a working set the size of a hot stack.
  const mask = 63;
  for (let i = 0; i < iterations; i++) {
    const j = i & mask;
    const old = live[j];
    if (old !== 0) free(old);
    live[j] = alloc(sizes === null ? PS : sizes[i & (SIZES - 1)]);
  }
  for (let j = 0; j <= mask; j++) {
    if (live[j] !== 0) free(live[j]);
    live[j] = 0;
  }
  return 2 * iterations;
}

const out = new Ring(data.out);
const incoming = new Ring(data.in);

function handoffRound(iterations: number): number {
  const { alloc, free } = a;
  let given = 0;
  let freed = 0;
  const take = (address: number) => {
    free(address);
    freed++;
  };
  while (given < iterations || freed < iterations) {
    if (given < iterations) {
      const block = alloc(pagesMixed[given & (SIZES - 1)]);
      // Full: free what came in meanwhile; spin a while before sleeping (a futex round trip
      // per ring-full would measure the wake-up, not the allocator).
      for (let spins = 0; !out.push(block, 0, 0, 0); )
        if (incoming.drain(take) === 0 && ++spins > 10_000) out.waitWhileFull(1);
      given++;
    }
    if ((given & 15) === 0 || given === iterations) incoming.drain(take);
  }
  return 2 * iterations;
}

parentPort?.on("message", (m: RoundRequest | "exit") => {
  if (m === "exit") {
    parentPort?.close();
    return;
  }
  const t0 = performance.now();
  const ops =
    m.workload === "malloc"
      ? mallocRound(m.iterations)
      : m.workload === "handoff"
        ? handoffRound(m.iterations)
        : pagesRound(m.iterations, m.workload === "pages-1" ? null : pagesMixed);
  const reply: RoundReply = { ops, ms: performance.now() - t0 };
  parentPort?.postMessage(reply);
});
parentPort?.postMessage("ready");
