/**
 * `mneme serve`: the memory service with embedded defaults (127.0.0.1:6389, data under
 * ./mneme-data, a 256 MiB pool), the dashboard and /metrics on 127.0.0.1:6390 (--no-http turns
 * them off). Every option also comes from MNEME_<NAME> or a --config file (options.ts). Stops
 * cleanly on SIGINT/SIGTERM. Replication is on (--replicate file: the log in the data directory,
 * docs/replication.md; --replicate off turns it off): a restart on the same data recovers the
 * allocations, with a progress bar on a terminal.
 */
import type { Command } from "commander";
import { InvalidArgumentError as CommanderArgumentError } from "commander";
import { InvalidArgumentError } from "../errors.js";
import { recoveryBar } from "../replication/progress-bar.js";
import { DEFAULTS, type ServiceConfig } from "../service/config.js";
import { Service } from "../service/server.js";
import { parseBytes } from "../util/bytes.js";
import { withEnvironment } from "./options.js";

interface ServeOptions {
  host: string;
  port: string;
  http: boolean;
  httpPort: string;
  data: string;
  memory: string;
  pollers: string;
  workers: string;
  replyBuffers: string;
  replyBufferSize: string;
  maxBulk: string;
  maxClients: string;
  maxPipeline: string;
  quotaBytes?: string;
  quotaHandles: string;
  mapFrames: string;
  mapDirtyLow: string;
  mapDirtyHigh: string;
  mapFlushInterval: string;
  mapMinFree: string;
  replicate?: string;
  replicationBatch: string;
  replicationDelay: string;
  replicationBacklog: string;
  appendfsync: string;
  replicateVma: boolean;
  checkpointSize: string;
  segmentSize: string;
  recoverSkipCorrupt?: boolean;
  requirepass?: string;
  user: string[];
  freeOnClose?: boolean;
}

function flag(attribute: string): string {
  return `--${attribute.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

function bytes(attribute: string, text: string): number {
  try {
    return parseBytes(text);
  } catch (e) {
    throw new CommanderArgumentError(`${flag(attribute)}: ${(e as Error).message}`);
  }
}

function ratio(attribute: string, text: string): number {
  const v = Number(text);
  if (!/^\d*\.?\d+$/.test(text) || !(v > 0 && v < 1))
    throw new CommanderArgumentError(
      `${flag(attribute)}: ${JSON.stringify(text)} is not a ratio between 0 and 1`,
    );
  return v;
}

function int(attribute: string, text: string): number {
  if (!/^\d+$/.test(text))
    throw new CommanderArgumentError(`${flag(attribute)}: ${JSON.stringify(text)} is not a whole number`);
  return Number(text);
}

/**
 * Runs `make`, with a refused setting named by its flag: the configuration's own words name its
 * fields ('invalid replyBuffers 0'), which the command line spells --reply-buffers.
 */
function named<T>(make: () => T, config: Partial<ServiceConfig>): T {
  try {
    return make();
  } catch (e) {
    if (e instanceof InvalidArgumentError && Object.hasOwn(config, e.argument)) {
      // The reason may name another field too ('must be below mapDirtyHigh').
      e.message = e.message
        .replace(`invalid ${e.argument} `, `invalid ${flag(e.argument)} `)
        .replace(/\b[a-z]+[A-Z][A-Za-z]*\b/g, (w) => (Object.hasOwn(config, w) ? flag(w) : w));
    }
    throw e;
  }
}

export function registerServe(program: Command): void {
  const cmd = program
    .command("serve")
    .description("run the memory service (RESP on 127.0.0.1:6389; any Redis client works)")
    .option("--host <addr>", "address to bind (loopback unless told otherwise)", DEFAULTS.host)
    .option("--port <n>", "RESP port (0 = any free port)", String(DEFAULTS.port))
    .option(
      "--http-port <n>",
      "HTTP port of the dashboard and /metrics (0 = any free port)",
      String(DEFAULTS.httpPort),
    )
    .option("--no-http", "serve neither the dashboard nor /metrics")
    .option("--data <dir>", "data directory", DEFAULTS.data)
    .option("--memory <size>", "size of the shared pool (e.g. 256mb, 1gib)", "256mb")
    .option("--pollers <n>", "I/O threads (only 1 in this version)", "1")
    .option("--workers <n>", "worker threads for READ/WRITE copies; 0 = inline", String(DEFAULTS.workers))
    .option("--reply-buffers <n>", "reply buffers in the fixed pool", String(DEFAULTS.replyBuffers))
    .option("--reply-buffer-size <size>", "bytes per reply buffer", "16kb")
    .option("--max-bulk <size>", "largest bulk string in a request and largest READ", "16mb")
    .option("--max-clients <n>", "connections at once", String(DEFAULTS.maxClients))
    .option(
      "--max-pipeline <n>",
      "commands parsed but not yet run, per connection",
      String(DEFAULTS.maxPipeline),
    )
    .option(
      "--quota-bytes <size>",
      "bytes one identity may hold, its ALLOC blocks and MAP regions (whole pages) together (0, the default: no limit)",
    )
    .option("--quota-handles <n>", "handles one identity may hold", String(DEFAULTS.quotaHandles))
    // the MAP page cache (reclaim: dirty thresholds, flusher, watermarks)
    .option("--map-frames <n>", "4 KiB frames for all MAP regions together", String(DEFAULTS.mapFrames))
    .option("--map-dirty-low <ratio>", "dirty share of the page cache where writeback starts", "0.3")
    .option("--map-dirty-high <ratio>", "dirty share where writers are throttled", "0.6")
    .option("--map-flush-interval <ms>", "flusher wake-up and dirty-page expiry", "30000")
    .option("--map-min-free <n>", "frames kept free, the min watermark (0 = frames/64)", "0")
    // replication (docs/replication.md)
    .option(
      "--replicate <target>",
      "file (the data directory), file:DIR, redis://HOST:PORT[/NAME], or off",
      "file",
    )
    .option("--replication-batch <n>", "dirty pages per batch record in the log", "32")
    .option("--replication-delay <ms>", "longest a partial batch waits", String(DEFAULTS.replicationDelay))
    .option("--replication-backlog <size>", "log queued for storage before writers wait", "64mb")
    .option("--appendfsync <policy>", "always | batch | everysec", DEFAULTS.appendfsync)
    .option("--no-replicate-vma", "do not log ALLOC/FREE/MAP (only checkpoints know the blocks)")
    .option("--checkpoint-size <size>", "log written before a checkpoint", "64mb")
    .option("--segment-size <size>", "log segment size before rotating (file)", "256mb")
    .option("--recover-skip-corrupt", "skip damaged records in the middle of the log (loses them)")
    .option("--requirepass <secret>", "password of the default user; nothing but AUTH/HELLO before it")
    .option(
      "--user <name:password>",
      "an ACL user, its own identity (repeatable)",
      (v: string, acc: string[]) => [...acc, v],
      [],
    )
    .option("--free-on-close", "free a connection's anonymous allocations when it closes")
    .addHelpText(
      "after",
      "\nEvery option also comes from the environment (MNEME_PORT, MNEME_HTTP_PORT, MNEME_MEMORY, ...)\n" +
        "or a JSON file (--config FILE or MNEME_CONFIG; keys like port or http-port); a flag beats\n" +
        "the environment, which beats the file, which beats the default.\n" +
        "\nExamples:\n  mneme serve\n  mneme serve --port 7000 --memory 1gib --workers 1\n" +
        "  MNEME_PORT=7000 MNEME_HTTP_PORT=7001 mneme serve\n" +
        '  echo \'{"port": 7000, "memory": "1gib"}\' > mneme.json && mneme serve --config mneme.json\n' +
        "  mneme serve --requirepass s3cret --user alice:pw1 --user bob:pw2\n" +
        "  redis-cli -p 6389 ALLOC 4096\n  open http://127.0.0.1:6390/    (the dashboard; /metrics for Prometheus)",
    )
    .action(async (o: ServeOptions) => {
      // No prototype: a user named "__proto__" is a user, not the object's prototype.
      const users: Record<string, string> = Object.create(null);
      for (const u of o.user) {
        const i = u.indexOf(":");
        if (i <= 0) throw new CommanderArgumentError(`--user wants name:password, got ${JSON.stringify(u)}`);
        const name = u.slice(0, i);
        if (Object.hasOwn(users, name))
          throw new CommanderArgumentError(`--user ${name} is given twice (one password per user)`);
        users[name] = u.slice(i + 1);
      }
      const config: Partial<ServiceConfig> = {
        host: o.host,
        port: int("port", o.port),
        http: o.http,
        httpPort: int("httpPort", o.httpPort),
        data: o.data,
        memory: bytes("memory", o.memory),
        pollers: int("pollers", o.pollers),
        workers: int("workers", o.workers),
        replyBuffers: int("replyBuffers", o.replyBuffers),
        replyBufferSize: bytes("replyBufferSize", o.replyBufferSize),
        maxBulk: bytes("maxBulk", o.maxBulk),
        maxClients: int("maxClients", o.maxClients),
        maxPipeline: int("maxPipeline", o.maxPipeline),
        // 0 is no limit, as INFO and /metrics show it (a size must be positive otherwise).
        quotaBytes:
          o.quotaBytes === undefined || o.quotaBytes === "0" ? 0 : bytes("quotaBytes", o.quotaBytes),
        quotaHandles: int("quotaHandles", o.quotaHandles),
        mapFrames: int("mapFrames", o.mapFrames),
        mapDirtyLow: ratio("mapDirtyLow", o.mapDirtyLow),
        mapDirtyHigh: ratio("mapDirtyHigh", o.mapDirtyHigh),
        mapFlushInterval: int("mapFlushInterval", o.mapFlushInterval),
        mapMinFree: int("mapMinFree", o.mapMinFree),
        replicate: o.replicate === undefined || o.replicate === "off" ? null : o.replicate,
        replicationBatch: int("replicationBatch", o.replicationBatch),
        replicationDelay: int("replicationDelay", o.replicationDelay),
        replicationBacklog: bytes("replicationBacklog", o.replicationBacklog),
        appendfsync: o.appendfsync as ServiceConfig["appendfsync"],
        replicateVma: o.replicateVma,
        checkpointSize: bytes("checkpointSize", o.checkpointSize),
        segmentSize: bytes("segmentSize", o.segmentSize),
        recoverSkipCorrupt: o.recoverSkipCorrupt === true,
        requirepass: o.requirepass ?? null,
        users,
        freeOnClose: o.freeOnClose === true,
      };
      const service = named(() => new Service(config), config);
      const bar = recoveryBar(service);
      const port = await service.listen().finally(() => bar.stop());
      // Before the first line: a supervisor may signal as soon as it reads "serving" (Node's
      // default handler ended the process without closing the log and the regions).
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        console.log(`mneme: ${signal}, stopping`);
        service.close().then(
          () => process.exit(0),
          (e: unknown) => {
            // Said, not only the exit code: what could not be written is the operator's to know.
            const why = e instanceof Error ? e.message : String(e);
            process.stderr.write(`mneme: stopping failed: ${why.split("\n")[0]}\n`);
            process.exit(1);
          },
        );
      };
      process.on("SIGINT", () => stop("SIGINT"));
      process.on("SIGTERM", () => stop("SIGTERM"));
      const c = service.config;
      console.log(
        `mneme: serving RESP on ${c.host}:${port} (pool ${c.memory} bytes, pollers ${c.pollers}, workers ${c.workers}, ` +
          `reply buffers ${c.replyBuffers} x ${c.replyBufferSize}, data ${c.data})`,
      );
      if (service.observer !== null) {
        console.log(`mneme: dashboard on http://${c.host}:${service.httpPort}/, metrics on /metrics`);
      }
      const r = service.stats().replication;
      if (r.enabled)
        console.log(`mneme: replicating to ${r.backend} (appendfsync ${r.fsync}, batch ${r.batchSize})`);
      for (const e of service.events.recent()) if (e.kind === "recovery") console.log(`mneme: ${e.message}`);
    });
  withEnvironment(cmd);
}
