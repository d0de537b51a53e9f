/**
 * `mneme bench [FILTER...]`: runs the benchmark suite of the source tree (bench/index.ts, through
 * tsx: a development tool, so it needs a clone with its dev dependencies) with a progress bar on
 * stderr, then prints each benchmark's comparison table (mneme against its baselines and peers)
 * and a summary table of the suite. With --repeat N the suite runs in N processes and the tables
 * are their medians (bench/aggregate.ts and each bench's merge()).
 *
 * Arguments are checked before anything starts (the benchmark names are the files
 * bench/<name>.bench.ts), so `--help` and argument errors work from an installed dist.
 *
 * The bar advances per benchmark and run: a bench finishes when its `## name` heading appears on
 * stdout, and its progress lines on stderr (`page: run 2/7 done`) are shown beside the bar.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import cliProgress from "cli-progress";
import { type Command, InvalidArgumentError as CommanderArgumentError } from "commander";
import { paint } from "./colour.js";
import { withEnvironment } from "./options.js";

/** The package root (this file is src/cli/bench.ts or dist/cli/bench.js). */
export const PACKAGE_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BENCH_DIR = join(PACKAGE_ROOT, "bench");

interface BenchCliOptions {
  runs: string;
  repeat: string;
  quick?: boolean;
  only?: string;
  md?: boolean;
}

/** Benchmark names: bench/<name>.bench.ts. */
export function benchNames(dir = BENCH_DIR): string[] {
  if (!existsSync(join(dir, "index.ts"))) {
    throw new Error(
      `the benchmark suite is not here (${dir}): mneme bench runs from a clone of the source tree`,
    );
  }
  return readdirSync(dir)
    .filter((f) => f.endsWith(".bench.ts"))
    .map((f) => f.slice(0, -".bench.ts".length))
    .sort();
}

/** Upper bounds of --runs and --repeat: far past any useful figure, short of a run that never ends. */
const MAX_RUNS = 1000;
const MAX_REPEAT = 100;

function whole(name: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new CommanderArgumentError(
      `${name}: ${JSON.stringify(text)} must be a whole number from ${min} to ${max}`,
    );
  }
  return Number(text);
}

function tsxLoader(): string {
  try {
    return createRequire(join(PACKAGE_ROOT, "package.json")).resolve("tsx");
  } catch {
    throw new Error("mneme bench needs tsx (a dev dependency): run `npm install` in the clone first");
  }
}

interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** One process of bench/index.ts (or aggregate.ts); stderr lines go to `onLine`, stdout headings to `onHeading`. */
function runScript(
  script: string,
  args: string[],
  onLine: (line: string) => void,
  onHeading: (heading: string) => void,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", tsxLoader(), script, ...args], {
      cwd: PACKAGE_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let outTail = "";
    let errTail = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d;
      const lines = (outTail + d).split("\n");
      outTail = lines.pop() ?? "";
      for (const l of lines) if (l.startsWith("## ")) onHeading(l.slice(3));
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d;
      const lines = (errTail + d).split("\n");
      errTail = lines.pop() ?? "";
      // A benchmark that throws reports "## name: FAILED" on stderr.
      for (const l of lines)
        if (l.startsWith("## ")) onHeading(l.slice(3));
        else if (l.trim() !== "") onLine(l);
    });
    // A signal to mneme stops the benchmark too: left alone, the child would run on as an orphan
    // (SIGTERM from a CI timeout or `kill` reaches only mneme, unlike ^C to the process group).
    let stoppedBy: NodeJS.Signals | null = null;
    const forward = (signal: NodeJS.Signals) => {
      stoppedBy = signal;
      child.kill(signal);
    };
    process.on("SIGINT", forward);
    process.on("SIGTERM", forward);
    child.on("error", reject);
    child.on("close", (code) => {
      process.off("SIGINT", forward);
      process.off("SIGTERM", forward);
      if (stoppedBy !== null) reject(new Error(`bench stopped by ${stoppedBy}`));
      else resolve({ stdout, stderr, code: code ?? 1 });
    });
  });
}

/** The readable part of one bench's output: from its heading to its BENCH_JSON line. */
function tables(stdout: string, md: boolean): string {
  const out: string[] = [];
  let inMarkdown = false;
  for (const line of stdout.split("\n")) {
    if (line.startsWith("BENCH_JSON ")) {
      inMarkdown = false;
      continue;
    }
    if (line.startsWith("markdown:")) inMarkdown = true;
    if (line.startsWith("## ")) inMarkdown = false;
    if (!inMarkdown || md) out.push(line);
  }
  return out.join("\n").trim();
}

interface Summary {
  name: string;
  seconds: string;
  pass: number;
  miss: number;
  failed: boolean;
}

/** The suite at a glance: per benchmark, time, targets met (PASS) and missed (MISS). */
function summarize(stdout: string): Summary[] {
  const out: Summary[] = [];
  let cur: Summary | null = null;
  for (const line of stdout.split("\n")) {
    const heading = /^## (\S+?)(?::| \(([\d.]+) s\))/.exec(line);
    if (heading) {
      cur = {
        name: heading[1],
        seconds: heading[2] ?? "-",
        pass: 0,
        miss: 0,
        failed: line.includes("FAILED"),
      };
      out.push(cur);
    } else if (cur && line.startsWith("PASS ")) cur.pass++;
    else if (cur && line.startsWith("MISS ")) cur.miss++;
  }
  return out;
}

function summaryTable(rows: Summary[]): string {
  const header = ["benchmark", "seconds", "targets met", "targets missed", "status"];
  const body = rows.map((r) => [
    r.name,
    r.seconds,
    String(r.pass),
    String(r.miss),
    r.failed ? "FAILED" : "ok",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

export function registerBench(program: Command): void {
  const cmd = program
    .command("bench")
    .description("run the benchmark suite (from a clone) with a progress bar and print comparison tables")
    .argument("[filter...]", "benchmarks whose name contains one of these (all without a filter)")
    .option("--runs <n>", `timed runs per measurement, the median is reported (5 to ${MAX_RUNS})`, "7")
    .option("--repeat <n>", `run the suite in N processes and report the medians (1 to ${MAX_REPEAT})`, "1")
    .option("--quick", "short sequences: a smoke test of the harness, not figures to quote")
    .option("--only <part>", "only the workloads whose key contains PART")
    .option("--md", "also print the markdown tables (for BENCHMARKS.md)")
    .addHelpText(
      "after",
      "\nRuns bench/index.ts through tsx, so it needs a clone with `npm install` done. Options also\n" +
        "come from MNEME_RUNS, MNEME_REPEAT, ... or a --config file.\n" +
        "\nExamples:\n  mneme bench                   the whole suite\n" +
        "  mneme bench page object       two benchmarks\n" +
        "  mneme bench page --quick      a smoke test in seconds\n" +
        "  mneme bench service --repeat 3 --md   medians of three processes, with markdown",
    )
    .action(async (filters: string[], o: BenchCliOptions) => {
      const runs = whole("--runs", o.runs, 5, MAX_RUNS);
      const repeat = whole("--repeat", o.repeat, 1, MAX_REPEAT);
      const names = benchNames();
      for (const f of filters) {
        if (!names.some((n) => n.includes(f))) {
          throw new CommanderArgumentError(
            `no benchmark matches ${JSON.stringify(f)} (have: ${names.join(", ")})`,
          );
        }
      }
      const selected = filters.length === 0 ? names : names.filter((n) => filters.some((f) => n.includes(f)));
      const args = [...filters, "--runs", String(runs)];
      if (o.quick) args.push("--quick");
      if (o.only !== undefined) args.push("--only", o.only);
      if (o.md) args.push("--md");

      const c = paint(process.stderr);
      const tty = process.stderr.isTTY === true;
      const bar = tty
        ? new cliProgress.SingleBar(
            {
              format: `bench [{bar}] {value}/{total} benchmarks | {eta_formatted} | {last}`,
              stream: process.stderr,
              hideCursor: true,
            },
            cliProgress.Presets.shades_classic,
          )
        : null;
      const total = selected.length * repeat;
      bar?.start(total, 0, { last: "starting" });
      let done = 0;
      const onLine = (line: string) => {
        if (bar) bar.update(done, { last: line.slice(0, 60) });
        else process.stderr.write(`${c.dim(line)}\n`);
      };
      const onHeading = (heading: string) => {
        done++;
        if (bar) bar.update(done, { last: heading });
        else process.stderr.write(`bench: ${done}/${total} ${heading}\n`);
      };
      const outputs: string[] = [];
      const errors: string[] = [];
      let failed = false;
      try {
        for (let i = 0; i < repeat; i++) {
          const r = await runScript("bench/index.ts", args, onLine, onHeading);
          outputs.push(r.stdout);
          errors.push(r.stderr);
          failed ||= r.code !== 0;
        }
      } finally {
        bar?.stop();
      }
      const first = outputs[0].split("\n").find((l) => l.startsWith("machine:")) ?? "";
      console.log(first);
      if (repeat === 1) {
        console.log(`\n${tables(outputs[0].split("\n").slice(1).join("\n"), o.md === true)}`);
      } else {
        const dir = mkdtempSync(join(tmpdir(), "mneme-bench-"));
        try {
          const files = outputs.map((text, i) => {
            const f = join(dir, `run-${i}.txt`);
            writeFileSync(f, text);
            return f;
          });
          const merged = await runScript(
            "bench/aggregate.ts",
            files,
            (l) => process.stderr.write(`${l}\n`),
            () => {},
          );
          console.log(`\n${tables(merged.stdout, o.md === true)}`);
          failed ||= merged.code !== 0;
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
      const summary = summarize([...outputs, ...errors].join("\n"));
      console.log(`\nsuite (${repeat} process${repeat > 1 ? "es" : ""}):\n${summaryTable(summary)}`);
      if (failed) {
        if (bar) process.stderr.write(`${errors.join("\n").split("\n").slice(-20).join("\n")}\n`);
        throw new Error("a benchmark failed (its output is above)");
      }
    });
  withEnvironment(cmd);
}
