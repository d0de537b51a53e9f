/**
 * The connection commands Redis clients and tools send: AUTH, HELLO (RESP3), CLIENT, CONFIG GET,
 * INFO, SELECT (COMMAND is in introspection.ts) (answers are what redis-cli, redis-benchmark, ioredis and node-redis
 * expect, error texts are Redis's).
 */
import { lower, NOT_INTEGER, parseCount } from "./commands.js";
import type { Connection } from "./connection.js";
import { globMatch } from "./glob.js";
import { infoText } from "./info.js";
import { CLIENT_HELP, CONFIG_HELP, help } from "./introspection.js";
import { error, OK, type Reply } from "./resp.js";
import type { Service } from "./server.js";

const WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled.";
const BAD_NAME = "ERR Client names cannot contain spaces, newlines or special characters.";

/** A client name as Redis allows it: printable ASCII without spaces (empty clears the name). */
function validName(name: string): boolean {
  return !/[^!-~]/.test(name);
}

export function auth(svc: Service, conn: Connection, args: Buffer[]): undefined {
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
    return conn.reply(error(WRONGPASS));
  }
  conn.login(user);
  conn.reply(OK);
}

export function hello(svc: Service, conn: Connection, args: Buffer[]): undefined {
  let proto = conn.proto;
  let i = 1;
  if (args.length > 1) {
    const v = parseCount(args[1]);
    // A number that is no version (HELLO -1, HELLO 4) is NOPROTO, as Redis answers; ioredis reads
    // that word to fall back to RESP2.
    if (v < 0 && !/^-?\d{1,18}$/.test(args[1].toString("latin1")))
      return conn.reply(error("ERR Protocol version is not an integer or out of range"));
    if (v !== 2 && v !== 3) return conn.reply(error("NOPROTO unsupported protocol version"));
    proto = v;
    i = 2;
  }
  // Every option is checked before any takes effect (as Redis does): a HELLO refused for a bad
  // option or name leaves the connection's identity, name and protocol as they were.
  let name: string | null = null;
  let login: [string, string] | null = null;
  for (; i < args.length; i++) {
    const opt = lower(args[i]);
    if (opt === "auth" && i + 2 < args.length) {
      login = [args[i + 1].toString(), args[i + 2].toString()];
      i += 2;
    } else if (opt === "setname" && i + 1 < args.length) {
      name = args[++i].toString();
      if (!validName(name)) return conn.reply(error(BAD_NAME));
    } else return conn.reply(error(`ERR Syntax error in HELLO option '${args[i].toString()}'`));
  }
  if (login !== null) {
    if (!svc.authenticate(login[0], login[1])) return conn.reply(error(WRONGPASS));
    conn.login(login[0]);
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

/** CLIENT; dispatch has checked the subcommand and its number of words (commands.ts). */
export function client(svc: Service, conn: Connection, args: Buffer[]): undefined {
  const sub = lower(args[1]);
  if (sub === "setname") {
    const name = args[2].toString();
    if (!validName(name)) return conn.reply(error(BAD_NAME));
    conn.name = name;
    return conn.reply(OK);
  }
  if (sub === "getname") return conn.reply(conn.name || null);
  if (sub === "help") return conn.reply(help("CLIENT", CLIENT_HELP));
  if (sub === "id") return conn.reply(conn.id);
  if (sub === "setinfo") {
    const attr = lower(args[2]);
    if (attr !== "lib-name" && attr !== "lib-ver") {
      return conn.reply(error(`ERR Unrecognized option '${args[2].toString()}'`));
    }
    // Checked as Redis does: a space or newline here would forge fields, or whole lines, in
    // CLIENT INFO and CLIENT LIST, which clients parse.
    const value = args[3].toString();
    if (!validName(value))
      return conn.reply(error(`ERR ${attr} cannot contain spaces, newlines or special characters.`));
    conn.libInfo[attr] = value;
    return conn.reply(OK);
  }
  if (sub === "info") return conn.reply({ verbatim: `${conn.describe()}\n` });
  if (sub === "list") return clientList(svc, conn, args);
  if (sub === "no-evict" || sub === "no-touch") {
    const mode = lower(args[2]);
    return conn.reply(mode === "on" || mode === "off" ? OK : error("ERR syntax error"));
  }
  // CLIENT REPLY: replies are always sent. An OK to OFF or SKIP would leave the client reading
  // replies it was told would not come (its pipeline out of step), so those are refused.
  const mode = lower(args[2]);
  if (mode === "on") return conn.reply(OK);
  if (mode === "off" || mode === "skip")
    return conn.reply(
      error(`ERR CLIENT REPLY ${mode.toUpperCase()} is not supported: every command is answered`),
    );
  conn.reply(error("ERR syntax error"));
}

/**
 * CLIENT LIST [TYPE type] [ID id ...], as Redis 7: every connection here is of type normal, so
 * TYPE master|replica|pubsub lists none.
 */
function clientList(svc: Service, conn: Connection, args: Buffer[]): undefined {
  const all = svc.describeClients(conn.identity);
  if (args.length === 2) return conn.reply({ verbatim: all });
  const opt = lower(args[2]);
  if (opt === "type" && args.length === 4) {
    const type = lower(args[3]);
    if (type === "normal") return conn.reply({ verbatim: all });
    if (type === "master" || type === "replica" || type === "slave" || type === "pubsub")
      return conn.reply({ verbatim: "" });
    return conn.reply(error(`ERR Unknown client type '${args[3].toString()}'`));
  }
  if (opt === "id" && args.length > 3) {
    const ids = new Set<string>();
    for (const a of args.slice(3)) {
      const id = parseCount(a);
      if (id <= 0) return conn.reply(error("ERR Invalid client ID"));
      ids.add(`id=${id} `);
    }
    const lines = all.split("\n").filter((l) => ids.has(l.slice(0, l.indexOf(" ") + 1)));
    return conn.reply({ verbatim: lines.map((l) => `${l}\n`).join("") });
  }
  conn.reply(error("ERR syntax error"));
}

export function config(svc: Service, conn: Connection, args: Buffer[]): undefined {
  // CONFIG GET and HELP are its subcommands (commands.ts checks that and their number of words).
  if (lower(args[1]) === "help") return conn.reply(help("CONFIG", CONFIG_HELP));
  const all = svc.configValues();
  const out: [string, Reply][] = [];
  for (const p of args.slice(2)) {
    const pattern = p.toString();
    for (const [k, v] of all) if (globMatch(pattern, k) && !out.some(([o]) => o === k)) out.push([k, v]);
  }
  conn.reply(conn.proto === 3 ? { map: out } : out.flat());
}

export function info(svc: Service, conn: Connection, args: Buffer[]): undefined {
  const sections = args.slice(1).map((a) => a.toString().toLowerCase());
  conn.reply({ verbatim: infoText(svc, sections) });
}

export function select(_svc: Service, conn: Connection, args: Buffer[]): undefined {
  const db = parseCount(args[1]);
  // A negative index is a number, just not a database (Redis's text for it).
  if (db < 0 && /^-\d+$/.test(args[1].toString("latin1")))
    return conn.reply(error("ERR DB index is out of range"));
  if (db < 0) return conn.reply(error(NOT_INTEGER));
  conn.reply(db === 0 ? OK : error("ERR DB index is out of range"));
}
