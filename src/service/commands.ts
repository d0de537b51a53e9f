/**
 * The command table: name → arity, whether it works before AUTH, and the handler; dispatch
 * checks the first two and runs the third. The handlers live by concept: memory-commands.ts
 * (ALLOC, FREE, WRITE, READ, SIZE, MAP, SYNC, STATS) and connection-commands.ts (what Redis
 * clients send). Handlers validate every argument before touching memory, so a refused command
 * changes nothing. Arity follows Redis: n > 0 means exactly n words (the name included), n < 0
 * at least -n. Error texts are Redis's where Redis has one.
 */
import { MnemeError } from "../errors.js";
import type { Connection } from "./connection.js";
import { auth, client, config, hello, info, select } from "./connection-commands.js";
import { command } from "./introspection.js";
import { alloc, free, map, read, sizeCmd, stats, syncCmd, write } from "./memory-commands.js";
import { error, OK, simple } from "./resp.js";
import type { Service } from "./server.js";

export interface CommandSpec {
  readonly arity: number;
  /** Allowed before authentication (AUTH, HELLO, QUIT). */
  readonly noauth?: boolean;
  readonly flags: readonly string[];
  /** ACL categories as COMMAND INFO shows them ("@read", "@fast", ...); Redis's for its own commands. */
  readonly acl: readonly string[];
  readonly run: (svc: Service, conn: Connection, args: Buffer[]) => undefined;
  /** Position in COMMAND_NAMES (set once below): per-command figures are arrays indexed by it. */
  slot?: number;
}

export const NOT_INTEGER = "ERR value is not an integer or out of range";
export const BAD_HANDLE = "ERR invalid handle (unknown, freed, or held by another identity)";
export const OUT_OF_RANGE = "ERR offset or length out of range";

/**
 * A non-negative decimal integer, or -1. Leading zeros are allowed, any number of them
 * (redis-benchmark's __rand_int__ is zero-padded); at most 15 digits after them, so the value is
 * exact in a double.
 */
export function parseCount(b: Buffer): number {
  const n = b.length;
  let i = 0;
  while (i < n - 1 && b[i] === 48) i++;
  if (n === 0 || n - i > 15) return -1;
  let v = 0;
  for (; i < n; i++) {
    const c = b[i] - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** A command or option word in lower case (names are matched in any case). */
export function lower(b: Buffer): string {
  return b.toString("latin1").toLowerCase();
}

const CONNECTION_FAST = ["@fast", "@connection"];
const CONNECTION_SLOW = ["@slow", "@connection"];

/**
 * Keyed by the lower-case name a client sends, so the table has no prototype: a command named
 * "constructor" or "__proto__" must be unknown, not Object's member (whose missing `run` threw
 * out of dispatch and ended the server).
 */
export const COMMANDS: Record<string, CommandSpec> = Object.assign(Object.create(null), {
  alloc: { arity: -2, flags: ["write", "denyoom"], acl: ["@write", "@slow"], run: alloc },
  free: { arity: 2, flags: ["write"], acl: ["@write", "@slow"], run: free },
  write: { arity: 4, flags: ["write"], acl: ["@write", "@slow"], run: write },
  read: { arity: 4, flags: ["readonly"], acl: ["@read", "@slow"], run: read },
  size: { arity: 2, flags: ["readonly", "fast"], acl: ["@read", "@fast"], run: sizeCmd },
  map: { arity: -2, flags: ["write", "denyoom"], acl: ["@write", "@slow"], run: map },
  stats: { arity: 1, flags: ["readonly"], acl: ["@read", "@slow"], run: stats },
  sync: { arity: 1, flags: ["admin"], acl: ["@admin", "@slow", "@dangerous"], run: syncCmd },
  ping: {
    arity: -1,
    flags: ["fast"],
    acl: CONNECTION_FAST,
    run: (_s, c, a) => {
      if (a.length > 2) return c.reply(error("ERR wrong number of arguments for 'ping' command"));
      if (a.length === 2) c.reply(a[1]);
      else c.stream.ascii("+PONG\r\n");
    },
  },
  echo: { arity: 2, flags: ["fast"], acl: CONNECTION_FAST, run: (_s, c, a) => c.reply(a[1]) },
  hello: { arity: -1, noauth: true, flags: ["noauth", "fast"], acl: CONNECTION_FAST, run: hello },
  auth: { arity: -2, noauth: true, flags: ["noauth", "fast"], acl: CONNECTION_FAST, run: auth },
  select: { arity: 2, flags: ["fast"], acl: CONNECTION_FAST, run: select },
  client: { arity: -2, flags: ["admin"], acl: ["@slow"], run: client },
  config: { arity: -2, flags: ["admin"], acl: ["@slow"], run: config },
  info: { arity: -1, flags: ["admin"], acl: ["@slow", "@dangerous"], run: info },
  command: { arity: -1, flags: ["loading", "stale"], acl: CONNECTION_SLOW, run: command },
  quit: {
    arity: -1,
    noauth: true,
    flags: ["fast"],
    acl: CONNECTION_FAST,
    run: (_s, c) => {
      c.reply(OK);
      c.closeAfterReply();
    },
  },
  reset: {
    arity: 1,
    noauth: true,
    flags: ["fast"],
    acl: CONNECTION_FAST,
    run: (_s, c) => {
      c.reset();
      c.reply(simple("RESET"));
    },
  },
} satisfies Record<string, CommandSpec>);

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

/** A subcommand: its arity (the command's name and the subcommand's included), flags and ACL categories. */
export interface SubcommandSpec {
  readonly arity: number;
  readonly flags: readonly string[];
  readonly acl: readonly string[];
}

const CONN_SUB = { flags: ["noscript", "loading", "stale"], acl: CONNECTION_SLOW };
const CONN_ADMIN_SUB = {
  flags: ["admin", "noscript", "loading", "stale"],
  acl: ["@admin", "@slow", "@dangerous", "@connection"],
};
const INTROSPECTION_SUB = { flags: ["loading", "stale"], acl: CONNECTION_SLOW };

/**
 * Commands whose first argument is a subcommand (CLIENT INFO shows them as "client|info"), with
 * each subcommand's arity, flags and categories as Redis 7 has them: dispatch answers an unknown
 * subcommand and a wrong number of words with Redis 7's texts ("unknown subcommand 'X'. Try
 * CLIENT HELP.", "wrong number of arguments for 'client|setname' command"), before the handler
 * runs. HELP is there for each, since those texts send the user to it.
 */
export const SUBCOMMANDS: Record<string, Record<string, SubcommandSpec>> = {
  client: {
    setname: { arity: 3, ...CONN_SUB },
    getname: { arity: 2, ...CONN_SUB },
    id: { arity: 2, ...CONN_SUB },
    setinfo: { arity: 4, ...CONN_SUB },
    info: { arity: 2, ...CONN_SUB },
    list: { arity: -2, ...CONN_ADMIN_SUB },
    "no-evict": { arity: 3, ...CONN_ADMIN_SUB },
    "no-touch": { arity: 3, ...CONN_SUB },
    reply: { arity: 3, ...CONN_SUB },
    help: { arity: 2, flags: ["loading", "stale"], acl: CONNECTION_SLOW },
  },
  config: {
    get: {
      arity: -3,
      flags: ["admin", "noscript", "loading", "stale"],
      acl: ["@admin", "@slow", "@dangerous"],
    },
    help: { arity: 2, flags: ["loading", "stale"], acl: ["@slow"] },
  },
  command: {
    count: { arity: 2, ...INTROSPECTION_SUB },
    docs: { arity: -2, ...INTROSPECTION_SUB },
    info: { arity: -2, ...INTROSPECTION_SUB },
    list: { arity: -2, ...INTROSPECTION_SUB },
    getkeys: { arity: -4, ...INTROSPECTION_SUB },
    getkeysandflags: { arity: -4, ...INTROSPECTION_SUB },
    help: { arity: 2, ...INTROSPECTION_SUB },
  },
};

/** Runs one command for a connection (auth, arity and dispatch). */
export function dispatch(svc: Service, conn: Connection, args: Buffer[]): undefined {
  const name = lower(args[0]);
  const spec = COMMANDS[name];
  if (spec === undefined) return conn.reply(error(unknownCommand(args)));
  if (spec.arity > 0 ? args.length !== spec.arity : args.length < -spec.arity) {
    return conn.reply(error(`ERR wrong number of arguments for '${name}' command`));
  }
  const subs = SUBCOMMANDS[name];
  let full = name;
  if (subs !== undefined && args.length > 1) {
    const sub = lower(args[1]);
    const arity = Object.hasOwn(subs, sub) ? subs[sub].arity : undefined;
    if (arity === undefined) {
      const given = args[1].toString("latin1").slice(0, 128);
      return conn.reply(error(`ERR unknown subcommand '${given}'. Try ${name.toUpperCase()} HELP.`));
    }
    full = `${name}|${sub}`;
    if (arity > 0 ? args.length !== arity : args.length < -arity) {
      return conn.reply(error(`ERR wrong number of arguments for '${full}' command`));
    }
  }
  if (!conn.authed && !spec.noauth) return conn.reply(error("NOAUTH Authentication required."));
  conn.lastCommand = full;
  // Requests and (sampled) service time per command for /metrics, only while it is on (observe/timings.ts).
  const timings = svc.timings;
  if (timings === null || !timings.begin(spec.slot!)) return runCommand(spec, svc, conn, args);
  const t0 = performance.now();
  runCommand(spec, svc, conn, args);
  timings.record(spec.slot!, performance.now() - t0);
}

/**
 * Runs a command; its typed errors become the client's error reply. Anything else is a fault of
 * the server (a bug), not of the request: it is answered as an error too and reported as an
 * "error" event, rather than thrown out of the socket's data handler, which would end the process
 * and every other client's session with it.
 */
function runCommand(spec: CommandSpec, svc: Service, conn: Connection, args: Buffer[]): undefined {
  try {
    spec.run(svc, conn, args);
  } catch (e) {
    if (e instanceof MnemeError) {
      conn.reply(error(`ERR ${e.message}`));
      return;
    }
    const why = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    svc.events.emitEvent("error", `internal error in ${conn.lastCommand}: ${why}`, {
      command: conn.lastCommand,
      error: why,
    });
    conn.reply(error(`ERR internal error in '${conn.lastCommand}': ${why}`));
  }
}
