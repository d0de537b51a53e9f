/**
 * `mneme replay --policy NAME --frames N TRACE [--json]`: replays a page reference trace (one
 * page number per line, `.gz` accepted) through a replacement policy and prints references,
 * misses and the miss ratio. The policies are the registered classes the address space pages
 * with (src/vm/policies), driven by the same protocol (src/vm/replay.ts); `opt` is Belady's
 * offline optimum, for comparison. A progress bar (cli-progress) shows on stderr when it is a
 * terminal and the trace is long.
 */
import cliProgress from "cli-progress";
import { type Command, InvalidArgumentError as CommanderArgumentError, Option } from "commander";
import { DEFAULT_POLICY, policyDescriptions } from "../vm/policies/index.js";
import { readTrace, replay, replayPolicyNames } from "../vm/replay.js";

/** Traces with at least this many references get a progress bar (on a TTY). */
export const PROGRESS_THRESHOLD = 500_000;

function positive(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n <= 0) {
    throw new CommanderArgumentError(`must be a positive integer, got ${JSON.stringify(text)}`);
  }
  return n;
}

export function registerReplay(program: Command): void {
  const policies = policyDescriptions()
    .map((p) => `  ${p.name.padEnd(9)} ${p.description}`)
    .join("\n");
  program
    .command("replay")
    .description("replay a page reference trace through a replacement policy and print the miss ratio")
    .argument("<trace>", "trace file: one page number per line, .gz accepted")
    .addOption(
      new Option("--policy <name>", "replacement policy")
        .choices(replayPolicyNames())
        .default(DEFAULT_POLICY),
    )
    .requiredOption("--frames <n>", "frames (resident pages)", positive)
    .option("--json", "print one JSON object instead of text")
    .addHelpText(
      "after",
      `\nPolicies:\n${policies}\n  opt       Belady's optimum (offline, needs the whole trace)\n\n` +
        "Examples:\n  mneme replay --policy lru --frames 1000 ../shared/traces/arc_oltp.txt.gz\n" +
        "  mneme replay --policy adaptive --frames 5000 trace.txt --json",
    )
    .action(async (trace: string, opts: { policy: string; frames: number; json?: boolean }) => {
      const t = await readTrace(trace);
      const n = t.refs.length;
      const showBar = process.stderr.isTTY === true && n >= PROGRESS_THRESHOLD;
      let bar: cliProgress.SingleBar | undefined;
      if (showBar) {
        bar = new cliProgress.SingleBar(
          {
            format: "replay [{bar}] {percentage}% | {value}/{total} refs | ETA {eta}s",
            stream: process.stderr,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(n, 0);
      }
      const started = performance.now();
      const r = replay(t, opts.policy, opts.frames, bar ? { onProgress: (done) => bar.update(done) } : {});
      bar?.stop();
      const seconds = (performance.now() - started) / 1000;
      if (opts.json) {
        console.log(JSON.stringify({ trace, ...r, seconds: Math.round(seconds * 1000) / 1000 }));
        return;
      }
      console.log(`trace       ${trace} (${r.references} references, ${r.distinct} distinct pages)`);
      console.log(`policy      ${r.policy}, ${r.frames} frames`);
      console.log(`references  ${r.references}`);
      console.log(`misses      ${r.misses}`);
      console.log(`miss ratio  ${(r.missRatio * 100).toFixed(4)}%`);
    });
}
