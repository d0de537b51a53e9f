/**
 * The command table: name → arity, whether it works before AUTH, and the handler. Handlers
 * validate every argument before touching memory, so a refused command changes nothing.
 * Arity follows Redis: n > 0 means exactly n words (the name included), n < 0 at least -n.
 * Error texts are Redis's where Redis has one.
 */
import { InvalidArgumentError, MnemeError, OutOfMemoryError } from "../errors.js";
import { fillBytes } from "../util/shared-bytes.js";
import { HINTS, type Hint } from "../vm/hints.js";
import type { Capability } from "./capabilities.js";
import type { Connection } from "./connection.js";
import { infoText } from "./info.js";
import { error, OK, type Reply, simple } from "./resp.js";
import type { Service } from "./server.js";

export interface CommandSpec {
  readonly arity: number;
  /** Allowed before authentication (AUTH, HELLO, QUIT). */
  readonly noauth?: boolean;
  readonly flags: readonly string[];
  readonly run: (svc: Service, conn: Connection, args: Buffer[]) => undefined;
  /** Position in COMMAND_NAMES (set once below): per-command figures are arrays indexed by it. */
  slot?: number;
}

export const NOT_INTEGER = "ERR value is not an integer or out of range";
export const BAD_HANDLE = "ERR invalid handle (unknown, freed, or held by another identity)";
export const OUT_OF_RANGE = "ERR offset or length out of range";

/** A non-negative decimal integer (leading zeros allowed, as redis-benchmark sends), or -1. */
export function parseCount(b: Buffer): number {
  const n = b.length;
  if (n === 0 || n > 15) return -1;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const c = b[i] - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** The capability the handle argument names for this connection's identity, or undefined. */
function capOf(svc: Service, conn: Connection, b: Buffer): Capability | undefined {
  if (b.length > 80) return undefined;
  return svc.caps.lookup(b.toString("latin1"), conn.identity);
}

function lower(b: Buffer): string {
  return b.toString("latin1").toLowerCase();
}

function alloc(svc: Service, conn: Connection, args: Buffer[]): undefined {
  const size = parseCount(args[1]);
  if (size < 0) return conn.reply(error(NOT_INTEGER));
  if (size === 0) return conn.reply(error("ERR size must be at least 1 byte"));
  let align = 0;
  if (args.length === 4 && lower(args[2]) === "align") {
    align = parseCount(args[3]);
    if (align < 0) return conn.reply(error(NOT_INTEGER));
    if (align === 0 || (align & (align - 1)) !== 0 || align > svc.pool.pageSize * 1024) {
      return conn.reply(error("ERR ALIGN must be a power of two up to 1024 pages"));
    }
  } else if (args.length !== 2) return conn.reply(error("ERR syntax error"));
  if (size > svc.config.maxBulk * 64 || size > svc.config.memory) {
    return conn.reply(error(`OOM ALLOC of ${size} bytes is larger than the pool`));
  }
  const refused = svc.quotas.refuse(conn.identity, size);
  if (refused !== null) return conn.reply(error(refused));
  let address: number;
  try {
    address = align > 0 ? svc.pool.heap.alignedAlloc(align, size) : svc.pool.heap.malloc(size);
  } catch (e) {
    if (e instanceof OutOfMemoryError) return conn.reply(error(`OOM ${e.message}`));
    if (e instanceof InvalidArgumentError) return conn.reply(error(`ERR ${e.message}`));
    throw e;
  }
  const charged = svc.pool.heap.usableSize(address);
  const refusedCharged = svc.quotas.refuse(conn.identity, charged);
  if (refusedCharged !== null) {
    svc.pool.heap.free(address);
    return conn.reply(error(refusedCharged));
  }
  // Zeroed before the new owner sees it: nobody ever reads another's old data.
  fillBytes(svc.pool.view(address, charged), 0);
  svc.quotas.charge(conn.identity, charged);
  const cap = svc.caps.grant(address, size, charged, conn.identity, "anon", conn.id);
  svc.counters.allocs++;
  const rep = svc.replication;
  rep?.logAlloc(cap, align);
  const wait = rep?.hold();
  if (wait) return conn.defer(wait.then(() => cap.handle));
  conn.stream.ascii(`$${cap.handle.length}\r\n${cap.handle}\r\n`);
}

function free(svc: Service, conn: Connection, args: Buffer[]): undefined {
  const cap = capOf(svc, conn, args[1]);
  if (cap === undefined) return conn.reply(error(BAD_HANDLE));
  const released = svc.release(cap);
  svc.counters.frees++;
  const wait = svc.replication?.hold();
  // A region's reply waits for its unmap: a MAP of the same file after it sees its last bytes.
  if (cap.kind === "map") return conn.defer(released.then(() => wait).then(() => OK));
  if (wait) return conn.defer(wait.then(() => OK));
  conn.stream.ascii("+OK\r\n");
}

function write(svc: Service, conn: Connection, args: Buffer[]): undefined {
  const cap = capOf(svc, conn, args[1]);
  if (cap === undefined) return conn.reply(error(BAD_HANDLE));
  const offset = parseCount(args[2]);
  if (offset < 0) return conn.reply(error(NOT_INTEGER));
  const data = args[3];
  if (offset + data.length > cap.size) return conn.reply(error(OUT_OF_RANGE));
  svc.counters.writes++;
  svc.counters.bytesWritten += data.length;
  const rep = svc.replication;
  if (cap.kind === "map") {
    // A copy: the request buffer may be reused before the page-in completes.
    const copy = Uint8Array.from(data);
    const done = svc.maps.write(cap.address, offset, copy).then(() => {
      rep?.wrote(cap, offset, copy.length);
      return rep?.hold() ?? undefined;
    });
    return conn.defer(done.then(() => copy.length));
  }
  const wait = rep?.hold();
  if (rep && wait) {
    // `always`, or a backlog to drain: the copy is done here (not on a worker) so the batch can
    // carry it at once, and the reply waits. Behind a job's READs it goes with the job (the
    // replicator takes the pages once the job unpins the block).
    conn.writeNow(cap, offset, data);
    rep.wrote(cap, offset, data.length);
    return conn.defer(wait.then(() => data.length));
  }
  conn.writeBlock(cap, offset, data);
  rep?.wrote(cap, offset, data.length);
}

function read(svc: Service, conn: Connection, args: Buffer[]): undefined {
  const cap = capOf(svc, conn, args[1]);
  if (cap === undefined) return conn.reply(error(BAD_HANDLE));
  const offset = parseCount(args[2]);
  const length = parseCount(args[3]);
  if (offset < 0 || length < 0) return conn.reply(error(NOT_INTEGER));
  if (offset + length > cap.size) return conn.reply(error(OUT_OF_RANGE));
  if (length > svc.config.maxBulk)
    return conn.reply(
      error(`ERR READ length above the limit of ${svc.config.maxBulk} bytes; read in pieces`),
    );
  svc.counters.reads++;
  svc.counters.bytesRead += length;
  if (cap.kind === "map")
    return conn.defer(
      svc.maps.read(cap.address, offset, length).then((b) => Buffer.from(b.buffer, b.byteOffset, b.length)),
    );
  conn.readBlock(cap, offset, length);
}

function sizeCmd(svc: Service, conn: Connection, args: Buffer[]): undefined {
  const cap = capOf(svc, conn, args[1]);
  if (cap === undefined) return conn.reply(error(BAD_HANDLE));
  conn.reply(cap.size);
}

function map(svc: Service, conn: Connection, args: Buffer[]): undefined {
  const length = parseCount(args[1]);
  if (length < 0) return conn.reply(error(NOT_INTEGER));
  if (length === 0) return conn.reply(error("ERR MAP length must be positive"));
  let kind: "anon" | "file" = "anon";
  let name: string | null = null;
  let hint: Hint | undefined;
  for (let i = 2; i < args.length; i += 2) {
    const opt = lower(args[i]);
    if ((opt !== "store" && opt !== "hint") || i + 1 >= args.length)
      return conn.reply(error("ERR syntax error"));
    if (opt === "store") {
      const k = lower(args[i + 1]);
      if (k === "file") {
        if (i + 2 >= args.length) return conn.reply(error("ERR syntax error"));
        kind = "file";
        name = args[i + 2].toString();
        i++;
      } else if (k !== "anon") return conn.reply(error("ERR STORE must be anon or file NAME"));
    } else {
      const h = args[i + 1].toString();
      if (!(HINTS as readonly string[]).includes(h))
        return conn.reply(error(`ERR HINT must be one of ${HINTS.join(", ")}`));
      hint = h as Hint;
    }
  }
  const refused = svc.quotas.refuse(conn.identity, 0);
  if (refused !== null) return conn.reply(error(refused));
  let v: number;
  try {
    v = svc.maps.map(length, kind, name, hint, conn.identity);
  } catch (e) {
    if (e instanceof MnemeError) return conn.reply(error(`ERR ${e.message}`));
    throw e;
  }
  svc.quotas.charge(conn.identity, 0);
  const cap = svc.caps.grant(v, length, 0, conn.identity, "map", conn.id);
  const rep = svc.replication;
  rep?.logMap(cap, { store: kind, name: name ?? "", hint: hint ?? "", written: new Set() });
  const wait = rep?.hold();
  if (wait) return conn.defer(wait.then(() => cap.handle));
  conn.stream.ascii(`$${cap.handle.length}\r\n${cap.handle}\r\n`);
}

/**
 * SYNC: the MAP regions' dirty pages go to their stores, and with replication the partial batch
 * is cut and everything logged before this command is durable before the reply.
 */
function syncCmd(svc: Service, conn: Connection): undefined {
  const rep = svc.replication;
  if (svc.maps.count === 0 && rep === null) return conn.reply(OK);
  const maps = svc.maps.count > 0 ? svc.maps.sync() : Promise.resolve();
  conn.defer(maps.then(() => rep?.sync()).then(() => OK));
}

function stats(svc: Service, conn: Connection): undefined {
  const s = svc.pool.stats();
  const r = svc.replyBuffers.stats();
  const u = svc.quotas.of(conn.identity);
  conn.reply({
    map: [
      ["total", s.total],
      ["free", s.free],
      ["contiguous", s.contiguous],
      ["segments", s.segments],
      ["handles", svc.caps.size],
      ["identity_bytes", u.bytes],
      ["identity_handles", u.handles],
      ["allocs", svc.counters.allocs],
      ["frees", svc.counters.frees],
      ["reads", svc.counters.reads],
      ["writes", svc.counters.writes],
      ["reply_buffers", r.replyBuffers],
      ["reply_buffers_in_use", r.replyBuffersInUse],
      ["reply_buffer_waits", r.replyBufferWaits],
      ["workers", svc.config.workers],
      ["pollers", svc.config.pollers],
    ],
  });
}

function auth(svc: Service, conn: Connection, args: Buffer[]): undefined {
  if (args.length > 3) return conn.reply(error("ERR syntax error"));
  const user = args.length === 3 ? args[1].toString() : "default";
  const pass = args[args.length - 1].toString();
  if (args.length === 2 && svc.config.requirepass === null) {
    return conn.reply(
      error(
        "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
      ),
    );
  }
  if (!svc.authenticate(user, pass)) {
    return conn.reply(error("WRONGPASS invalid username-password pair or user is disabled."));
  }
  conn.login(user);
  conn.reply(OK);
}

function hello(svc: Service, conn: Connection, args: Buffer[]): undefined {
  let proto = conn.proto;
  let i = 1;
  if (args.length > 1) {
    const v = parseCount(args[1]);
    if (v < 0) return conn.reply(error("ERR Protocol version is not an integer or out of range"));
    if (v !== 2 && v !== 3) return conn.reply(error("NOPROTO unsupported protocol version"));
    proto = v;
    i = 2;
  }
  let name: string | null = null;
  for (; i < args.length; i++) {
    const opt = lower(args[i]);
    if (opt === "auth" && i + 2 < args.length) {
      const user = args[i + 1].toString();
      if (!svc.authenticate(user, args[i + 2].toString())) {
        return conn.reply(error("WRONGPASS invalid username-password pair or user is disabled."));
      }
      conn.login(user);
      i += 2;
    } else if (opt === "setname" && i + 1 < args.length) {
      name = args[++i].toString();
    } else return conn.reply(error(`ERR Syntax error in HELLO option '${args[i].toString()}'`));
  }
  if (!conn.authed)
    return conn.reply(
      error(
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
      ),
    );
  if (name !== null) conn.name = name;
  conn.proto = proto;
  conn.reply({
    map: [
      ["server", "redis"],
      ["version", "7.0.0"],
      ["proto", proto],
      ["id", conn.id],
      ["mode", "standalone"],
      ["role", "master"],
      ["modules", []],
    ],
  });
}

function client(svc: Service, conn: Connection, args: Buffer[]): undefined {
  const sub = lower(args[1]);
  if (sub === "setname" && args.length === 3) {
    const name = args[2].toString();
    if (/[^!-~]/.test(name)) {
      return conn.reply(error("ERR Client names cannot contain spaces, newlines or special characters."));
    }
    conn.name = name;
    return conn.reply(OK);
  }
  if (sub === "getname" && args.length === 2) return conn.reply(conn.name || null);
  if (sub === "id" && args.length === 2) return conn.reply(conn.id);
  if (sub === "setinfo" && args.length === 4) {
    const attr = lower(args[2]);
    if (attr !== "lib-name" && attr !== "lib-ver") {
      return conn.reply(error(`ERR Unrecognized option '${args[2].toString()}'`));
    }
    conn.libInfo[attr] = args[3].toString();
    return conn.reply(OK);
  }
  if (sub === "info" && args.length === 2) return conn.reply({ verbatim: `${conn.describe()}\n` });
  if (sub === "list" && args.length === 2) return conn.reply({ verbatim: svc.describeClients() });
  if (sub === "no-evict" || sub === "no-touch" || sub === "reply") return conn.reply(OK);
  conn.reply(
    error(
      `ERR unknown subcommand or wrong number of arguments for '${args[1].toString()}'. Try CLIENT HELP.`,
    ),
  );
}

function config(svc: Service, conn: Connection, args: Buffer[]): undefined {
  const sub = lower(args[1]);
  if (sub !== "get") {
    return conn.reply(error(`ERR unknown subcommand '${args[1].toString()}'. Try CONFIG HELP.`));
  }
  if (args.length < 3) return conn.reply(error("ERR wrong number of arguments for 'config|get' command"));
  const all = svc.configValues();
  const out: [string, Reply][] = [];
  for (const p of args.slice(2)) {
    const re = globToRegExp(p.toString().toLowerCase());
    for (const [k, v] of all) if (re.test(k) && !out.some(([o]) => o === k)) out.push([k, v]);
  }
  conn.reply(conn.proto === 3 ? { map: out } : out.flat());
}

function globToRegExp(glob: string): RegExp {
  let re = "";
  for (const ch of glob) {
    if (ch === "*") re += ".*";
    else if (ch === "?") re += ".";
    else re += ch.replace(/[\\^$.|+()[\]{}]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

function info(svc: Service, conn: Connection, args: Buffer[]): undefined {
  const sections = args.slice(1).map((a) => a.toString().toLowerCase());
  conn.reply({ verbatim: infoText(svc, sections) });
}

function command(_svc: Service, conn: Connection, args: Buffer[]): undefined {
  const entry = (name: string): Reply => {
    const spec = COMMANDS[name];
    return [name, spec.arity, spec.flags.map((f) => simple(f)), 0, 0, 0, [], [], [], []];
  };
  if (args.length === 1) return conn.reply(Object.keys(COMMANDS).map(entry));
  const sub = lower(args[1]);
  if (sub === "count") return conn.reply(Object.keys(COMMANDS).length);
  if (sub === "docs") return conn.reply(conn.proto === 3 ? { map: [] } : []);
  if (sub === "info") {
    return conn.reply(args.slice(2).map((a) => (COMMANDS[lower(a)] ? entry(lower(a)) : null)));
  }
  if (sub === "list") return conn.reply(Object.keys(COMMANDS));
  conn.reply(error(`ERR unknown subcommand '${args[1].toString()}'. Try COMMAND HELP.`));
}

function select(_svc: Service, conn: Connection, args: Buffer[]): undefined {
  const db = parseCount(args[1]);
  if (db < 0) return conn.reply(error(NOT_INTEGER));
  conn.reply(db === 0 ? OK : error("ERR DB index is out of range"));
}

export const COMMANDS: Record<string, CommandSpec> = {
  alloc: { arity: -2, flags: ["write", "denyoom"], run: alloc },
  free: { arity: 2, flags: ["write"], run: free },
  write: { arity: 4, flags: ["write"], run: write },
  read: { arity: 4, flags: ["readonly"], run: read },
  size: { arity: 2, flags: ["readonly", "fast"], run: sizeCmd },
  map: { arity: -2, flags: ["write", "denyoom"], run: map },
  stats: { arity: 1, flags: ["readonly"], run: stats },
  sync: { arity: 1, flags: ["admin"], run: syncCmd },
  ping: {
    arity: -1,
    flags: ["fast"],
    run: (_s, c, a) => {
      if (a.length > 2) return c.reply(error("ERR wrong number of arguments for 'ping' command"));
      if (a.length === 2) c.reply(a[1]);
      else c.stream.ascii("+PONG\r\n");
    },
  },
  echo: { arity: 2, flags: ["fast"], run: (_s, c, a) => c.reply(a[1]) },
  hello: { arity: -1, noauth: true, flags: ["noauth", "fast"], run: hello },
  auth: { arity: -2, noauth: true, flags: ["noauth", "fast"], run: auth },
  select: { arity: 2, flags: ["fast"], run: select },
  client: { arity: -2, flags: ["admin"], run: client },
  config: { arity: -2, flags: ["admin"], run: config },
  info: { arity: -1, flags: ["admin"], run: info },
  command: { arity: -1, flags: ["loading", "stale"], run: command },
  quit: {
    arity: -1,
    noauth: true,
    flags: ["fast"],
    run: (_s, c) => {
      c.reply(OK);
      c.closeAfterReply();
    },
  },
  reset: {
    arity: 1,
    noauth: true,
    flags: ["fast"],
    run: (_s, c) => {
      c.reset();
      c.reply(simple("RESET"));
    },
  },
};

/** Command names in table order: `COMMANDS[COMMAND_NAMES[i]].slot === i`. */
export const COMMAND_NAMES: readonly string[] = Object.keys(COMMANDS);
COMMAND_NAMES.forEach((name, i) => {
  COMMANDS[name].slot = i;
});

/** Redis's text for a command it does not know. */
export function unknownCommand(args: Buffer[]): string {
  let rest = "";
  for (const a of args.slice(1)) {
    if (rest.length >= 128) break;
    rest += `'${a.toString("latin1").slice(0, 128 - rest.length)}' `;
  }
  return `ERR unknown command '${args[0].toString("latin1").slice(0, 128)}', with args beginning with: ${rest}`;
}

/** Commands whose first argument is a subcommand (CLIENT INFO shows them as "client|info"). */
const CONTAINERS = new Set(["client", "config", "command"]);

/** Runs one command for a connection (auth, arity and dispatch). */
export function dispatch(svc: Service, conn: Connection, args: Buffer[]): undefined {
  const name = lower(args[0]);
  const spec = COMMANDS[name];
  if (spec === undefined) return conn.reply(error(unknownCommand(args)));
  if (spec.arity > 0 ? args.length !== spec.arity : args.length < -spec.arity) {
    return conn.reply(error(`ERR wrong number of arguments for '${name}' command`));
  }
  if (!conn.authed && !spec.noauth) return conn.reply(error("NOAUTH Authentication required."));
  conn.lastCommand = CONTAINERS.has(name) && args.length > 1 ? `${name}|${lower(args[1])}` : name;
  // Requests and (sampled) service time per command for /metrics, only while it is on (observe/timings.ts).
  const timings = svc.timings;
  if (timings === null || !timings.begin(spec.slot!)) return runCommand(spec, svc, conn, args);
  const t0 = performance.now();
  runCommand(spec, svc, conn, args);
  timings.record(spec.slot!, performance.now() - t0);
}

function runCommand(spec: CommandSpec, svc: Service, conn: Connection, args: Buffer[]): undefined {
  try {
    spec.run(svc, conn, args);
  } catch (e) {
    if (!(e instanceof MnemeError)) throw e;
    conn.reply(error(`ERR ${e.message}`));
  }
}
