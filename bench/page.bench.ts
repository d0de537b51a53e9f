/**
 * Page layer: mneme's buddy PageAllocator against the cost floor (PageStack, a bare stack of
 * free pages) and against @thi.ng/malloc's MemPool, on the same precomputed request sequences.
 *
 * Every workload is a sequence of operations generated up front from a seeded PRNG:
 *   op > 0   allocate op bytes and append the address to the live set
 *   op < 0   free the live slot ~op (the last live slot moves into the hole)
 * The first `prefill` operations are allocations done before the clock starts; only the loop
 * over the rest is timed. Each peer gets a fresh allocator whose buffer has been pre-faulted, so
 * no kernel first-touch faults land in a timed loop. Figures are ns per alloc+free pair
 * (timed operations / 2), the median over the runs; the peers' order rotates from run to run so
 * that machine noise hits every peer alike. A failed allocation (thi.ng returns 0, mneme throws
 * OutOfMemoryError) is counted, stored as 0 and its later free is skipped, so every peer runs
 * exactly the same sequence.
 *
 * The "loop only" column runs the same loop with no allocator (alloc hands out a counter): the
 * cost of reading the sequence and keeping the live set, which every other figure includes.
 *
 * No gc() is forced between measurements: doing so made V8 drop and recompile the timed loops
 * in every run (visible with --trace-opt), which inflated the stack floor from ~5 to 10-50 ns.
 * The timed loops allocate nothing (short of an OutOfMemoryError), so no collection starts in one.
 *
 * The generators and timed loops are exported for ad-hoc experiments and profiling; `npm run
 * bench` only calls run().
 */
import { MemPool } from "@thi.ng/malloc";
import { OutOfMemoryError, PageAllocator } from "../src/index.js";
import {
  type BenchOptions,
  type BenchResult,
  markdownTable,
  median,
  prefault,
  prng,
  textTable,
} from "./harness.js";
import { PageStack } from "./page-stack.js";

const PAGE = 4096;
const MiB = 2 ** 20;

type Peer = "loop" | "stack" | "mneme" | "mneme-hot0" | "thi.ng";
const PEERS: readonly Peer[] = ["loop", "stack", "mneme", "mneme-hot0", "thi.ng"];
const PEER_TITLE: Record<Peer, string> = {
  loop: "loop only",
  stack: "stack floor",
  mneme: "mneme",
  "mneme-hot0": "mneme hotPages:0",
  "thi.ng": "thi.ng MemPool",
};

export interface Workload {
  key: string;
  /** What the sequence looks like, for the report. */
  shape: string;
  /** mneme's call: allocPages(0) or alloc(bytes). PageStack always alloc(), thi.ng malloc(bytes). */
  api: "allocPages(0)" | "alloc(bytes)";
  arenaBytes: number;
  ops: Int32Array;
  prefill: number;
  /** Most live allocations at any point (size of the live-slot array). */
  maxLive: number;
  /** Timed allocs + timed frees, halved. */
  pairs: number;
  peers: readonly Peer[];
}

export interface Measure {
  /** ns per alloc+free pair */
  ns: number;
  /** allocations that failed */
  fails: number;
}

// ------------------------------------------------------------------ sequences

class OpBuilder {
  ops: Int32Array;
  length = 0;
  live = 0;
  maxLive = 0;
  constructor(capacity: number) {
    this.ops = new Int32Array(capacity);
  }
  alloc(bytes: number): void {
    this.ops[this.length++] = bytes;
    this.live++;
    if (this.live > this.maxLive) this.maxLive = this.live;
  }
  /** Frees live slot `slot`; the generator keeps any per-slot data in step with the swap. */
  free(slot: number): void {
    this.ops[this.length++] = ~slot;
    this.live--;
  }
}

/** Live set at half the pages; every step frees a random live page and allocates one. */
export function orderZeroRandom(
  key: string,
  api: Workload["api"],
  arenaBytes: number,
  pairs: number,
  seed: number,
) {
  const rand = prng(seed);
  const prefill = (arenaBytes / PAGE) >> 1;
  const b = new OpBuilder(prefill + 2 * pairs);
  for (let i = 0; i < prefill; i++) b.alloc(PAGE);
  for (let i = 0; i < pairs; i++) {
    b.free(Math.floor(rand() * b.live));
    b.alloc(PAGE);
  }
  return workload(key, api, arenaBytes, b, prefill, "free a random live page, alloc one; live 50%");
}

/**
 * Bursts: a direction (alloc or free, even odds) and a length log-uniform in 1..1023, clipped so
 * the live set stays between 25% and 75% of the pages. Runs longer than the hot-page stack force
 * mneme through its buddy lists in both directions.
 */
export function orderZeroBurst(
  key: string,
  api: Workload["api"],
  arenaBytes: number,
  pairs: number,
  seed: number,
) {
  const rand = prng(seed);
  const pages = arenaBytes / PAGE;
  const lo = Math.floor(pages * 0.25);
  const hi = Math.floor(pages * 0.75);
  const prefill = pages >> 1;
  const total = prefill + 2 * pairs;
  const b = new OpBuilder(total);
  for (let i = 0; i < prefill; i++) b.alloc(PAGE);
  while (b.length < total) {
    const up = rand() < 0.5;
    let burst = Math.floor(2 ** (rand() * 10));
    while (burst-- > 0 && b.length < total) {
      if (up && b.live < hi) b.alloc(PAGE);
      else if (!up && b.live > lo) b.free(Math.floor(rand() * b.live));
      else break;
    }
  }
  return workload(key, api, arenaBytes, b, prefill, "bursts of 1-1023 allocs or frees; live 25-75%");
}

/**
 * Sizes log-uniform from 4 KiB to 1 MiB (any byte count, not page multiples), random frees; the
 * live bytes random-walk between 20% and 40% of the arena.
 */
export function mixedSizes(key: string, arenaBytes: number, pairs: number, seed: number) {
  const rand = prng(seed);
  const lo = arenaBytes * 0.2;
  const hi = arenaBytes * 0.4;
  const size = () => Math.round(PAGE * 256 ** rand());
  const sizes: number[] = [];
  let bytes = 0;
  const grow = (b: OpBuilder, s: number) => {
    b.alloc(s);
    sizes.push(s);
    bytes += s;
  };
  const shrink = (b: OpBuilder) => {
    const slot = Math.floor(rand() * b.live);
    b.free(slot);
    bytes -= sizes[slot];
    sizes[slot] = sizes[sizes.length - 1];
    sizes.pop();
  };
  const b = new OpBuilder(Math.ceil(lo / PAGE) + 2 * pairs);
  while (bytes < lo) grow(b, size());
  const prefill = b.length;
  const total = prefill + 2 * pairs;
  while (b.length < total) {
    const s = size();
    if (bytes < lo || (rand() < 0.5 && bytes + s <= hi)) grow(b, s);
    else shrink(b);
  }
  return workload(
    key,
    "alloc(bytes)",
    arenaBytes,
    b,
    prefill,
    "4 KiB-1 MiB log-uniform, random frees; live 20-40%",
  );
}

function workload(
  key: string,
  api: Workload["api"],
  arenaBytes: number,
  b: OpBuilder,
  prefill: number,
  shape: string,
): Workload {
  const ops = b.ops.subarray(0, b.length);
  const peers: Peer[] =
    key === "mixed"
      ? ["loop", "mneme", "mneme-hot0", "thi.ng"]
      : api === "allocPages(0)"
        ? ["loop", "stack", "mneme", "mneme-hot0"]
        : [...PEERS];
  return {
    key,
    shape,
    api,
    arenaBytes,
    ops,
    prefill,
    maxLive: b.maxLive,
    pairs: (ops.length - prefill) / 2,
    peers,
  };
}

// ------------------------------------------------------------------ timed loops
// One function per peer and call, so every call site in a timed loop stays monomorphic.

/** The loop with no allocator: alloc hands out a counter, free drops the address. */
export function runLoop(w: Workload, live: Int32Array): Measure {
  const ops = w.ops;
  const end = ops.length;
  let n = 0;
  let next = 0;
  for (let i = 0; i < w.prefill; i++) live[n++] = ++next;
  let sink = 0;
  const t0 = performance.now();
  for (let i = w.prefill; i < end; i++) {
    const op = ops[i];
    if (op < 0) {
      const j = ~op;
      const a = live[j];
      live[j] = live[--n];
      sink ^= a;
    } else {
      const a = ++next;
      live[n++] = a;
    }
  }
  const t1 = performance.now();
  if (sink === 0.5) throw new Error("unreachable");
  return { ns: ((t1 - t0) * 1e6) / w.pairs, fails: 0 };
}

export function runStack(w: Workload, live: Int32Array): Measure {
  const s = new PageStack(w.arenaBytes / PAGE, PAGE);
  const ops = w.ops;
  const end = ops.length;
  let n = 0;
  for (let i = 0; i < w.prefill; i++) live[n++] = s.alloc();
  const t0 = performance.now();
  for (let i = w.prefill; i < end; i++) {
    const op = ops[i];
    if (op < 0) {
      const j = ~op;
      const a = live[j];
      live[j] = live[--n];
      s.free(a);
    } else {
      const a = s.alloc();
      live[n++] = a;
    }
  }
  const t1 = performance.now();
  return { ns: ((t1 - t0) * 1e6) / w.pairs, fails: 0 };
}

/** `hotPages` undefined: mneme's default hot-stack size. */
function newMneme(w: Workload, hotPages: number | undefined): PageAllocator {
  const pa = new PageAllocator({ bytes: w.arenaBytes, hotPages });
  prefault(pa.memory);
  return pa;
}

/** Frees everything still live and runs the full structural check (warm-up run only). */
function verifyMneme(pa: PageAllocator, live: Int32Array, n: number): void {
  pa.check();
  for (let i = 0; i < n; i++) if (live[i] !== 0) pa.free(live[i]);
  pa.check();
  if (pa.stats().free !== pa.capacity) throw new Error("mneme: pages lost after freeing everything");
}

export function runMnemePages(
  w: Workload,
  live: Int32Array,
  hotPages: number | undefined,
  verify: boolean,
): Measure {
  const pa = newMneme(w, hotPages);
  const ops = w.ops;
  const end = ops.length;
  let n = 0;
  for (let i = 0; i < w.prefill; i++) live[n++] = pa.allocPages(0);
  let fails = 0;
  let i = w.prefill;
  const t0 = performance.now();
  while (i < end) {
    try {
      for (; i < end; i++) {
        const op = ops[i];
        if (op < 0) {
          const j = ~op;
          const a = live[j];
          live[j] = live[--n];
          if (a !== 0) pa.free(a);
        } else {
          const a = pa.allocPages(0);
          live[n++] = a;
        }
      }
    } catch (e) {
      if (!(e instanceof OutOfMemoryError)) throw e;
      live[n++] = 0;
      fails++;
      i++;
    }
  }
  const t1 = performance.now();
  if (verify) verifyMneme(pa, live, n);
  return { ns: ((t1 - t0) * 1e6) / w.pairs, fails };
}

export function runMnemeBytes(
  w: Workload,
  live: Int32Array,
  hotPages: number | undefined,
  verify: boolean,
): Measure {
  const pa = newMneme(w, hotPages);
  const ops = w.ops;
  const end = ops.length;
  let n = 0;
  for (let i = 0; i < w.prefill; i++) live[n++] = pa.alloc(ops[i]);
  let fails = 0;
  let i = w.prefill;
  const t0 = performance.now();
  while (i < end) {
    try {
      for (; i < end; i++) {
        const op = ops[i];
        if (op < 0) {
          const j = ~op;
          const a = live[j];
          live[j] = live[--n];
          if (a !== 0) pa.free(a);
        } else {
          const a = pa.alloc(op);
          live[n++] = a;
        }
      }
    } catch (e) {
      if (!(e instanceof OutOfMemoryError)) throw e;
      live[n++] = 0;
      fails++;
      i++;
    }
  }
  const t1 = performance.now();
  if (verify) verifyMneme(pa, live, n);
  return { ns: ((t1 - t0) * 1e6) / w.pairs, fails };
}

/**
 * thi.ng MemPool over a buffer of the same size. Options spelled out (they are its defaults):
 * 8-byte alignment (the minimum; page alignment would double every 4 KiB block), compact: merge
 * neighbouring free blocks on every free (without it the mixed workload fragments and fails),
 * split: cut the excess off a reused block when it is at least minSplit bytes.
 */
export function runThing(w: Workload, live: Int32Array): Measure {
  const pool = new MemPool({ size: w.arenaBytes, align: 8, compact: true, split: true, minSplit: 16 });
  prefault(new Uint8Array(pool.buf));
  const ops = w.ops;
  const end = ops.length;
  let n = 0;
  let fails = 0;
  for (let i = 0; i < w.prefill; i++) {
    const a = pool.malloc(ops[i]);
    if (a === 0) fails++;
    live[n++] = a;
  }
  let lost = 0;
  const t0 = performance.now();
  for (let i = w.prefill; i < end; i++) {
    const op = ops[i];
    if (op < 0) {
      const j = ~op;
      const a = live[j];
      live[j] = live[--n];
      if (a !== 0 && !pool.free(a)) lost++;
    } else {
      const a = pool.malloc(op);
      if (a === 0) fails++;
      live[n++] = a;
    }
  }
  const t1 = performance.now();
  if (lost > 0) throw new Error(`thi.ng: ${lost} frees of live addresses were refused`);
  return { ns: ((t1 - t0) * 1e6) / w.pairs, fails };
}

function measure(peer: Peer, w: Workload, live: Int32Array, verify: boolean): Measure {
  switch (peer) {
    case "loop":
      return runLoop(w, live);
    case "stack":
      return runStack(w, live);
    case "mneme":
    case "mneme-hot0": {
      const hot = peer === "mneme" ? undefined : 0;
      return w.api === "allocPages(0)"
        ? runMnemePages(w, live, hot, verify)
        : runMnemeBytes(w, live, hot, verify);
    }
    case "thi.ng":
      return runThing(w, live);
  }
}

// ------------------------------------------------------------------ report

/** One workload's measurements, as they appear in the JSON line. */
interface WorkloadData {
  key: string;
  shape: string;
  mnemeCall: Workload["api"];
  arenaBytes: number;
  pairs: number;
  maxLive: number;
  /** Per peer: the median, every run's figure (in run order, so runs pair up across peers), fails. */
  peers: Partial<Record<Peer, { median: number; runs: number[]; fails: number }>>;
  /** Median of the per-run ratios mneme/stack (both figures of a run were taken moments apart). */
  mnemeOverStack: number | null;
  /** Median of the per-run ratios thi.ng/mneme. */
  thingOverMneme: number | null;
}

interface PageData {
  /** Runs per peer behind each median (all processes together when merged). */
  runs: number;
  /** How many bench processes the runs came from. */
  processes: number;
  /** Short sequences (--quick): a smoke test, not figures. */
  quick: boolean;
  unit: string;
  workloads: WorkloadData[];
  targets: { target: string; value: number; pass: boolean }[];
}

/** Median of a[i] / b[i]. */
function pairedRatio(a: number[] | undefined, b: number[] | undefined): number | null {
  if (!a || !b || a.length === 0 || a.length !== b.length) return null;
  return median(a.map((x, i) => x / b[i]));
}

function workloadData(
  w: Omit<WorkloadData, "peers" | "mnemeOverStack" | "thingOverMneme">,
  runs: Partial<Record<Peer, number[]>>,
  fails: Partial<Record<Peer, number>>,
): WorkloadData {
  const peers: WorkloadData["peers"] = {};
  for (const p of PEERS) {
    const r = runs[p];
    if (r && r.length > 0) peers[p] = { median: median(r), runs: r, fails: fails[p] ?? 0 };
  }
  return {
    ...w,
    peers,
    mnemeOverStack: pairedRatio(runs.mneme, runs.stack),
    thingOverMneme: pairedRatio(runs["thi.ng"], runs.mneme),
  };
}

function pageData(workloads: WorkloadData[], runs: number, processes: number, quick: boolean): PageData {
  const targets: PageData["targets"] = [];
  for (const w of workloads) {
    if (w.key.startsWith("order0") && w.mnemeOverStack !== null) {
      const value = w.mnemeOverStack;
      targets.push({ target: `${w.key}: mneme within 2× of the stack floor`, value, pass: value <= 2 });
    }
    if (w.key === "mixed" && w.thingOverMneme !== null) {
      const value = w.thingOverMneme;
      targets.push({ target: `${w.key}: mneme at least 3× faster than thi.ng`, value, pass: value >= 3 });
    }
  }
  const unit = "ns per alloc+free pair (median of the runs); ratios are medians of per-run ratios";
  return { runs, processes, quick, unit, workloads, targets };
}

const fmt = (ns: number | undefined) =>
  ns === undefined ? "-" : ns >= 1000 ? `${Math.round(ns).toLocaleString("en-US")}` : ns.toFixed(1);
const showRatio = (r: number | null) => (r === null ? "-" : `${r.toFixed(2)}×`);

function render(data: PageData): BenchResult {
  const header = [
    "workload",
    "mneme call",
    "arena",
    "pairs",
    ...PEERS.map((p) => `${PEER_TITLE[p]} ns`),
    "mneme/stack",
    "thi.ng/mneme",
    "failed allocs",
  ];
  const cells = data.workloads.map((w) => {
    const failed = PEERS.filter((p) => (w.peers[p]?.fails ?? 0) > 0).map(
      (p) => `${p} ${Math.round((w.peers[p]?.fails ?? 0) / data.runs)}/run`,
    );
    return [
      w.key,
      w.mnemeCall,
      `${w.arenaBytes / MiB} MiB`,
      w.pairs.toLocaleString("en-US"),
      ...PEERS.map((p) => fmt(w.peers[p]?.median)),
      showRatio(w.mnemeOverStack),
      showRatio(w.thingOverMneme),
      failed.length ? failed.join(", ") : "0",
    ];
  });
  const from = data.processes > 1 ? ` from ${data.processes} processes` : "";
  const quick = data.quick ? " [--quick: smoke test, not figures]" : "";
  const title = `ns per alloc+free pair, median of ${data.runs} runs${from} (lower is better); ratios: median of per-run ratios${quick}`;
  const targetText = data.targets.map(
    (t) => `${t.pass ? "PASS" : "MISS"}  ${t.target}: ${t.value.toFixed(2)}×`,
  );
  const text = [
    title,
    textTable(header, cells),
    "",
    ...data.workloads.map((w) => `  ${w.key}: ${w.shape}`),
    "",
    ...targetText,
  ].join("\n");
  const markdown = [
    `${title}.`,
    "",
    markdownTable(header, cells),
    "",
    ...data.targets.map((t) => `- ${t.pass ? "**PASS**" : "**MISS**"} ${t.target}: ${t.value.toFixed(2)}×`),
  ].join("\n");
  return { name: "page", text, markdown, data };
}

/**
 * Several processes' JSON data (from `BENCH_JSON` lines) as one result: each peer's runs are
 * concatenated in process order, so per-run pairs stay paired, and medians and ratios are taken
 * over all of them. Used by bench/aggregate.ts.
 */
export function merge(datas: readonly unknown[]): BenchResult {
  const all = datas as PageData[];
  if (all.length === 0) throw new Error("page: nothing to merge");
  const workloads = all[0].workloads.map((first) => {
    const runs: Partial<Record<Peer, number[]>> = {};
    const fails: Partial<Record<Peer, number>> = {};
    for (const d of all) {
      const w = d.workloads.find((x) => x.key === first.key);
      if (!w) throw new Error(`page: workload ${first.key} missing from one of the runs`);
      if (w.pairs !== first.pairs || w.arenaBytes !== first.arenaBytes) {
        throw new Error(`page: workload ${first.key} differs between runs (pairs or arena)`);
      }
      for (const p of PEERS) {
        const m = w.peers[p];
        if (!m) continue;
        runs[p] = [...(runs[p] ?? []), ...m.runs];
        fails[p] = (fails[p] ?? 0) + m.fails;
      }
    }
    const { peers: _peers, mnemeOverStack: _a, thingOverMneme: _b, ...meta } = first;
    return workloadData(meta, runs, fails);
  });
  const runs = all.reduce((n, d) => n + d.runs, 0);
  const processes = all.reduce((n, d) => n + (d.processes ?? 1), 0);
  return render(
    pageData(
      workloads,
      runs,
      processes,
      all.some((d) => d.quick),
    ),
  );
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const quick = options.quick;
  const scale = quick ? 20 : 1;
  const runs = Math.max(quick ? 1 : 5, options.runs);
  const seed = 0x6d6e656d; // "mnem"

  const all: readonly [string, () => Workload][] = [
    [
      "order0-random",
      () => orderZeroRandom("order0-random", "allocPages(0)", 64 * MiB, 2_000_000 / scale, seed),
    ],
    [
      "order0-burst",
      () => orderZeroBurst("order0-burst", "allocPages(0)", 64 * MiB, 2_000_000 / scale, seed + 1),
    ],
    ["4k-random", () => orderZeroRandom("4k-random", "alloc(bytes)", 16 * MiB, 100_000 / scale, seed + 2)],
    ["4k-burst", () => orderZeroBurst("4k-burst", "alloc(bytes)", 16 * MiB, 100_000 / scale, seed + 3)],
    ["mixed", () => mixedSizes("mixed", 256 * MiB, 40_000 / scale, seed + 4)],
  ];
  const chosen = all.filter(([key]) => options.only === undefined || key.includes(options.only));
  if (chosen.length === 0) throw new Error(`page: no workload matches --only ${options.only}`);
  options.log("page: generating request sequences");
  const workloads = chosen.map(([, make]) => make());
  const live = new Int32Array(Math.max(...workloads.map((w) => w.maxLive)));
  const results = workloads.map(() => ({
    runs: {} as Partial<Record<Peer, number[]>>,
    fails: {} as Partial<Record<Peer, number>>,
  }));

  // Round 0 warms the JIT up and verifies mneme's state afterwards; it is not recorded.
  for (let round = 0; round <= runs; round++) {
    const started = performance.now();
    workloads.forEach((w, i) => {
      for (let k = 0; k < w.peers.length; k++) {
        const peer = w.peers[(k + round) % w.peers.length];
        const m = measure(peer, w, live, round === 0);
        if (round === 0) continue;
        const r = results[i];
        r.runs[peer] = [...(r.runs[peer] ?? []), Math.round(m.ns * 1000) / 1000];
        r.fails[peer] = (r.fails[peer] ?? 0) + m.fails;
      }
    });
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    options.log(`page: ${round === 0 ? "warm-up" : `run ${round}/${runs}`} done in ${secs} s`);
  }

  const data = workloads.map((w, i) =>
    workloadData(
      {
        key: w.key,
        shape: w.shape,
        mnemeCall: w.api,
        arenaBytes: w.arenaBytes,
        pairs: w.pairs,
        maxLive: w.maxLive,
      },
      results[i].runs,
      results[i].fails,
    ),
  );
  return render(pageData(data, runs, 1, quick));
}
