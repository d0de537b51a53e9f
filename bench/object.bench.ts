/**
 * Object layer: mneme's Heap against glibc malloc, mimalloc, jemalloc, tcmalloc, @thi.ng/malloc
 * and a bump allocator, all replaying the SAME operation sequences (issue 3, "Benchmark").
 *
 * Workloads (each converted once into a binary op file under bench/.build/malloc, see
 * malloc/ops.ts; rebuilt when the generator, the format or the trace changes):
 *   fixed-117      fill 100k objects of 117 B (untimed), then 10M steps: free a random live
 *                  object, allocate one in its place (20M timed ops)
 *   mixed          sizes log-uniform 16 B - 64 KiB, fill 50k (untimed), then 2M steps (4M ops)
 *   perl-wordfreq, bash-assoc   the real traces in ../shared/malloc (every op timed)
 *
 * Peers: C allocators through malloc/replay.c (built here with gcc -O2; mimalloc, jemalloc and
 * tcmalloc loaded with LD_PRELOAD, glibc without), and the JS allocators through
 * malloc/replay-js.ts. Every measurement is one fresh process, so no peer inherits another's heap,
 * JIT state or garbage; within a run, the peers' order rotates from workload to workload and from
 * run to run. Figures: median ns/op over the runs (ops = a, c, f, r each once; the untimed fill
 * is excluded), footprint / peak live requested bytes, and ratios against glibc.
 *
 * @thi.ng/malloc is quadratic on these sequences (its free() walks the used list, its malloc the
 * free list), so it gets a time budget: the first run stops after the budget and says how far it
 * got; the later runs replay exactly that prefix, so all its runs measure the same operations.
 * Its ns/op covers that prefix only and is not comparable with the full-sequence figures.
 *
 * JS peers first replay a 2M-op prefix on a throwaway allocator (warm-up, so that V8 runs optimized
 * code in the timed pass; the figure of that pass is the "cold ns/op" column). Besides wall-clock
 * ns/op (what the verdicts use) every replayer reports the on-CPU time of its thread per op, which
 * other processes competing for the CPU do not inflate.
 *
 * Before the timed runs, mneme replays every workload once in --verify mode (whole-block patterns,
 * heap.check(), free-everything-returns-to-start), plus "stress", a verify-only sequence of every
 * operation kind (alignments 8 B - 64 KiB, calloc, realloc, size 0); glibc replays the real traces
 * and stress the same way (which checks the op files and replay.c). A failure is reported loudly.
 *
 * Options (bench/index.ts): --runs N (at least 5 here), --only WORKLOAD, --quick (smoke test).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type BenchOptions, type BenchResult, markdownTable, median, textTable } from "./harness.js";
import {
  FORMAT_VERSION,
  fixedWorkload,
  mixedWorkload,
  type OpFile,
  parseTrace,
  readOpHeader,
  stressWorkload,
  writeOpFile,
} from "./malloc/ops.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BUILD = `${ROOT}bench/.build/malloc/`;
const REPLAY_C = `${ROOT}bench/malloc/replay.c`;
const REPLAY_BIN = `${BUILD}replay`;
const REPLAY_JS = `${ROOT}bench/malloc/replay-js.ts`;
const VMALLOC_JS = `${ROOT}bench/malloc/vmalloc.ts`;
const TRACES = `${ROOT}../shared/malloc/`;
/** Bump when a synthetic generator changes. */
const GENERATOR_VERSION = 1;
/** Where the Debian packages put the preload libraries (override: MNEME_BENCH_LIBDIR). */
const LIB = process.env.MNEME_BENCH_LIBDIR ?? "/usr/lib/x86_64-linux-gnu/";
/** thi.ng takes seconds per workload; it is measured in the first 5 runs only. */
const THING_RUNS = 5;

// ------------------------------------------------------------------ workloads

interface WorkloadDef {
  key: string;
  title: string;
  real: boolean;
  /** Builds the op file (synthetic) ... */
  make?: (quick: boolean) => OpFile;
  /** ... or names the trace to convert. */
  trace?: string;
  /** mneme --verify replays at most this many ops (whole-block checks are slow on big blocks). */
  verifyOps: number;
  /** thi.ng's time budget for its first run, ms. */
  thingBudgetMs: number;
  /** Only replayed by the verify pass (mneme and glibc), never timed. */
  verifyOnly?: boolean;
}

const WORKLOADS: readonly WorkloadDef[] = [
  {
    key: "fixed-117",
    title: "117 B objects: live 100k, 10M steps of free-random + alloc",
    real: false,
    make: (quick) => fixedWorkload(117, 100_000, quick ? 1_000_000 : 10_000_000, 117),
    verifyOps: 3_000_000,
    thingBudgetMs: 2_000,
  },
  {
    key: "mixed",
    title: "16 B-64 KiB log-uniform: live 50k, 2M steps of free-random + alloc",
    real: false,
    make: (quick) => mixedWorkload(16, 65536, 50_000, quick ? 200_000 : 2_000_000, 1664),
    verifyOps: 400_000,
    thingBudgetMs: 2_000,
  },
  {
    key: "perl-wordfreq",
    title: "perl 5.36 word frequencies (real trace)",
    real: true,
    trace: "perl-wordfreq.trace.gz",
    verifyOps: Number.POSITIVE_INFINITY,
    thingBudgetMs: 10_000,
  },
  {
    key: "bash-assoc",
    title: "bash 5.2 associative array (real trace)",
    real: true,
    trace: "bash-assoc.trace.gz",
    verifyOps: Number.POSITIVE_INFINITY,
    thingBudgetMs: 10_000,
  },
  {
    key: "stress",
    title: "every op kind: aligned 8 B-64 KiB, calloc, realloc, size 0, 1 B-512 KiB (verify only)",
    real: false,
    make: (quick) => stressWorkload(quick ? 100_000 : 400_000, 3),
    verifyOps: Number.POSITIVE_INFINITY,
    thingBudgetMs: 0,
    verifyOnly: true,
  },
];

/** The op file for a workload, converted now unless the cached one is current. */
function opFileFor(w: WorkloadDef, quick: boolean, log: (s: string) => void): string {
  mkdirSync(BUILD, { recursive: true });
  const base = `${BUILD}${w.key}${quick ? ".quick" : ""}`;
  const path = `${base}.ops`;
  const metaPath = `${base}.meta.json`;
  let source: Record<string, unknown> = { generator: GENERATOR_VERSION };
  if (w.trace) {
    const st = statSync(TRACES + w.trace);
    source = { trace: w.trace, bytes: st.size, mtimeMs: st.mtimeMs };
  }
  const meta = JSON.stringify({ format: FORMAT_VERSION, quick, ...source });
  if (existsSync(path) && existsSync(metaPath) && readFileSync(metaPath, "utf8") === meta) return path;
  const t0 = performance.now();
  const f = w.trace
    ? parseTrace(readFileSync(TRACES + w.trace), quick ? 500_000 : undefined)
    : w.make!(quick);
  writeOpFile(path, f);
  writeFileSync(metaPath, meta);
  log(`object: converted ${w.key} (${f.nOps} ops) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return path;
}

// ------------------------------------------------------------------ peers

type PeerKind = "c" | "js";
interface Peer {
  name: string;
  kind: PeerKind;
  /** LD_PRELOAD library (C peers other than glibc). */
  lib?: string;
  /** Debian package that provides lib. */
  pkg?: string;
}

const PEERS: readonly Peer[] = [
  { name: "glibc", kind: "c" },
  { name: "mimalloc", kind: "c", lib: `${LIB}libmimalloc.so.2`, pkg: "libmimalloc2.0" },
  { name: "jemalloc", kind: "c", lib: `${LIB}libjemalloc.so.2`, pkg: "libjemalloc2" },
  { name: "tcmalloc", kind: "c", lib: `${LIB}libtcmalloc_minimal.so.4`, pkg: "libtcmalloc-minimal4" },
  { name: "mneme", kind: "js" },
  { name: "thi.ng", kind: "js" },
  { name: "bump", kind: "js" },
];

function loud(log: (s: string) => void, lines: string[]): void {
  const bar = "!".repeat(78);
  log(bar);
  for (const l of lines) log(`!!! ${l}`);
  log(bar);
}

/** Compiles replay.c unless the binary was built from the same source. */
function buildReplay(log: (s: string) => void): boolean {
  const src = readFileSync(REPLAY_C);
  const hash = createHash("sha256").update(src).digest("hex");
  const hashPath = `${REPLAY_BIN}.sha256`;
  if (existsSync(REPLAY_BIN) && existsSync(hashPath) && readFileSync(hashPath, "utf8") === hash) return true;
  mkdirSync(BUILD, { recursive: true });
  const r = spawnSync("gcc", ["-O2", "-Wall", "-o", REPLAY_BIN, REPLAY_C], { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    loud(log, [
      "cannot build bench/malloc/replay.c with gcc -O2: no C peers in this run.",
      `${r.error?.message ?? r.stderr.trim()}`,
      "install gcc (apt-get install gcc) to compare with glibc, mimalloc, jemalloc and tcmalloc.",
    ]);
    return false;
  }
  writeFileSync(hashPath, hash);
  log("object: built bench/.build/malloc/replay (gcc -O2)");
  return true;
}

interface Measurement {
  /** Which run of the bench (for pairing with glibc's run; merge() offsets it per process). */
  run?: number;
  allocator: string;
  ns_per_op: number;
  cpu_ns_per_op?: number;
  ops: number;
  timed_ops: number;
  footprint_bytes: number | null;
  errors: number;
  complete?: boolean;
  error?: string;
  extra?: Record<string, unknown>;
  hwm_reset?: boolean;
}

/** The line of a crash report that says what went wrong, shortened to fit a table cell. */
function firstError(stderr: string): string {
  const lines = stderr.split("\n").map((l) => l.trim());
  const line =
    lines.find((l) => /^[A-Za-z]*Error\b|^error:|^replay:/.test(l)) ?? lines.filter(Boolean).pop() ?? "";
  return line.slice(0, 200);
}

function spawnPeer(peer: Peer, opFile: string, args: string[], timeoutMs = 180_000): Measurement {
  const env = { ...process.env };
  delete env.LD_PRELOAD;
  let r: ReturnType<typeof spawnSync>;
  if (peer.kind === "c") {
    if (peer.lib) env.LD_PRELOAD = peer.lib;
    r = spawnSync(REPLAY_BIN, [opFile, ...args], { env, encoding: "utf8", timeout: timeoutMs });
  } else {
    r = spawnSync(process.execPath, ["--import", "tsx", REPLAY_JS, peer.name, opFile, ...args], {
      env,
      cwd: ROOT,
      encoding: "utf8",
      timeout: timeoutMs,
      maxBuffer: 1 << 24,
    });
  }
  const out = String(r.stdout ?? "")
    .trim()
    .split("\n")
    .pop();
  if (out?.startsWith("{")) {
    const m = JSON.parse(out) as Measurement;
    if (r.status !== 0 && !m.error) m.error = `exit status ${r.status}: ${String(r.stderr ?? "").trim()}`;
    return m;
  }
  return {
    allocator: peer.name,
    ns_per_op: Number.NaN,
    ops: 0,
    timed_ops: 0,
    footprint_bytes: null,
    errors: 0,
    error: `${r.error?.message ?? `exit status ${r.status}`}: ${firstError(String(r.stderr ?? ""))}`,
  };
}

// ------------------------------------------------------------------ the run

interface Cell {
  runs: Measurement[];
  /** thi.ng: the prefix every run replays (ops, from the first run). */
  prefix?: number;
  failed?: string;
}

interface Summary {
  peer: string;
  ns: number | null;
  /** Median on-CPU ns/op of the replaying thread (robust to other load on the machine). */
  cpuNs: number | null;
  nsMin: number | null;
  nsMax: number | null;
  /**
   * Median over the runs of (this peer's ns/op / glibc's ns/op in the same run): the two ran
   * seconds apart, so slow drifts of the machine cancel out.
   */
  vsGlibc: number | null;
  footprint: number | null;
  footprintRatio: number | null;
  opsDone: number;
  opsTotal: number;
  errors: number;
  /** JS peers: median ns/op of the untimed warm-up pass (cold JIT), over its prefix. */
  coldNs: number | null;
  /** mneme: bytes of the heap root included in its footprint. */
  rootBytes: number | null;
  note?: string;
}

const fmt = (x: number | null, digits = 1) => (x === null || !Number.isFinite(x) ? "-" : x.toFixed(digits));
const mib = (b: number | null) => (b === null ? "-" : `${(b / 2 ** 20).toFixed(2)} MiB`);

function geomean(xs: readonly number[]): number {
  return Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length);
}

/** Short hash of src/object/*.ts and src/page/*.ts: ties figures to the code they measured. */
function sourceHash(): string {
  const h = createHash("sha256");
  for (const dir of ["src/object/", "src/page/"]) {
    for (const f of readdirSync(ROOT + dir).sort())
      if (f.endsWith(".ts")) h.update(readFileSync(ROOT + dir + f));
  }
  return h.digest("hex").slice(0, 10);
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const { log } = options;
  const runs = Math.max(options.quick ? 3 : 5, options.runs);
  const workloads = WORKLOADS.filter((w) => !options.only || w.key.includes(options.only));
  if (workloads.length === 0) throw new Error(`object: no workload matches --only ${options.only}`);
  const srcHash = sourceHash();

  // op files, replayer, libraries
  const files = new Map<string, string>();
  for (const w of workloads) files.set(w.key, opFileFor(w, options.quick, log));
  const haveC = buildReplay(log);
  const peers: Peer[] = [];
  const missing: string[] = [];
  for (const p of PEERS) {
    if (p.kind === "c" && !haveC) continue;
    if (p.lib && !existsSync(p.lib)) {
      missing.push(`${p.name}: ${p.lib} not found, install it with: apt-get install ${p.pkg}`);
      loud(log, [
        `${p.name} is missing: ${p.lib} not found.`,
        `install the Debian package:  apt-get install ${p.pkg}`,
        `continuing without ${p.name}.`,
      ]);
      continue;
    }
    peers.push(p);
  }

  // correctness first: mneme replays everything once with whole-block checks
  const verify = new Map<string, Measurement>();
  const cVerify = new Map<string, Measurement>();
  for (const w of workloads) {
    const path = files.get(w.key)!;
    const args = ["--verify"];
    if (Number.isFinite(w.verifyOps)) args.push("--max-ops", String(w.verifyOps));
    const t0 = performance.now();
    const m = spawnPeer({ name: "mneme", kind: "js" }, path, args);
    verify.set(w.key, m);
    const ok = !m.error && m.errors === 0 && m.complete;
    log(
      `object: verify mneme ${w.key} (${m.ops} ops): ${ok ? "ok" : "FAILED"} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    if (!ok) {
      const problems = (m.extra?.problems as string[] | undefined) ?? [];
      loud(log, [`mneme failed the verify replay of ${w.key}:`, m.error ?? "", ...problems]);
    }
    // the same full checks through glibc validate the op file and replay.c (real traces: cheap)
    if ((w.real || w.verifyOnly) && haveC) {
      const g = spawnPeer(PEERS[0], path, ["--verify"]);
      cVerify.set(w.key, g);
      if (g.error || g.errors !== 0)
        loud(log, [`glibc failed the verify replay of ${w.key}: ${g.error ?? g.errors}`]);
    }
  }

  // timed runs, interleaved
  const timed = workloads.filter((w) => !w.verifyOnly);
  const cells = new Map<string, Cell>();
  for (const w of timed) for (const p of peers) cells.set(`${w.key}/${p.name}`, { runs: [] });
  let turn = 0;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    for (const w of timed) {
      const path = files.get(w.key)!;
      const order = peers.map((_, k) => peers[(k + turn) % peers.length]);
      turn++;
      for (const p of order) {
        const cell = cells.get(`${w.key}/${p.name}`)!;
        if (cell.failed || (p.name === "thi.ng" && r >= THING_RUNS)) continue;
        const args: string[] = [];
        if (p.name === "thi.ng") {
          if (cell.prefix === undefined) args.push("--budget-ms", String(w.thingBudgetMs));
          else args.push("--max-ops", String(cell.prefix), "--budget-ms", String(5 * w.thingBudgetMs));
        }
        const m = spawnPeer(p, path, args);
        if (m.error && !(p.name === "thi.ng" && m.ops > 0 && /out of memory/.test(m.error))) {
          cell.failed = m.error;
          loud(log, [`${p.name} failed on ${w.key}: ${m.error.slice(0, 500)}`]);
          continue;
        }
        if (p.kind === "c" && m.allocator !== p.name) {
          cell.failed = `LD_PRELOAD did not take: the replayer found ${m.allocator}`;
          loud(log, [`${p.name} on ${w.key}: ${cell.failed}`]);
          continue;
        }
        if (p.name === "thi.ng" && cell.prefix === undefined) cell.prefix = m.ops;
        m.run = r;
        cell.runs.push(m);
      }
    }
    log(`object: run ${r + 1}/${runs} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }

  // vmalloc translation overhead
  log("object: vmalloc translation overhead");
  const vr = spawnSync(
    process.execPath,
    ["--import", "tsx", VMALLOC_JS, "--runs", String(runs), ...(options.quick ? ["--quick"] : [])],
    { cwd: ROOT, encoding: "utf8", timeout: 180_000 },
  );
  let vm: { rows: VmRow[]; sameContents: boolean } | null = null;
  let vmError: string | undefined;
  try {
    vm = JSON.parse(vr.stdout.trim().split("\n").pop() ?? "");
  } catch {
    vmError = `vmalloc bench failed: ${vr.error?.message ?? ""} ${vr.stderr}`.trim();
    loud(log, [vmError.slice(0, 1000)]);
  }

  const info: Record<string, WorkloadInfo> = {};
  for (const w of workloads) {
    const h = readOpHeader(files.get(w.key)!);
    info[w.key] = {
      ops: h.nOps,
      prefill: h.nPrefill,
      peakLive: h.peakLiveBytes,
      peakObjects: h.peakLiveObjects,
    };
  }
  return report(
    workloads,
    info,
    peers,
    cells,
    verify,
    cVerify,
    vm,
    vmError,
    missing,
    runs,
    srcHash,
    options.quick,
  );
}

interface WorkloadInfo {
  ops: number;
  prefill: number;
  peakLive: number;
  peakObjects: number;
}

/** One measurement as kept in the JSON line (enough for merge() to rebuild every figure). */
interface RunRecord {
  run?: number;
  ns: number;
  cpu?: number;
  fp: number | null;
  cold?: number | null;
  root?: number | null;
  ops: number;
  errors: number;
  error?: string;
}

function toRecord(m: Measurement): RunRecord {
  return {
    run: m.run,
    ns: m.ns_per_op,
    cpu: m.cpu_ns_per_op,
    fp: m.footprint_bytes,
    cold: (m.extra?.coldNsPerOp as number | null | undefined) ?? null,
    root: (m.extra?.rootBytes as number | undefined) ?? null,
    ops: m.ops,
    errors: m.errors,
    error: m.error,
  };
}

function fromRecord(r: RunRecord, runOffset: number): Measurement {
  return {
    run: (r.run ?? 0) + runOffset,
    allocator: "",
    ns_per_op: r.ns,
    cpu_ns_per_op: r.cpu,
    ops: r.ops,
    timed_ops: 0,
    footprint_bytes: r.fp,
    errors: r.errors,
    error: r.error,
    extra: { coldNsPerOp: r.cold, ...(r.root != null ? { rootBytes: r.root } : {}) },
  };
}

/** What run() puts in the BENCH_JSON line (besides bench and machine). */
interface ObjectData {
  runs: number;
  quick: boolean;
  source: string;
  workloads: Record<string, WorkloadInfo>;
  raw: Record<string, { runs: RunRecord[]; prefix?: number; failed?: string }>;
  verify: Record<string, Measurement>;
  glibcVerify: Record<string, Measurement>;
  vmalloc: { rows: VmRow[]; sameContents: boolean } | null;
  missing: string[];
}

/**
 * Pools the runs of several processes (`npx tsx bench/aggregate.ts FILE...`): every figure is
 * recomputed over all their runs, glibc ratios still paired within a run.
 */
export function merge(datas: unknown[]): BenchResult {
  const ds = datas as ObjectData[];
  const first = ds[0];
  const info: Record<string, WorkloadInfo> = Object.assign({}, ...ds.map((d) => d.workloads));
  const workloads = WORKLOADS.filter((w) => w.key in info);
  const cells = new Map<string, Cell>();
  ds.forEach((d, p) => {
    for (const [k, c] of Object.entries(d.raw)) {
      const cell = cells.get(k) ?? { runs: [] };
      if (c.failed) cell.failed = c.failed;
      cell.prefix ??= c.prefix;
      for (const rec of c.runs) cell.runs.push(fromRecord(rec, 1000 * p));
      cells.set(k, cell);
    }
  });
  const names = new Set([...cells.keys()].map((k) => k.slice(k.indexOf("/") + 1)));
  const peers = PEERS.filter((p) => names.has(p.name));
  const pick = (key: "verify" | "glibcVerify") => {
    const out = new Map<string, Measurement>();
    for (const d of ds) {
      for (const [k, m] of Object.entries(d[key] ?? {})) {
        const bad = m.error || m.errors !== 0 || m.complete === false;
        if (!out.has(k) || bad) out.set(k, m);
      }
    }
    return out;
  };
  const vms = ds.map((d) => d.vmalloc).filter((v): v is NonNullable<typeof v> => v !== null);
  const vm =
    vms.length === 0
      ? null
      : {
          rows: vms[0].rows.map((row, i) => {
            const v = median(vms.map((x) => x.rows[i].vmallocNs));
            const c = median(vms.map((x) => x.rows[i].contiguousNs));
            return { ...row, vmallocNs: v, contiguousNs: c, ratio: median(vms.map((x) => x.rows[i].ratio)) };
          }),
          sameContents: vms.every((x) => x.sameContents),
        };
  return report(
    workloads,
    info,
    peers,
    cells,
    pick("verify"),
    pick("glibcVerify"),
    vm,
    vm ? undefined : "no vmalloc figures",
    [...new Set(ds.flatMap((d) => d.missing))],
    ds.reduce((n, d) => n + d.runs, 0),
    [...new Set(ds.map((d) => d.source))].join(", "),
    first.quick,
  );
}

interface VmRow {
  bytes: number;
  op: string;
  ops: number;
  vmallocNs: number;
  contiguousNs: number;
  ratio: number;
}

function summarize(
  w: WorkloadDef,
  wl: WorkloadInfo,
  peers: readonly Peer[],
  cells: Map<string, Cell>,
): Summary[] {
  const peak = wl.peakLive;
  const glibc = cells.get(`${w.key}/glibc`);
  const glibcByRun = new Map<number | undefined, number>(
    glibc && !glibc.failed ? glibc.runs.map((m) => [m.run, m.ns_per_op]) : [],
  );
  return peers.map((p) => {
    const cell = cells.get(`${w.key}/${p.name}`)!;
    const ms = cell.runs;
    if (ms.length === 0 || cell.failed) {
      return {
        peer: p.name,
        ns: null,
        cpuNs: null,
        nsMin: null,
        nsMax: null,
        vsGlibc: null,
        footprint: null,
        footprintRatio: null,
        opsDone: 0,
        opsTotal: 0,
        errors: 0,
        coldNs: null,
        rootBytes: null,
        note: cell.failed ? `FAILED: ${cell.failed.replace(/\s+/g, " ").slice(0, 160)}` : "not run",
      };
    }
    const ns = median(ms.map((m) => m.ns_per_op));
    const fps = ms.map((m) => m.footprint_bytes).filter((x): x is number => x !== null);
    const footprint = fps.length > 0 ? median(fps) : null;
    const opsDone = Math.min(...ms.map((m) => m.ops));
    const opsTotal = wl.ops;
    let note: string | undefined;
    if (opsDone < opsTotal) {
      note = ms[0].error ? `stopped: ${ms[0].error}` : `stopped by its ${w.thingBudgetMs / 1000} s budget`;
    }
    if (p.name === "bump") note = "loop floor: never frees";
    const colds = ms
      .map((m) => m.extra?.coldNsPerOp)
      .filter((x): x is number => typeof x === "number" && x > 0);
    const roots = ms.map((m) => m.extra?.rootBytes).filter((x): x is number => typeof x === "number");
    const cpus = ms.map((m) => m.cpu_ns_per_op).filter((x): x is number => typeof x === "number" && x > 0);
    const paired = ms.filter((m) => glibcByRun.has(m.run)).map((m) => m.ns_per_op / glibcByRun.get(m.run)!);
    return {
      peer: p.name,
      ns,
      cpuNs: cpus.length > 0 ? median(cpus) : null,
      nsMin: Math.min(...ms.map((m) => m.ns_per_op)),
      nsMax: Math.max(...ms.map((m) => m.ns_per_op)),
      vsGlibc: paired.length > 0 ? median(paired) : null,
      footprint,
      footprintRatio: footprint !== null && opsDone === opsTotal ? footprint / peak : null,
      opsDone,
      opsTotal,
      errors: Math.max(...ms.map((m) => m.errors)),
      coldNs: colds.length > 0 ? median(colds) : null,
      rootBytes: roots.length > 0 ? median(roots) : null,
      note,
    };
  });
}

function report(
  workloads: readonly WorkloadDef[],
  info: Record<string, WorkloadInfo>,
  peers: readonly Peer[],
  cells: Map<string, Cell>,
  verify: Map<string, Measurement>,
  cVerify: Map<string, Measurement>,
  vm: { rows: VmRow[]; sameContents: boolean } | null,
  vmError: string | undefined,
  missing: readonly string[],
  runs: number,
  srcHash: string,
  quick: boolean,
): BenchResult {
  const header = [
    "workload",
    "allocator",
    "ns/op",
    "min-max",
    "x glibc",
    "cpu ns/op",
    "cold ns/op",
    "footprint",
    "fp/peak live",
    "ops done",
  ];
  const rows: string[][] = [];
  const summaries: Record<string, Summary[]> = {};
  for (const w of workloads) {
    if (w.verifyOnly) continue;
    const s = summarize(w, info[w.key], peers, cells);
    summaries[w.key] = s;
    for (const x of s) {
      const done = x.opsDone === x.opsTotal ? "all" : `${((100 * x.opsDone) / x.opsTotal).toFixed(2)}%`;
      rows.push([
        w.key,
        x.peer + (x.errors > 0 && x.peer !== "bump" ? " (CHECK FAILED)" : ""),
        fmt(x.ns),
        x.ns === null ? "-" : `${fmt(x.nsMin)}-${fmt(x.nsMax)}`,
        x.ns === null ? (x.note ?? "-") : fmt(x.vsGlibc, 2),
        fmt(x.cpuNs),
        fmt(x.coldNs),
        mib(x.footprint),
        fmt(x.footprintRatio, 3),
        done,
      ]);
    }
  }

  // targets (issue 3)
  const get = (key: string, peer: string) => summaries[key]?.find((s) => s.peer === peer);
  const targets: { target: string; value: string; met: boolean | null }[] = [];
  const real = workloads.filter((w) => w.real).map((w) => w.key);
  const haveAll = (keys: string[]) =>
    keys.every((k) => get(k, "mneme")?.ns != null && get(k, "glibc")?.ns != null);
  if (real.length > 0 && haveAll(real)) {
    const gm = geomean(real.map((k) => get(k, "mneme")!.ns!));
    const gg = geomean(real.map((k) => get(k, "glibc")!.ns!));
    const gr = geomean(real.map((k) => get(k, "mneme")!.vsGlibc!));
    let cpuNote = "";
    if (real.every((k) => get(k, "mneme")!.cpuNs && get(k, "glibc")!.cpuNs)) {
      const cm = geomean(real.map((k) => get(k, "mneme")!.cpuNs!));
      const cg = geomean(real.map((k) => get(k, "glibc")!.cpuNs!));
      cpuNote = `; cpu ${(cm / cg).toFixed(2)}x`;
    }
    targets.push({
      target: "real traces: geometric-mean ns/op <= glibc",
      value: `mneme ${gm.toFixed(1)} vs glibc ${gg.toFixed(1)} (${gr.toFixed(2)}x${cpuNote})`,
      met: gr <= 1,
    });
    const worst = Math.max(...real.map((k) => get(k, "mneme")!.vsGlibc!));
    targets.push({
      target: "real traces: no trace worse than 1.5x glibc",
      value: real.map((k) => `${k} ${get(k, "mneme")!.vsGlibc!.toFixed(2)}x`).join(", "),
      met: worst <= 1.5,
    });
  }
  for (const [key, label] of [
    ["fixed-117", "fixed 117 B objects: ns/op <= glibc (aim: mimalloc)"],
    ["mixed", "mixed sizes: ns/op <= glibc"],
  ] as const) {
    const m = get(key, "mneme");
    const g = get(key, "glibc");
    const mi = get(key, "mimalloc");
    if (m?.ns != null && g?.ns != null) {
      targets.push({
        target: label,
        value: `mneme ${m.ns.toFixed(1)} vs glibc ${g.ns.toFixed(1)} (${m.vsGlibc!.toFixed(2)}x${
          m.cpuNs && g.cpuNs ? `; cpu ${(m.cpuNs / g.cpuNs).toFixed(2)}x` : ""
        })${key === "fixed-117" && mi?.ns != null ? `, mimalloc ${mi.ns.toFixed(1)}` : ""}`,
        met: m.vsGlibc! <= 1,
      });
    }
  }
  for (const k of real) {
    const m = get(k, "mneme");
    if (m?.footprintRatio != null) {
      const peak = info[k].peakLive;
      const noRoot =
        m.rootBytes !== null
          ? ` (${((m.footprint! - m.rootBytes) / peak).toFixed(3)} without the ${(m.rootBytes / 1024).toFixed(0)} KiB root)`
          : "";
      targets.push({
        target: `footprint / peak live <= 1.25 (${k})`,
        value: `${m.footprintRatio.toFixed(3)}${noRoot}`,
        met: m.footprintRatio <= 1.25,
      });
    }
  }
  const verdict = (t: { met: boolean | null }) => (t.met === null ? "-" : t.met ? "met" : "MISSED");
  const targetRows = targets.map((t) => [t.target, t.value, verdict(t)]);

  const verifyRows = workloads.map((w) => {
    const m = verify.get(w.key);
    if (!m) return [w.key, "-", "not run", "-", "-"];
    const ok = !m.error && m.errors === 0 && m.complete;
    const e = m.extra ?? {};
    return [
      w.key,
      String(m.ops),
      ok ? "ok" : `FAILED: ${m.error ?? ""} ${((e.problems as string[]) ?? []).join("; ")}`.slice(0, 300),
      e.footprintAfterFreeAll === e.footprintStart
        ? "yes"
        : `no (${e.footprintStart} -> ${e.footprintAfterFreeAll})`,
      cVerify.has(w.key) ? (cVerify.get(w.key)!.error || cVerify.get(w.key)!.errors ? "FAILED" : "ok") : "-",
    ];
  });
  const verifyHeader = ["mneme --verify", "ops", "result", "free-all returns to start", "glibc --verify"];

  const vmRows = (vm?.rows ?? []).map((r) => [
    `${r.op} ${r.bytes} B`,
    String(r.ops),
    fmt(r.vmallocNs),
    fmt(r.contiguousNs),
    fmt(r.ratio, 2),
  ]);
  const vmHeader = ["random range", "ops", "vread/vwrite ns", "contiguous ns", "ratio"];

  const wlHeader = ["workload", "ops", "untimed fill", "peak live bytes", "peak live objects"];
  const wlRows = workloads.map((w) => {
    const i = info[w.key];
    const n = (x: number) => x.toLocaleString("en-US");
    return [
      w.key + (w.verifyOnly ? " (verify only)" : ""),
      n(i.ops),
      n(i.prefill),
      n(i.peakLive),
      n(i.peakObjects),
    ];
  });

  const notes = [
    `median of ${runs} runs, one process per measurement, peers interleaved; object+page source ${srcHash}`,
    "ns/op: wall clock of the timed loop; cpu ns/op: on-CPU time of the replaying thread; x glibc: median",
    "  over the runs of the ratio to glibc in the same run (what the verdicts use; geometric mean for traces)",
    "C peers: bench/malloc/replay.c (gcc -O2), LD_PRELOAD for mimalloc/jemalloc/tcmalloc; footprint = VmHWM - VmRSS",
    "  before the replay (VmHWM reset through /proc/self/clear_refs): memory taken from the system",
    "mneme footprint = heap.stats().peakFootprint (arena bytes held at the high-water mark, root included)",
    "JS peers: one untimed warm-up pass (2M ops) on a throwaway allocator first; 'cold ns/op' is that pass",
    `thi.ng: time-budgeted, first ${THING_RUNS} runs only, ns/op over the prefix it reached (see ops done); bump: JS loop floor`,
    ...missing.map((m) => `MISSING PEER ${m}`),
  ];
  if (quick) notes.unshift("--quick: short sequences; do not quote");

  const text = [
    textTable(wlHeader, wlRows),
    "",
    textTable(header, rows),
    "",
    textTable(["target (issue 3)", "value", "verdict"], targetRows),
    "",
    textTable(verifyHeader, verifyRows),
    "",
    vm ? textTable(vmHeader, vmRows) : `vmalloc: ${vmError}`,
    vm && !vm.sameContents ? "!!! vmalloc area and contiguous block differ after the same writes" : "",
    "",
    ...notes,
  ].join("\n");

  const markdown = [
    markdownTable(wlHeader, wlRows),
    "",
    markdownTable(header, rows),
    "",
    markdownTable(["target (issue 3)", "value", "verdict"], targetRows),
    "",
    markdownTable(verifyHeader, verifyRows),
    "",
    vm ? markdownTable(vmHeader, vmRows) : `vmalloc: ${vmError}`,
  ].join("\n");

  return {
    name: "object",
    text,
    markdown,
    data: {
      runs,
      quick,
      source: srcHash,
      workloads: info,
      results: summaries,
      raw: Object.fromEntries(
        [...cells].map(([k, c]) => [k, { runs: c.runs.map(toRecord), prefix: c.prefix, failed: c.failed }]),
      ),
      targets,
      verify: Object.fromEntries([...verify].map(([k, m]) => [k, { ...m }])),
      glibcVerify: Object.fromEntries([...cVerify].map(([k, m]) => [k, { ...m }])),
      vmalloc: vm,
      missing,
    },
  };
}
