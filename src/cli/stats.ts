/**
 * `mneme stats [--json]`: asks a running server, over RESP, for STATS (the connection's view:
 * pool, handles, its identity's usage) and INFO (every section), and prints them as a short
 * report, or as one JSON object `{ server, stats, info }` with --json. Host, port and password
 * come from flags, MNEME_HOST / MNEME_PORT / MNEME_REQUIREPASS or the same config file as
 * `mneme serve` (options.ts).
 */
import { type Command, InvalidArgumentError as CommanderArgumentError } from "commander";
import { Redis } from "ioredis";
import { DEFAULTS } from "../service/config.js";
import { formatBytes } from "../util/validate.js";
import { paint } from "./colour.js";
import { withEnvironment } from "./options.js";

interface StatsOptions {
  host: string;
  port: string;
  requirepass?: string;
  login?: string;
  timeout: string;
  json?: boolean;
}

export type InfoSections = Record<string, Record<string, string>>;

/** INFO's text as sections of key/value strings (section names lower case). */
export function parseInfo(text: string): InfoSections {
  const out: InfoSections = {};
  let section: Record<string, string> | null = null;
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith("# ")) {
      section = {};
      out[line.slice(2).trim().toLowerCase()] = section;
    } else if (section !== null && line.includes(":")) {
      const i = line.indexOf(":");
      section[line.slice(0, i)] = line.slice(i + 1);
    }
  }
  return out;
}

/** STATS's reply (a RESP2 flat array or a RESP3 map) as an object of numbers. */
function statsObject(reply: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = Number(reply[i + 1]);
  } else if (reply instanceof Map) {
    for (const [k, v] of reply) out[String(k)] = Number(v);
  }
  return out;
}

function port(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new CommanderArgumentError(`--port: ${JSON.stringify(text)} is not a port (1-65535)`);
  }
  return Number(text);
}

/** The longest --timeout: an hour. Node's timers take at most 2^31-1 ms and warn past it. */
const MAX_TIMEOUT_MS = 3_600_000;

function millis(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > MAX_TIMEOUT_MS) {
    throw new CommanderArgumentError(
      `--timeout: ${JSON.stringify(text)} is not a number of ms from 1 to ${MAX_TIMEOUT_MS}`,
    );
  }
  return Number(text);
}

/** Connects, runs STATS and INFO, disconnects. Errors name the server and say what failed. */
export async function fetchStats(
  host: string,
  p: number,
  password: string | undefined,
  timeoutMs: number,
  username?: string,
): Promise<{ stats: Record<string, number>; info: InfoSections }> {
  const where = `${host}:${p}`;
  const redis = new Redis({
    host,
    port: p,
    username,
    password,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  let lastError: Error | null = null;
  redis.on("error", (e: Error) => {
    lastError = e;
  });
  try {
    await redis.connect();
  } catch (e) {
    redis.disconnect();
    const err = (lastError ?? e) as NodeJS.ErrnoException;
    // The server answered but refused (NOAUTH, WRONGPASS): say what it said.
    if (err.code === undefined && !/connect|timeout|closed/i.test(err.message)) {
      const hint = /^(NOAUTH|WRONGPASS)/.test(err.message)
        ? ` (the server wants a password: --requirepass SECRET, or --login NAME:PASSWORD for an ACL user)`
        : "";
      throw new Error(`${where}: ${err.message}${hint}`);
    }
    throw new Error(`cannot reach a mneme server at ${where} (${err.message}); is \`mneme serve\` running?`);
  }
  try {
    const stats = statsObject(await redis.call("STATS"));
    const info = parseInfo(String(await redis.call("INFO", "everything")));
    return { stats, info };
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`);
  } finally {
    redis.disconnect();
  }
}

function report(where: string, stats: Record<string, number>, info: InfoSections): string {
  const c = paint(process.stdout);
  const n = (v: string | number | undefined) => (v === undefined ? "-" : String(v));
  const b = (v: string | number | undefined) => (v === undefined ? "-" : formatBytes(Number(v)));
  const server = info.server ?? {};
  const mneme = info.mneme ?? {};
  const clients = info.clients ?? {};
  const rep = info.replication ?? {};
  const used = stats.total - stats.free;
  const rows: [string, string][] = [
    [
      "server",
      `${where}, mneme ${n(server.mneme_version)}, up ${n(server.uptime_in_seconds)} s, pid ${n(server.process_id)}`,
    ],
    [
      "pool",
      `${b(used)} used of ${b(stats.total)} (${b(stats.free)} free, largest free block ${b(stats.contiguous)})`,
    ],
    ["segments", n(stats.segments)],
    [
      "handles",
      `${n(stats.handles)} (this identity: ${n(stats.identity_handles)}, ${b(stats.identity_bytes)})`,
    ],
    ["clients", `${n(clients.connected_clients)} of ${n(clients.maxclients)}`],
    [
      "commands",
      `${n(stats.allocs)} allocs, ${n(stats.frees)} frees, ${n(stats.reads)} reads, ${n(stats.writes)} writes`,
    ],
    ["threads", `${n(stats.pollers)} poller(s), ${n(stats.workers)} worker(s)`],
    [
      "reply buffers",
      `${n(stats.reply_buffers_in_use)} of ${n(stats.reply_buffers)} in use, ${n(stats.reply_buffer_waits)} waits`,
    ],
    [
      "page cache",
      `${n(mneme.map_resident ?? 0)} resident, ${n(mneme.map_dirty ?? 0)} dirty of ${n(mneme.map_frames)} frames`,
    ],
    ["replication", `${n(rep.mneme_replicate)} (batch ${n(rep.mneme_replication_batch)})`],
    [
      "http",
      mneme.http_active === "1"
        ? `http://${server.bind ?? "127.0.0.1"}:${n(mneme.http_port)}/ (dashboard, /metrics)`
        : "off",
    ],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${c.bold(k.padEnd(width))}  ${v}`).join("\n");
}

/** "name:password" (the form of serve's --user) as [name, password]. */
function login(text: string): [string, string] {
  const at = text.indexOf(":");
  if (at <= 0 || at === text.length - 1)
    throw new CommanderArgumentError(`--login: expected name:password, got ${JSON.stringify(text)}`);
  return [text.slice(0, at), text.slice(at + 1)];
}

export function registerStats(program: Command): void {
  const cmd = program
    .command("stats")
    .description("print the figures of a running server (STATS and INFO over RESP)")
    .option("--host <addr>", "server address", DEFAULTS.host)
    .option("--port <n>", "server RESP port", String(DEFAULTS.port))
    .option("--requirepass <secret>", "password of the default user, when the server has one")
    .option("--login <name:password>", "log in as this ACL user (one of the server's --user) instead")
    .option("--timeout <ms>", `give up after this long (1 to ${MAX_TIMEOUT_MS})`, "3000")
    .option("--json", "print one JSON object { server, stats, info }")
    .addHelpText(
      "after",
      "\nExamples:\n  mneme stats\n  mneme stats --port 7000 --json | jq .stats.free\n" +
        "  MNEME_PORT=7000 MNEME_REQUIREPASS=s3cret mneme stats\n  mneme stats --login alice:pw1\n" +
        "  mneme stats --config mneme.json",
    )
    .action(async (o: StatsOptions) => {
      const p = port(o.port);
      const [user, password] = o.login === undefined ? [undefined, o.requirepass] : login(o.login);
      const { stats, info } = await fetchStats(o.host, p, password, millis(o.timeout), user);
      const where = `${o.host}:${p}`;
      if (o.json) console.log(JSON.stringify({ server: where, stats, info }));
      else console.log(report(where, stats, info));
    });
  withEnvironment(cmd);
}
