/**
 * examples/piscina runs for real: a piscina worker pool whose task module attaches the mneme pool
 * once per worker, tasks writing results into pool memory, blocks and heap objects freed by other
 * threads, and, after piscina.destroy(), every worker recovered through pool.watch() with exact
 * accounting. The example imports "mneme"; here that name is mapped to src/ (through a tsconfig
 * given to tsx) so the test runs the sources, not whatever dist/ holds.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import type { Summary } from "../../examples/piscina/main.js";

const root = new URL("../../", import.meta.url).pathname;

describe("piscina example", () => {
  it("shares one pool among piscina's workers and recovers them when piscina ends them", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mneme-piscina-"));
    try {
      const tsconfig = join(dir, "tsconfig.json");
      writeFileSync(
        tsconfig,
        JSON.stringify({ compilerOptions: { baseUrl: root, paths: { mneme: ["src/index.ts"] } } }),
      );
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ["--import", "tsx", join(root, "examples/piscina/main.ts")],
        { cwd: root, env: { ...process.env, TSX_TSCONFIG_PATH: tsconfig }, encoding: "utf8" },
      );
      const summary = JSON.parse(stdout.trim().split("\n").at(-1)!) as Summary;
      expect(summary).toMatchObject({
        tasks: 15,
        threads: 2,
        squaresOk: true,
        sumOk: true,
        wordsOk: true,
        recovered: 2,
        accountingExact: true,
        checkPassed: true,
      });
      expect(summary.crossFrees).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
