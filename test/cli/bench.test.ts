import { describe, expect, it } from "vitest";
import { hasProgram } from "../service/helpers.js";
import { inTerminal, mnemeAsync } from "./helpers.js";

describe("mneme bench", () => {
  it("runs the suite's benchmark and prints its comparison table and the suite's summary", async () => {
    const r = await mnemeAsync(["bench", "page", "--quick", "--runs", "5"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^machine: /);
    expect(r.stdout).toContain("## page");
    // The page benchmark compares mneme with its floor and thi.ng's allocator, per workload.
    expect(r.stdout).toMatch(/workload .*mneme ns.*thi\.ng/);
    expect(r.stdout).not.toContain("BENCH_JSON");
    expect(r.stdout).toMatch(
      /suite \(1 process\):\nbenchmark +seconds +targets met +targets missed +status\n[- ]+\npage +[\d.]+ +\d+ +\d+ +ok/,
    );
    // Not a terminal: progress as plain lines, no bar, no colour.
    expect(r.stderr).toContain("bench: 1/1 page");
    expect(r.stderr).not.toContain("\u001b[");
  });

  it.skipIf(!hasProgram("script"))(
    "on a terminal: a progress bar; --repeat merges the processes' figures",
    () => {
      const out = inTerminal("node dist/cli/main.js bench page --quick --runs 5 --repeat 2");
      expect(out).toMatch(/bench \[[^\]]*\] \d\/2 benchmarks/);
      expect(out).toContain("## page (2 processes)");
      expect(out).toMatch(/suite \(2 processes\):/);
    },
  );
});
