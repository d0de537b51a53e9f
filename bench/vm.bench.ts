/**
 * VM layer (issue 5, "Benchmark"), two parts in one run:
 *
 * 1. Miss ratios on every trace in ../shared/traces at 1%, 5%, 10% and 25% of the trace's
 *    distinct pages: every mneme policy (the registered classes the address space pages with,
 *    driven through src/vm/replay.ts exactly as `mneme replay` drives them), against LRU and ARC
 *    (mneme's own implementations; ARC is checked against the ARC paper's OLTP table in
 *    test/vm/policies.test.ts) and Belady's OPT (computed here from next-use indices). Target:
 *    the default policy at or below min(LRU, ARC) everywhere; its distance to OPT is reported.
 *    Miss ratios are deterministic, so each is computed once.
 * 2. Throughput of 4 KiB reads through a FileStore mapping 8x larger than the frames (128 MiB
 *    file, 16 MiB of frames), sequential and random, against plain `fs` FileHandle reads of the
 *    same pages (the floor: the same syscalls minus the pager). The file is read once first so
 *    both sides read from the OS page cache; the order of the two sides alternates run by run.
 *    Figures: median MB/s over the runs and the median of per-run time ratios (mneme / fs).
 *
 * `--quick` caps each trace at 200k references and shrinks the throughput file: a smoke test.
 * `--only traces` / `--only throughput` runs one part.
 */

import { readdirSync } from "node:fs";
import { open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AddressSpace, DEFAULT_POLICY, FileStore, policyNames, readTrace, replay } from "../src/index.js";
import { nextUses, optMisses } from "../src/vm/policies/opt.js";
import type { Trace } from "../src/vm/replay.js";
import { type BenchOptions, type BenchResult, markdownTable, median, prng, textTable } from "./harness.js";

const TRACES = new URL("../../shared/traces/", import.meta.url).pathname;
const SIZES = [0.01, 0.05, 0.1, 0.25];

interface TraceRow {
  trace: string;
  refs: number;
  distinct: number;
  size: number;
  frames: number;
  miss: Record<string, number>;
  opt: number;
  seconds: Record<string, number>;
}

async function missRatios(options: BenchOptions): Promise<TraceRow[]> {
  const files = readdirSync(TRACES)
    .filter((f) => f.endsWith(".txt.gz"))
    .sort();
  const rows: TraceRow[] = [];
  const policies = policyNames();
  for (const file of files) {
    let trace: Trace = await readTrace(join(TRACES, file));
    if (options.quick && trace.refs.length > 200_000) {
      trace = { refs: trace.refs.subarray(0, 200_000), distinct: trace.distinct };
    }
    const next = nextUses(trace.refs, trace.distinct);
    const name = file.replace(/\.txt\.gz$/, "");
    for (const size of SIZES) {
      const frames = Math.max(1, Math.round(trace.distinct * size));
      const miss: Record<string, number> = {};
      const seconds: Record<string, number> = {};
      for (const p of policies) {
        const t0 = performance.now();
        miss[p] = replay(trace, p, frames).missRatio;
        seconds[p] = (performance.now() - t0) / 1000;
      }
      const t0 = performance.now();
      const opt = optMisses(trace.refs, trace.distinct, frames, next) / trace.refs.length;
      seconds.opt = (performance.now() - t0) / 1000;
      rows.push({
        trace: name,
        refs: trace.refs.length,
        distinct: trace.distinct,
        size,
        frames,
        miss,
        opt,
        seconds,
      });
      options.log(
        `vm: ${name} ${size * 100}% (${frames} frames): ${policies.map((p) => `${p} ${(miss[p] * 100).toFixed(2)}`).join(", ")}, opt ${(opt * 100).toFixed(2)}`,
      );
    }
  }
  return rows;
}

interface Throughput {
  pattern: "sequential" | "random";
  pages: number;
  mnemeMBps: number;
  fsMBps: number;
  ratio: number;
  runs: { mneme: number; fs: number }[];
  faults: number;
  readahead: number;
}

async function throughput(options: BenchOptions): Promise<Throughput[]> {
  const PAGE = 4096;
  const fileBytes = options.quick ? 16 << 20 : 128 << 20;
  const frames = fileBytes / PAGE / 8;
  const path = join(tmpdir(), `mneme-vm-bench-${process.pid}.dat`);
  const runs = options.quick ? 2 : Math.max(5, options.runs);
  const pages = fileBytes / PAGE;
  try {
    // The file, then one full read so that both sides start from the OS page cache.
    const fh = await open(path, "w+");
    const chunk = new Uint8Array(1 << 20);
    const rnd = prng(5);
    for (let o = 0; o < fileBytes; o += chunk.length) {
      for (let i = 0; i < chunk.length; i += 64) chunk[i] = (rnd() * 256) | 0;
      await fh.write(chunk, 0, chunk.length, o);
    }
    for (let o = 0; o < fileBytes; o += chunk.length) await fh.read(chunk, 0, chunk.length, o);
    const buf = new Uint8Array(PAGE);
    const out: Throughput[] = [];
    for (const pattern of ["sequential", "random"] as const) {
      const order = new Int32Array(pages);
      const r = prng(17);
      for (let i = 0; i < pages; i++) order[i] = pattern === "sequential" ? i : (r() * pages) | 0;
      const perRun: { mneme: number; fs: number }[] = [];
      let faults = 0;
      let readahead = 0;
      for (let run = 0; run < runs; run++) {
        const sides = run % 2 === 0 ? ["mneme", "fs"] : ["fs", "mneme"];
        const times: Record<string, number> = {};
        for (const side of sides) {
          if (side === "fs") {
            const t0 = performance.now();
            for (let i = 0; i < pages; i++) await fh.read(buf, 0, PAGE, order[i] * PAGE);
            times.fs = performance.now() - t0;
          } else {
            const store = new FileStore(path, { readOnly: true });
            const space = new AddressSpace({ frames });
            const v = space.map({
              length: fileBytes,
              store,
              writable: false,
              hint: pattern === "random" ? "random" : "normal",
            });
            const t0 = performance.now();
            for (let i = 0; i < pages; i++) await space.read(v + order[i] * PAGE, PAGE, buf);
            times.mneme = performance.now() - t0;
            const s = space.stats();
            faults = s.faults;
            readahead = s.readahead;
            await space.close();
            await store.close();
          }
        }
        perRun.push({ mneme: times.mneme, fs: times.fs });
      }
      const mb = fileBytes / 2 ** 20;
      const item: Throughput = {
        pattern,
        pages,
        mnemeMBps: median(perRun.map((x) => mb / (x.mneme / 1000))),
        fsMBps: median(perRun.map((x) => mb / (x.fs / 1000))),
        ratio: median(perRun.map((x) => x.mneme / x.fs)),
        runs: perRun,
        faults,
        readahead,
      };
      options.log(
        `vm: ${pattern} 4 KiB reads: mneme ${item.mnemeMBps.toFixed(0)} MB/s, fs ${item.fsMBps.toFixed(0)} MB/s, time ratio ${item.ratio.toFixed(2)}`,
      );
      out.push(item);
    }
    await fh.close();
    return out;
  } finally {
    await rm(path, { force: true });
  }
}

const pct = (x: number) => (x * 100).toFixed(2);

export async function run(options: BenchOptions): Promise<BenchResult> {
  const doTraces = !options.only || "traces".includes(options.only);
  const doThroughput = !options.only || "throughput".includes(options.only);
  const rows = doTraces ? await missRatios(options) : [];
  const tput = doThroughput ? await throughput(options) : [];
  const policies = policyNames();
  const def = DEFAULT_POLICY;
  const header = [
    "trace",
    "size",
    "frames",
    ...policies,
    "OPT",
    "best(LRU,ARC)",
    `${def}-best`,
    `${def}-OPT`,
    "target",
  ];
  let pass = 0;
  const misses: string[] = [];
  const table = rows.map((r) => {
    const best = Math.min(r.miss.lru, r.miss.arc);
    const ok = r.miss[def] <= best + 1e-12;
    if (ok) pass++;
    else misses.push(`${r.trace} ${r.size * 100}% (+${pct(r.miss[def] - best)} pp)`);
    return [
      r.trace,
      `${r.size * 100}%`,
      String(r.frames),
      ...policies.map((p) => pct(r.miss[p])),
      pct(r.opt),
      pct(best),
      `${r.miss[def] - best >= 0 ? "+" : ""}${pct(r.miss[def] - best)}`,
      `+${pct(r.miss[def] - r.opt)}`,
      ok ? "PASS" : "MISS",
    ];
  });
  // Mean miss ratio per policy over all rows, and how often each is the best of the mneme set.
  const meanRow = [
    "mean",
    "",
    "",
    ...policies.map((p) => pct(rows.reduce((a, r) => a + r.miss[p], 0) / Math.max(1, rows.length))),
    pct(rows.reduce((a, r) => a + r.opt, 0) / Math.max(1, rows.length)),
    pct(rows.reduce((a, r) => a + Math.min(r.miss.lru, r.miss.arc), 0) / Math.max(1, rows.length)),
    "",
    "",
    `${pass}/${rows.length}`,
  ];
  const seconds: Record<string, number> = {};
  for (const r of rows) for (const [p, s] of Object.entries(r.seconds)) seconds[p] = (seconds[p] ?? 0) + s;
  const tHeader = [
    "4 KiB reads",
    "pages",
    "mneme MB/s",
    "fs MB/s",
    "time mneme/fs",
    "faults",
    "read-ahead pages",
  ];
  const tRows = tput.map((t) => [
    t.pattern,
    String(t.pages),
    t.mnemeMBps.toFixed(0),
    t.fsMBps.toFixed(0),
    `${t.ratio.toFixed(2)}×`,
    String(t.faults),
    String(t.readahead),
  ]);
  const verdict =
    rows.length === 0
      ? ""
      : `default policy ${def}: at or below min(LRU, ARC) on ${pass}/${rows.length} trace sizes` +
        (misses.length > 0 ? `; above on ${misses.join(", ")}` : "");
  const secs = `replay seconds per policy (all traces and sizes): ${Object.entries(seconds)
    .map(([p, s]) => `${p} ${s.toFixed(1)}`)
    .join(", ")}`;
  const text = [
    rows.length ? `miss ratios, % (lower is better)\n${textTable(header, [...table, meanRow])}` : "",
    verdict,
    rows.length ? secs : "",
    tput.length ? `\n${textTable(tHeader, tRows)}` : "",
  ]
    .filter(Boolean)
    .join("\n");
  const markdown = [
    rows.length ? markdownTable(header, [...table, meanRow]) : "",
    verdict,
    rows.length ? secs : "",
    tput.length ? markdownTable(tHeader, tRows) : "",
  ]
    .filter(Boolean)
    .join("\n\n");
  return {
    name: "vm",
    text,
    markdown,
    data: { default: def, rows, throughput: tput, pass, total: rows.length },
  };
}
