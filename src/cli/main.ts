#!/usr/bin/env node
/**
 * The `mneme` command line. `serve` runs the memory service (src/cli/serve.ts).
 */
import { Command } from "commander";
import { MnemeError } from "../errors.js";
import { registerInspect } from "./inspect.js";
import { registerReplay } from "./replay.js";
import { registerServe } from "./serve.js";

const program = new Command();
program.name("mneme").description("Kernel-grade memory management for JavaScript runtimes").version("0.1.0");

registerServe(program);
registerReplay(program);
registerInspect(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof MnemeError) {
    console.error(`mneme: ${e.message}`);
    process.exit(1);
  }
  throw e;
}
