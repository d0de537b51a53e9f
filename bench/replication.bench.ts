/**
 * Replication cost and recovery speed, in one run:
 *
 *   redis-benchmark WRITE of 4 KiB at random offsets of a 1 MiB block (-c 50, -P 1 and -P 16)
 *   against `mneme serve` with replication off, `file` under each fsync policy, and `redis`
 *   (a redis-server started here, persistence off: the figure is mneme's side of the cost);
 *   throughput ratios against off. Rounds: every round starts each mode's server afresh, warms it
 *   up (a short untimed -P 16 load, so the JIT has compiled the write path before the timed runs),
 *   then times -P 1 and -P 16; the modes alternate within a round, so drift on this shared VM hits
 *   all of them alike. Figures are medians over the rounds, and a ratio is the median of the
 *   per-round ratios (both figures taken a few seconds apart). Then recovery: a log written by the same load with
 *   checkpoints off, mneme killed with SIGKILL, restarted, and INFO's last recovery read back:
 *   MB of log replayed per second.
 *
 * Target (issue 8): file with the default policy (batch) ≥ 0.8× off. Needs redis-server and
 * redis-benchmark on PATH (Debian redis-server, redis-tools).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { startRedis } from "../test/helpers/redis.js";
import { type ServerProcess, spawnServer } from "../test/service/helpers.js";
import { type BenchOptions, type BenchResult, median } from "./harness.js";

interface Row {
  mode: string;
  pipeline: number;
  rps: number;
  p50: number;
  p99: number;
}

function writeBench(port: number, handle: string, n: number, pipeline: number): Omit<Row, "mode"> {
  const out = execFileSync(
    "redis-benchmark",
    [
      ...["-p", String(port), "-c", "50", "-n", String(n), "-P", String(pipeline), "--csv"],
      ...["-r", String((1 << 20) - 4096), "WRITE", handle, "__rand_int__", "x".repeat(4096)],
    ],
    { encoding: "utf8", maxBuffer: 64 << 20 },
  );
  const f = out
    .trim()
    .split("\n")[1]
    .split(",")
    .map((x) => x.replace(/"/g, ""));
  return { pipeline, rps: Number(f[1]), p50: Number(f[4]), p99: Number(f[6]) };
}

/** `mneme serve` with `args` (a 512 MiB pool), and a 1 MiB block to write to. */
async function mneme(args: string[]): Promise<{ srv: ServerProcess; handle: string }> {
  const srv = await spawnServer(["--memory", "512mb", ...args]);
  const c = new Redis({ port: srv.port });
  try {
    return { srv, handle: String(await c.call("ALLOC", 1 << 20)) };
  } finally {
    c.disconnect();
  }
}

async function info(port: number, section: string): Promise<Record<string, string>> {
  const r = new Redis({ port });
  const text = String(await r.call("INFO", section));
  r.disconnect();
  return Object.fromEntries(
    text
      .split("\r\n")
      .filter((l) => l.includes(":"))
      .map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1)]),
  );
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const n = options.quick ? 20000 : 200000;
  const rounds = options.quick ? 1 : 3;
  const pipelines = [1, 16];
  const redis = await startRedis();
  if (redis === undefined)
    throw new Error("the replication bench needs redis-server (apt-get install redis-server)");
  const modes: [string, string[]][] = [
    ["off", ["--replicate", "off"]],
    ["file batch", ["--appendfsync", "batch"]],
    ["file everysec", ["--appendfsync", "everysec"]],
    ["file always", ["--appendfsync", "always"]],
    ["redis batch", ["--replicate", `${redis.url}/bench`]],
  ];
  /** Every round's rows. */
  const all: Row[][] = [];
  let recovery = { bytes: 0, ms: 0, records: 0, mbps: 0 };
  try {
    for (let round = 0; round < rounds; round++) {
      const rows: Row[] = [];
      for (const [mode, extra] of modes) {
        const dir = mkdtempSync(join(tmpdir(), "mneme-repl-bench-"));
        const args = mode.startsWith("file") ? ["--replicate", `file:${dir}`, ...extra] : extra;
        const { srv, handle } = await mneme(args);
        try {
          writeBench(srv.port, handle, n / 4, 16);
          for (const p of pipelines) {
            options.log(`round ${round + 1}/${rounds}: ${mode} -P ${p}`);
            rows.push({ mode, ...writeBench(srv.port, handle, n, p) });
          }
        } finally {
          await srv.stop();
        }
      }
      all.push(rows);
    }
    // Recovery: a log of the same load, no checkpoint, then kill -9 and a restart.
    const dir = mkdtempSync(join(tmpdir(), "mneme-repl-recover-"));
    const args = ["--replicate", `file:${dir}`, "--checkpoint-size", "4gb", "--segment-size", "64mb"];
    const first = await mneme(args);
    try {
      options.log("recovery: writing the log");
      writeBench(first.srv.port, first.handle, n, 16);
      const c = new Redis({ port: first.srv.port });
      await c.call("SYNC");
      c.disconnect();
    } finally {
      await first.srv.stop("SIGKILL");
    }
    options.log("recovery: restart");
    const again = await spawnServer(["--memory", "512mb", ...args]);
    try {
      const p = await info(again.port, "persistence");
      const bytes = Number(p.mneme_last_recovery_bytes);
      const ms = Number(p.mneme_last_recovery_ms);
      recovery = {
        bytes,
        ms,
        records: Number(p.mneme_last_recovery_records),
        mbps: bytes / 1e6 / (ms / 1000),
      };
    } finally {
      await again.stop();
    }
  } finally {
    await redis.stop();
  }

  const pick = (rows: Row[], mode: string, p: number) =>
    rows.find((r) => r.mode === mode && r.pipeline === p)!;
  /** Medians over the rounds; `ratio`: median of the per-round ratios to off, and each round's. */
  const rows = all[0].map((r0) => {
    const per = all.map((rows) => pick(rows, r0.mode, r0.pipeline));
    const ratios = all.map(
      (rows) => pick(rows, r0.mode, r0.pipeline).rps / pick(rows, "off", r0.pipeline).rps,
    );
    return {
      mode: r0.mode,
      pipeline: r0.pipeline,
      rps: median(per.map((r) => r.rps)),
      p50: median(per.map((r) => r.p50)),
      p99: median(per.map((r) => r.p99)),
      ratio: median(ratios),
      ratios,
    };
  });
  const table = [
    "| replication | -P | req/s | ratio vs off | ratio per round | p50 ms | p99 ms |",
    "|---|---:|---:|---:|---|---:|---:|",
    ...rows.map(
      (r) =>
        `| ${r.mode} | ${r.pipeline} | ${Math.round(r.rps)} | ${r.ratio.toFixed(2)} | ${r.ratios.map((x) => x.toFixed(2)).join(" / ")} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} |`,
    ),
  ];
  const target = pipelines.map((p) => {
    const fb = rows.find((r) => r.mode === "file batch" && r.pipeline === p)!.ratio;
    return `file batch -P ${p}: ${fb.toFixed(2)}x off (target >= 0.8x): ${fb >= 0.8 ? "PASS" : "MISS"}`;
  });
  const rec =
    `Recovery: ${(recovery.bytes / 1e6).toFixed(1)} MB of log (${recovery.records} records) replayed in ` +
    `${recovery.ms.toFixed(0)} ms = ${recovery.mbps.toFixed(0)} MB/s.`;
  const markdown = [
    `redis-benchmark -c 50 -n ${n}, WRITE 4 KiB at random offsets of a 1 MiB block; mneme --memory 512mb, batch 32; ` +
      `median of ${rounds} round(s).`,
    "",
    ...table,
    "",
    ...target.map((t) => `- ${t}`),
    "",
    rec,
  ].join("\n");
  return { name: "replication", text: markdown, markdown, data: { rows, rounds: all, recovery } };
}
