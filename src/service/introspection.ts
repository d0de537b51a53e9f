/**
 * What the server says about its commands: COMMAND (the table, COUNT, LIST [FILTERBY MODULE|ACLCAT|
 * PATTERN], INFO, DOCS, GETKEYS, GETKEYSANDFLAGS) and the HELP of CLIENT, CONFIG and COMMAND, as
 * Redis 7 answers them. A COMMAND INFO entry has Redis 7's ten fields:
 *
 * | # | field        | here                                                              |
 * |---|--------------|-------------------------------------------------------------------|
 * | 1 | name         | "alloc", or "client|list" for a subcommand                         |
 * | 2 | arity        | n words exactly (n > 0) or at least -n, the name included          |
 * | 3 | flags        | a set in RESP3, as every list of an entry (Redis 7.0)              |
 * | 4-6 | first key, last key, step | 0: no command here takes keys                       |
 * | 7 | ACL categories | "@read", "@connection", ... (a set in RESP3)                     |
 * | 8 | tips         | none                                                               |
 * | 9 | key specs    | none                                                               |
 * | 10 | subcommands | an entry per subcommand (CLIENT, CONFIG, COMMAND)                  |
 */
import { COMMANDS, lower, SUBCOMMANDS } from "./commands.js";
import type { Connection } from "./connection.js";
import { globMatch } from "./glob.js";
import { error, type Reply, simple } from "./resp.js";
import type { Service } from "./server.js";

interface Described {
  readonly arity: number;
  readonly flags: readonly string[];
  readonly acl: readonly string[];
}

function entry(fullname: string, spec: Described, subs: Reply[] = []): Reply {
  const set = (words: readonly string[]): Reply => ({ set: words.map((w) => simple(w)) });
  return [fullname, spec.arity, set(spec.flags), 0, 0, 0, set(spec.acl), set([]), set([]), { set: subs }];
}

function commandEntry(name: string): Reply {
  const subs = SUBCOMMANDS[name];
  const entries =
    subs === undefined ? [] : Object.entries(subs).map(([sub, spec]) => entry(`${name}|${sub}`, spec));
  return entry(name, COMMANDS[name], entries);
}

/** Every command and subcommand: [fullname, its spec]. */
function everyCommand(): [string, Described][] {
  const out: [string, Described][] = [];
  for (const name of Object.keys(COMMANDS)) {
    out.push([name, COMMANDS[name]]);
    const subs = SUBCOMMANDS[name];
    if (subs !== undefined)
      for (const [sub, spec] of Object.entries(subs)) out.push([`${name}|${sub}`, spec]);
  }
  return out;
}

/** The entry of "name" or "name|sub", or null for a name the server does not have. */
function lookupEntry(word: Buffer): Reply {
  const full = lower(word);
  const bar = full.indexOf("|");
  if (bar < 0) return Object.hasOwn(COMMANDS, full) ? commandEntry(full) : null;
  const subs = SUBCOMMANDS[full.slice(0, bar)];
  const sub = full.slice(bar + 1);
  return subs !== undefined && Object.hasOwn(subs, sub) ? entry(full, subs[sub]) : null;
}

/** COMMAND; dispatch has checked the subcommand and its number of words (commands.ts). */
export function command(_svc: Service, conn: Connection, args: Buffer[]): undefined {
  if (args.length === 1) return conn.reply(Object.keys(COMMANDS).map(commandEntry));
  const sub = lower(args[1]);
  if (sub === "count") return conn.reply(Object.keys(COMMANDS).length);
  if (sub === "docs") return conn.reply(conn.proto === 3 ? { map: [] } : []);
  // COMMAND INFO without names is the whole table, as in Redis 7.
  if (sub === "info" && args.length === 2) return conn.reply(Object.keys(COMMANDS).map(commandEntry));
  if (sub === "info") return conn.reply(args.slice(2).map(lookupEntry));
  if (sub === "list") return commandList(conn, args);
  if (sub === "getkeys" || sub === "getkeysandflags") return getKeys(conn, args);
  conn.reply(help("COMMAND", COMMAND_HELP));
}

/**
 * COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN glob]: every command and
 * subcommand ("client|list"), as Redis 7 lists them. No module is loaded, so MODULE lists none;
 * an unknown category lists none (Redis's answer, not an error).
 */
function commandList(conn: Connection, args: Buffer[]): undefined {
  const all = everyCommand();
  if (args.length === 2) return conn.reply(all.map(([name]) => name));
  if (args.length !== 5 || lower(args[2]) !== "filterby") return conn.reply(error("ERR syntax error"));
  const type = lower(args[3]);
  const arg = args[4].toString();
  let keep: (name: string, spec: Described) => boolean;
  if (type === "module") keep = () => false;
  else if (type === "aclcat") {
    const category = `@${arg.toLowerCase()}`;
    keep = (_, spec) => spec.acl.includes(category);
  } else if (type === "pattern") keep = (name) => globMatch(arg, name);
  else return conn.reply(error("ERR syntax error"));
  conn.reply(all.filter(([name, spec]) => keep(name, spec)).map(([name]) => name));
}

/**
 * COMMAND GETKEYS / GETKEYSANDFLAGS command args...: no command here takes keys, so a known one
 * gets Redis's "no key arguments" and an unknown one (or an unknown subcommand) "Invalid command".
 */
function getKeys(conn: Connection, args: Buffer[]): undefined {
  const name = lower(args[2]);
  const subs = SUBCOMMANDS[name];
  const known = Object.hasOwn(COMMANDS, name) && (subs === undefined || Object.hasOwn(subs, lower(args[3])));
  conn.reply(error(known ? "ERR The command has no key arguments" : "ERR Invalid command specified"));
}

/** Redis's HELP reply: the usage line, then the given lines, then HELP itself; status strings. */
export function help(command: string, lines: readonly string[]): Reply {
  return [
    `${command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:`,
    ...lines,
    "HELP",
    "    Prints this help.",
  ].map((l) => simple(l));
}

const COMMAND_HELP = [
  "(no subcommand)",
  "    Return details about all commands.",
  "COUNT",
  "    Return the total number of commands in this server.",
  "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
  "    Return a list of all commands in this server, or those the filter selects.",
  "INFO [<command-name> ...]",
  "    Return details about the given commands (all of them without names).",
  "DOCS [<command-name> ...]",
  "    Return documentation details about commands (none are kept here).",
  "GETKEYS <full-command>",
  "    Return the keys from a full command (no command here has key arguments).",
  "GETKEYSANDFLAGS <full-command>",
  "    Return the keys and the access flags from a full command.",
];

export const CLIENT_HELP = [
  "GETNAME",
  "    Return the name of the current connection.",
  "ID",
  "    Return the ID of the current connection.",
  "INFO",
  "    Return information about the current client connection.",
  "LIST [TYPE (NORMAL|MASTER|REPLICA|PUBSUB)] [ID <client-id> [<client-id> ...]]",
  "    Return information about client connections (an ACL user sees its own).",
  "NO-EVICT (ON|OFF)",
  "    Accepted; no client is evicted here.",
  "NO-TOUCH (ON|OFF)",
  "    Accepted; there are no keys to touch.",
  "REPLY ON",
  "    Every command is answered (OFF and SKIP are refused).",
  "SETINFO <option> <value>",
  "    Set client meta attr. Options are:",
  "    * LIB-NAME: the client lib name.",
  "    * LIB-VER: the client lib version.",
  "SETNAME <name>",
  "    Assign the name <name> to the current connection.",
];

export const CONFIG_HELP = [
  "GET <pattern> [<pattern> ...]",
  "    Return parameters matching the glob-like <pattern> and their values.",
];
