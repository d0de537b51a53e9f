/**
 * Merges several `npm run bench` outputs into one table: `npx tsx bench/aggregate.ts FILE...`
 * (or the outputs on stdin). Reads the `BENCH_JSON` lines, groups them by benchmark and asks
 * bench/<name>.bench.ts's `merge(datas)` for the combined result, so "run it three times and
 * report the medians" is one command:
 *
 *   for i in 1 2 3; do npm run bench -- page > /tmp/page-$i.txt; done
 *   npx tsx bench/aggregate.ts /tmp/page-*.txt
 *
 * Prints the machine line(s) and builds seen, then each benchmark's text and markdown tables.
 */
import { readFileSync } from "node:fs";
import { type BenchResult, hostLine, type Machine } from "./harness.js";

interface Line {
  bench: string;
  machine: Machine;
  [field: string]: unknown;
}

async function main(): Promise<void> {
  const files = process.argv.slice(2);
  const texts = files.length > 0 ? files.map((f) => readFileSync(f, "utf8")) : [readFileSync(0, "utf8")];
  const lines: Line[] = texts
    .flatMap((t) => t.split("\n"))
    .filter((l) => l.startsWith("BENCH_JSON "))
    .map((l) => JSON.parse(l.slice("BENCH_JSON ".length)) as Line);
  if (lines.length === 0) throw new Error("no BENCH_JSON lines found");

  const machines = [...new Set(lines.map((l) => hostLine(l.machine)))];
  const builds = [...new Set(lines.map((l) => `${l.machine.date} UTC, buddy.ts ${l.machine.buddy}`))];
  const hashes = new Set(lines.map((l) => l.machine.buddy));
  console.log(`machine: ${machines.join(" | ")}`);
  console.log(`runs from: ${builds.join("; ")}`);
  if (hashes.size > 1) console.log("WARNING: the runs measured different versions of buddy.ts");

  const byBench = new Map<string, Line[]>();
  for (const l of lines) byBench.set(l.bench, [...(byBench.get(l.bench) ?? []), l]);
  for (const [name, group] of byBench) {
    const mod = (await import(`./${name}.bench.js`)) as { merge?: (datas: unknown[]) => BenchResult };
    if (!mod.merge) {
      console.log(`\n## ${name}: no merge() in bench/${name}.bench.ts, skipped`);
      continue;
    }
    const result = mod.merge(group);
    console.log(
      `\n## ${name} (${group.length} processes)\n\n${result.text}\n\nmarkdown:\n\n${result.markdown}\n`,
    );
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
