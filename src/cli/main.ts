#!/usr/bin/env node
/**
 * The `mneme` command line. Until the memory service lands, `serve` formats a demo arena, makes
 * a few allocations and prints what the page layer reports.
 */
import { Command, InvalidArgumentError as CommanderArgumentError } from "commander";
import { MnemeError } from "../errors.js";
import { PageAllocator } from "../page/buddy.js";
import { parseBytes } from "../util/bytes.js";

const program = new Command();
program.name("mneme").description("Kernel-grade memory management for JavaScript runtimes").version("0.1.0");

program
  .command("serve")
  .description("run the memory service (for now: format a demo arena and print its page-layer figures)")
  .option("--memory <size>", "arena size (e.g. 64mb, 1gib)", "256mb")
  .option("--page-size <bytes>", "page size, a power of two from 512 to 65536", "4096")
  .addHelpText("after", "\nExamples:\n  mneme serve\n  mneme serve --memory 1gib --page-size 65536")
  .action((opts: { memory: string; pageSize: string }) => {
    const bytes = cliBytes(opts.memory);
    const pages = new PageAllocator({ bytes, pageSize: Number(opts.pageSize) });
    const held = [pages.alloc(3 * pages.pageSize), pages.allocPages(4), pages.alloc(100_000, 65536)];
    const bulk = pages.allocBulk(8);
    console.log(pages.debugInfo());
    for (const a of [...held, ...bulk]) pages.free(a);
    console.log(JSON.stringify(pages.stats()));
  });

function cliBytes(text: string): number {
  try {
    return parseBytes(text);
  } catch (e) {
    throw new CommanderArgumentError((e as Error).message);
  }
}

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof MnemeError) {
    console.error(`mneme: ${e.message}`);
    process.exit(1);
  }
  throw e;
}
