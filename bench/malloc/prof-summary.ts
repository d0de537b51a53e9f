/**
 * Self time per function from a V8 .cpuprofile (node --cpu-prof), for finding where a replay
 * spends its time:
 *
 *   node --cpu-prof --cpu-prof-dir bench/.build/prof --import tsx \
 *     bench/malloc/replay-js.ts mneme bench/.build/malloc/perl-wordfreq.ops
 *   node --import tsx bench/malloc/prof-summary.ts bench/.build/prof/CPU.*.cpuprofile [--top N]
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function main(argv: readonly string[]): void {
  let top = 25;
  const files: string[] = [];
  for (let k = 0; k < argv.length; k++) {
    if (argv[k] === "--top") top = Number(argv[++k]);
    else files.push(argv[k]);
  }
  for (const file of files) {
    const p = JSON.parse(readFileSync(file, "utf8")) as Profile;
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const self = new Map<string, number>();
    let total = 0;
    for (let i = 0; i < p.samples.length; i++) {
      const n = byId.get(p.samples[i]);
      if (!n) continue;
      // each sample's delta is the time until the next one: attribute it to the sampled node
      const dt = p.timeDeltas[i + 1] ?? 0;
      const f = n.callFrame;
      const where = f.url
        ? `${f.url.replace(/^.*\/(src|bench|node_modules)\//, "$1/")}:${f.lineNumber + 1}`
        : "";
      const key = `${f.functionName || "(anonymous)"} ${where}`.trim();
      self.set(key, (self.get(key) ?? 0) + dt);
      total += dt;
    }
    const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, top);
    console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled`);
    // groups: where the replay's time goes, startup and idle excluded
    const groups = new Map<string, number>();
    for (const [k, v] of self) {
      const g = /src\/object\//.test(k)
        ? "src/object"
        : /src\/page\//.test(k)
          ? "src/page"
          : /src\/arena\//.test(k)
            ? "src/arena"
            : /^replay[A-Z]/.test(k)
              ? "replay loop"
              : k.startsWith("(garbage collector)")
                ? "GC"
                : null;
      if (g) groups.set(g, (groups.get(g) ?? 0) + v);
    }
    const replay = [...groups.values()].reduce((a, b) => a + b, 0);
    console.log(
      `  replay total ${(replay / 1000).toFixed(0)} ms: ` +
        [...groups]
          .sort((a, b) => b[1] - a[1])
          .map(([g, v]) => `${g} ${((100 * v) / replay).toFixed(1)}%`)
          .join(", "),
    );
    for (const [k, v] of rows) {
      console.log(
        `${((100 * v) / total).toFixed(1).padStart(5)}%  ${(v / 1000).toFixed(1).padStart(8)} ms  ${k}`,
      );
    }
  }
}

main(process.argv.slice(2));
