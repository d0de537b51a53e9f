#!/usr/bin/env node
/**
 * The `mneme` command line: serve, stats, bench, replay (and inspect). Every command takes
 * --help with examples; serve and stats read options from flags, MNEME_* variables and a JSON
 * config file (options.ts). Any failure is one line on stderr, `mneme: <what went wrong>`, and a
 * non-zero exit code; colour only on a terminal and never with NO_COLOR (colour.ts).
 */
import { Command } from "commander";
import { registerBench } from "./bench.js";
import { colourEnabled, paint } from "./colour.js";
import { registerInspect } from "./inspect.js";
import { applyEnvironmentAndConfig } from "./options.js";
import { registerReplay } from "./replay.js";
import { registerServe } from "./serve.js";
import { registerStats } from "./stats.js";

const err = paint(process.stderr);

/** One line: the first line of the message, without commander's own "error: " prefix. */
function oneLine(message: string): string {
  const first = message.split("\n").find((l) => l.trim() !== "") ?? message;
  return first.replace(/^error: /, "").trim();
}

const program = new Command();
program
  .name("mneme")
  .description("Kernel-grade memory management for JavaScript runtimes")
  .version("0.1.0")
  .showSuggestionAfterError(false)
  .configureOutput({
    getOutHasColors: () => colourEnabled(process.stdout),
    getErrHasColors: () => colourEnabled(process.stderr),
    outputError: (text, write) => write(`${err.red("mneme:")} ${oneLine(text)}\n`),
  })
  .configureHelp({
    styleTitle: (s) => `\x1b[1m${s}\x1b[22m`,
    styleCommandText: (s) => `\x1b[36m${s}\x1b[39m`,
    styleOptionText: (s) => `\x1b[33m${s}\x1b[39m`,
  })
  .addHelpText(
    "after",
    "\nExamples:\n  mneme serve --memory 1gib            RESP on 127.0.0.1:6389, dashboard on http://127.0.0.1:6390/\n" +
      "  mneme stats --json                   figures of a running server\n" +
      "  mneme bench page --quick             a quick run of one benchmark\n" +
      "  mneme replay --policy lru --frames 1000 trace.txt.gz\n" +
      "  mneme <command> --help               a command's options, with examples",
  )
  .hook("preAction", (_root, action) => applyEnvironmentAndConfig(program, action));

registerServe(program);
registerStats(program);
registerBench(program);
registerReplay(program);
registerInspect(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  // Commander reports its own parse errors and exits; what arrives here came from an action.
  const message = e instanceof Error ? e.message : String(e);
  process.stderr.write(`${err.red("mneme:")} ${oneLine(message)}\n`);
  if (process.env.MNEME_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  process.exit(1);
}
