/**
 * `npm run bench [-- FILTER...] [--runs N] [--only PART] [--md] [--quick]`
 *
 * Runs every benchmark in BENCHES whose name contains one of the filters (all without a filter),
 * after printing the machine line. Each prints a readable table and one JSON line
 * (`BENCH_JSON {...}`); `--md` also prints the markdown table that goes into BENCHMARKS.md.
 * `--only PART` keeps the workloads whose key contains PART (e.g. to profile one shape:
 * `node --cpu-prof --import tsx bench/index.ts page --only order0-burst`).
 * Progress goes to stderr. To add a benchmark, write bench/<name>.bench.ts exporting
 * `run(options): Promise<BenchResult>` (see harness.ts) and list it below.
 */
import { type BenchModule, type BenchOptions, type BenchResult, machine, machineLine } from "./harness.js";

const BENCHES: readonly { name: string; load: () => Promise<BenchModule> }[] = [
  { name: "page", load: () => import("./page.bench.js") },
  { name: "object", load: () => import("./object.bench.js") },
  { name: "pool", load: () => import("./pool.bench.js") },
  { name: "vm", load: () => import("./vm.bench.js") },
  { name: "service", load: () => import("./service.bench.js") },
  { name: "reclaim", load: () => import("./reclaim.bench.js") },
  { name: "replication", load: () => import("./replication.bench.js") },
  { name: "copy", load: () => import("./copy.bench.js") },
];

function parseArgs(argv: readonly string[]) {
  const filters: string[] = [];
  let runs = 7;
  let md = false;
  let quick = false;
  let only: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--md") md = true;
    else if (a === "--quick") quick = true;
    else if (a === "--runs") runs = Number(argv[++i]);
    else if (a === "--only") only = argv[++i];
    else if (a.startsWith("--runs=")) runs = Number(a.slice("--runs=".length));
    else if (a === "--help" || a === "-h") {
      console.log("usage: npm run bench [-- FILTER...] [--runs N (>= 5)] [--only PART] [--md] [--quick]");
      console.log(`benchmarks: ${BENCHES.map((b) => b.name).join(", ")}`);
      process.exit(0);
    } else if (a.startsWith("-")) throw new Error(`unknown option ${a}`);
    else filters.push(a);
  }
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer`);
  return { filters, runs, md, quick, only };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const selected = BENCHES.filter(
    (b) => args.filters.length === 0 || args.filters.some((f) => b.name.includes(f)),
  );
  if (selected.length === 0) {
    throw new Error(
      `no benchmark matches ${args.filters.join(", ")} (have: ${BENCHES.map((b) => b.name).join(", ")})`,
    );
  }
  const m = machine();
  console.log(`machine: ${machineLine(m)}`);
  const options: BenchOptions = {
    runs: args.runs,
    quick: args.quick,
    only: args.only,
    log: (line) => process.stderr.write(`${line}\n`),
  };
  if (args.quick) console.log("--quick: short sequences, smoke test only; do not quote these figures");
  for (const bench of selected) {
    const started = performance.now();
    let result: BenchResult;
    try {
      const mod = await bench.load();
      result = await mod.run(options);
    } catch (e: unknown) {
      // One broken benchmark must not hide the others' figures.
      console.error(`\n## ${bench.name}: FAILED`, e);
      process.exitCode = 1;
      continue;
    }
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`\n## ${result.name} (${secs} s)\n`);
    console.log(result.text);
    if (args.md) {
      const when = `${m.date} UTC, buddy.ts ${m.buddy}`;
      console.log(`\nmarkdown:\n\nMachine: ${machineLine(m)}\n\nFigures of ${when}:\n\n${result.markdown}\n`);
    }
    console.log(
      `BENCH_JSON ${JSON.stringify({ bench: result.name, machine: m, ...(result.data as object) })}`,
    );
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
