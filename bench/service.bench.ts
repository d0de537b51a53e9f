/**
 * The memory service against Redis, both driven by redis-benchmark (one run, same machine):
 *
 *   mneme READ/WRITE of 4 KiB at random offsets of a 1 MiB block (redis-benchmark's custom command
 *   mode with -r: __rand_int__ is zero-padded, which mneme accepts) and ALLOC 4096, with
 *   --workers 0 (inline on the I/O thread) and --workers 1 (hand-off to a worker thread);
 *   redis-server GETRANGE/SETRANGE of 4 KiB on a 1 MiB key (fixed offset: Redis refuses the
 *   zero-padded numbers) and SET/GET of 4 KiB values.
 *
 * -c 50, -n 100000 (20000 with --quick), -P 1 and -P 16. Three rounds (one with --quick), each
 * with a fresh mneme per worker setting and an untimed warm-up load on every server first (so the
 * JIT has compiled mneme's paths before the timed runs); figures are medians over the rounds of
 * req/s, p50, p99 (ms) from redis-benchmark --csv, and ratios mneme/Redis are medians of the
 * per-round ratios. Also: the request parser against redis-parser
 * on the same frames (why the service has its own parser). Needs redis-server and
 * redis-benchmark (Debian redis-server, redis-tools) on PATH.
 */
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { Redis } from "ioredis";
import { RequestParser } from "../src/service/resp.js";
import { startRedis } from "../test/helpers/redis.js";
import { spawnServer } from "../test/service/helpers.js";
import { type BenchOptions, type BenchResult, median } from "./harness.js";

interface Row {
  server: string;
  test: string;
  pipeline: number;
  rps: number;
  p50: number;
  p99: number;
}

function redisBenchmark(
  port: number,
  n: number,
  pipeline: number,
  args: string[],
  extra: string[] = [],
): Row[] {
  const out = execFileSync(
    "redis-benchmark",
    ["-p", String(port), "-c", "50", "-n", String(n), "-P", String(pipeline), "--csv", ...extra, ...args],
    { encoding: "utf8", maxBuffer: 64 << 20 },
  );
  const rows: Row[] = [];
  for (const line of out.trim().split("\n").slice(1)) {
    const f = line.split(",").map((x) => x.replace(/"/g, ""));
    if (f.length < 7) continue;
    rows.push({ server: "", test: f[0], pipeline, rps: Number(f[1]), p50: Number(f[4]), p99: Number(f[6]) });
  }
  return rows;
}

function parserBench(): { hand: number; redisParser: number } {
  const frame = (words: (string | Buffer)[]) =>
    Buffer.concat(
      words.flatMap((w) => {
        const b = typeof w === "string" ? Buffer.from(w) : w;
        return [Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n")];
      }),
    );
  const one = (words: (string | Buffer)[]) =>
    Buffer.concat([Buffer.from(`*${words.length}\r\n`), frame(words)]);
  const chunk = Buffer.concat(
    Array.from({ length: 16 }, (_, i) =>
      i % 2
        ? one(["READ", "1000.0123456789abcdef0123456789abcdef", "000123", "4096"])
        : one(["WRITE", "h", "0", Buffer.alloc(4096, 1)]),
    ),
  );
  const rounds = 20000;
  const hand = new RequestParser({ maxBulk: 1 << 24, maxArgs: 1 << 20, maxInline: 1 << 16 });
  let n = 0;
  let t = performance.now();
  for (let i = 0; i < rounds; i++) hand.feed(chunk, () => n++);
  const handMs = performance.now() - t;
  const require = createRequire(import.meta.url);
  const Parser = require("redis-parser") as new (o: object) => { execute(b: Buffer): void };
  const rp = new Parser({
    returnReply: () => n++,
    returnError: () => {},
    returnFatalError: () => {},
    returnBuffers: true,
  });
  t = performance.now();
  for (let i = 0; i < rounds; i++) rp.execute(chunk);
  const rpMs = performance.now() - t;
  return { hand: (rounds * 16) / (handMs / 1000), redisParser: (rounds * 16) / (rpMs / 1000) };
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const n = options.quick ? 20000 : 100000;
  const rounds = options.quick ? 1 : 3;
  const pipelines = [1, 16];
  const value = "x".repeat(4096);
  /** Every round's rows. */
  const all: Row[][] = [];
  const version = execFileSync("redis-server", ["--version"], { encoding: "utf8" }).trim();

  // Redis
  const redis = await startRedis();
  if (redis === undefined)
    throw new Error("the service bench needs redis-server (apt-get install redis-server)");
  const rport = redis.port;
  try {
    const rc = new Redis({ port: rport });
    await rc.set("big", Buffer.alloc(1 << 20, 0x61));
    rc.disconnect();
    for (let round = 0; round < rounds; round++) all.push(await measureRound(round));
  } finally {
    await redis.stop();
  }

  async function measureRound(round: number): Promise<Row[]> {
    const rows: Row[] = [];
    redisBenchmark(rport, n / 4, 16, ["SETRANGE", "big", "4096", value]);
    for (const p of pipelines) {
      options.log(`round ${round + 1}/${rounds}: redis -P ${p}`);
      const tag = (test: string, rs: Row[]) => rs.map((r) => ({ ...r, server: "redis", test }));
      rows.push(...tag("SETRANGE 4KiB", redisBenchmark(rport, n, p, ["SETRANGE", "big", "4096", value])));
      rows.push(...tag("GETRANGE 4KiB", redisBenchmark(rport, n, p, ["GETRANGE", "big", "4096", "8191"])));
      for (const r of redisBenchmark(rport, n, p, [], ["-t", "set,get", "-d", "4096"])) {
        rows.push({ ...r, server: "redis", test: `${r.test} 4KiB` });
      }
    }

    // mneme, inline and with one worker
    for (const workers of [0, 1]) {
      // The service alone; replication's cost is the replication bench's to measure.
      const srv = await spawnServer(["--memory", "2gb", "--workers", String(workers), "--replicate", "off"]);
      const port = srv.port;
      try {
        const mc = new Redis({ port });
        const h = String(await mc.call("ALLOC", 1 << 20));
        mc.disconnect();
        const server = `mneme w${workers}`;
        const r = ["-r", String((1 << 20) - 4096)];
        redisBenchmark(port, n / 4, 16, ["WRITE", h, "__rand_int__", value], r);
        redisBenchmark(port, n / 4, 16, ["READ", h, "__rand_int__", "4096"], r);
        for (const p of pipelines) {
          options.log(`round ${round + 1}/${rounds}: ${server} -P ${p}`);
          const tag = (test: string, rs: Row[]) => rs.map((r) => ({ ...r, server, test }));
          rows.push(...tag("WRITE 4KiB", redisBenchmark(port, n, p, ["WRITE", h, "__rand_int__", value], r)));
          rows.push(...tag("READ 4KiB", redisBenchmark(port, n, p, ["READ", h, "__rand_int__", "4096"], r)));
          rows.push(...tag("ALLOC 4096", redisBenchmark(port, n, p, ["ALLOC", "4096"])));
        }
      } finally {
        await srv.stop();
      }
    }
    return rows;
  }

  const rows: Row[] = all[0].map((r0) => {
    const per = all.map(
      (rs) => rs.find((r) => r.server === r0.server && r.test === r0.test && r.pipeline === r0.pipeline)!,
    );
    return {
      ...r0,
      rps: median(per.map((r) => r.rps)),
      p50: median(per.map((r) => r.p50)),
      p99: median(per.map((r) => r.p99)),
    };
  });
  const parse = parserBench();
  const find = (server: string, test: string, p: number) =>
    rows.find((r) => r.server === server && r.test === test && r.pipeline === p);
  const ratios: string[] = [];
  for (const w of [0, 1]) {
    for (const p of pipelines) {
      for (const [m, rd] of [
        ["WRITE 4KiB", "SETRANGE 4KiB"],
        ["READ 4KiB", "GETRANGE 4KiB"],
        ["ALLOC 4096", "SET 4KiB"],
      ]) {
        const a = find(`mneme w${w}`, m, p);
        const b = find("redis", rd, p);
        if (a && b) {
          const per = all.map((rs) => {
            const x = rs.find((r) => r.server === `mneme w${w}` && r.test === m && r.pipeline === p);
            const y = rs.find((r) => r.server === "redis" && r.test === rd && r.pipeline === p);
            return x && y ? x.rps / y.rps : Number.NaN;
          });
          ratios.push(
            `| w${w} -P ${p} | ${m} / ${rd} | ${median(per).toFixed(2)} | ${per.map((x) => x.toFixed(2)).join(" / ")} | ${a.p99.toFixed(3)} vs ${b.p99.toFixed(3)} |`,
          );
        }
      }
    }
  }
  const table = [
    "| server | test | -P | req/s | p50 ms | p99 ms |",
    "|---|---|---:|---:|---:|---:|",
    ...rows.map(
      (r) =>
        `| ${r.server} | ${r.test} | ${r.pipeline} | ${Math.round(r.rps)} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} |`,
    ),
  ];
  const markdown = [
    `redis-benchmark -c 50 -n ${n}; ${version.split(" ").slice(0, 3).join(" ")}; mneme --memory 2gb, reply buffers default; ` +
      `median of ${rounds} round(s).`,
    "",
    ...table,
    "",
    "| mode | mneme / redis | throughput ratio | per round | p99 ms mneme vs redis |",
    "|---|---|---:|---|---|",
    ...ratios,
    "",
    `Request parser, 16-command chunks of WRITE 4 KiB / READ: hand parser ${Math.round(parse.hand)} cmd/s, ` +
      `redis-parser ${Math.round(parse.redisParser)} cmd/s (redis-parser also lacks inline commands and bulk limits).`,
  ].join("\n");
  return { name: "service", text: markdown, markdown, data: { rows, rounds: all, parse } };
}
