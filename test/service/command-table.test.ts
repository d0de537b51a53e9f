/**
 * The command table from outside (a real `mneme serve` process, on the wire): names that are
 * also names of Object's members, the arity of every command with Redis's text, COMMAND's
 * subcommands, CLIENT, CONFIG GET patterns, SELECT, ECHO, in RESP2 and RESP3.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { frame, raw, type ServerProcess, spawnServer } from "./helpers.js";

let server: ServerProcess;

beforeAll(async () => {
  server = await spawnServer();
});

afterAll(async () => {
  await server.stop();
});

const endsWithPong = (t: string) => t.endsWith("+PONG\r\n");

async function talk(frames: Buffer[], until: (t: string) => boolean = endsWithPong): Promise<string> {
  return (await raw(server.port, frames, until, 20_000)).text;
}

const OBJECT_MEMBERS = [
  "constructor",
  "__proto__",
  "toString",
  "valueOf",
  "hasOwnProperty",
  "isPrototypeOf",
  "propertyIsEnumerable",
  "toLocaleString",
  "__defineGetter__",
  "__lookupSetter__",
];

describe("command names", () => {
  it("names of Object's members are unknown commands, not a crash (in any case, with arguments)", async () => {
    const frames = OBJECT_MEMBERS.flatMap((n) => [frame(n), frame(n.toUpperCase(), "x")]);
    const text = await talk([...frames, frame("PING")]);
    const expected = OBJECT_MEMBERS.flatMap((n) => [
      `-ERR unknown command '${n}', with args beginning with: \r\n`,
      `-ERR unknown command '${n.toUpperCase()}', with args beginning with: 'x' \r\n`,
    ]).join("");
    expect(text).toBe(`${expected}+PONG\r\n`);
  });

  it("COMMAND INFO of such names is null for each, and of real ones their entry", async () => {
    const text = await talk([frame("COMMAND", "INFO", "constructor", "alloc", "__proto__"), frame("PING")]);
    expect(text).toMatch(/^\*3\r\n\$-1\r\n\*10\r\n\$5\r\nalloc\r\n:-2\r\n.*\$-1\r\n\+PONG\r\n$/s);
  });

  it("every command's wrong arity gets Redis's text, whatever the case of its name", async () => {
    const wrong: [string, number][] = [
      ["ALLOC", 1],
      ["Free", 1],
      ["free", 3],
      ["WRITE", 3],
      ["write", 5],
      ["READ", 3],
      ["read", 5],
      ["SIZE", 1],
      ["size", 3],
      ["MAP", 1],
      ["STATS", 2],
      ["SYNC", 2],
      ["ECHO", 1],
      ["echo", 3],
      ["SELECT", 1],
      ["AUTH", 1],
      ["CLIENT", 1],
      ["CONFIG", 1],
      ["RESET", 2],
      ["PING", 3],
    ];
    const text = await talk([
      ...wrong.map(([name, words]) => frame(name, ...Array.from({ length: words - 1 }, () => "1"))),
      frame("PING"),
    ]);
    const expected = wrong
      .map(([name]) => `-ERR wrong number of arguments for '${name.toLowerCase()}' command\r\n`)
      .join("");
    expect(text).toBe(`${expected}+PONG\r\n`);
  });
});

describe("COMMAND, CLIENT, CONFIG GET, SELECT, ECHO", () => {
  it("COMMAND: the table, COUNT, LIST, DOCS (RESP2 array, RESP3 map), an unknown subcommand", async () => {
    const text = await talk([
      frame("COMMAND", "COUNT"),
      frame("COMMAND", "LIST"),
      frame("COMMAND", "DOCS"),
      frame("COMMAND", "NOPE"),
      frame("HELLO", "3"),
      frame("COMMAND", "DOCS"),
      frame("PING"),
    ]);
    const count = Number(/^:(\d+)\r\n/.exec(text)?.[1]);
    expect(count).toBeGreaterThanOrEqual(19);
    // LIST names the subcommands too ("client|list"), as Redis 7 does; COUNT does not.
    const listed = Number(/^:\d+\r\n\*(\d+)\r\n/.exec(text)?.[1]);
    expect(listed).toBeGreaterThan(count);
    expect(text).toContain("\r\n$11\r\nclient|list\r\n");
    for (const name of [
      "alloc",
      "free",
      "write",
      "read",
      "size",
      "map",
      "stats",
      "sync",
      "hello",
      "quit",
      "reset",
    ])
      expect(text).toContain(`\r\n$${name.length}\r\n${name}\r\n`);
    expect(text).toContain("*0\r\n-ERR unknown subcommand 'NOPE'. Try COMMAND HELP.\r\n%7\r\n");
    expect(text).toMatch(/%0\r\n\+PONG\r\n$/);
  });

  it("CLIENT: SETNAME checks the name, GETNAME, ID, SETINFO's attributes, an unknown subcommand", async () => {
    const text = await talk([
      frame("CLIENT", "GETNAME"),
      frame("CLIENT", "SETNAME", "bad name"),
      frame("CLIENT", "SETNAME", "good-name"),
      frame("client", "getname"),
      frame("CLIENT", "SETINFO", "lib-name", "tester"),
      frame("CLIENT", "SETINFO", "lib-colour", "red"),
      frame("CLIENT", "SETNAME", ""),
      frame("CLIENT", "GETNAME"),
      frame("CLIENT", "KILL", "x"),
      frame("CLIENT", "ID"),
      frame("PING"),
    ]);
    expect(text).toMatch(
      new RegExp(
        "^\\$-1\\r\\n" +
          "-ERR Client names cannot contain spaces, newlines or special characters\\.\\r\\n" +
          "\\+OK\\r\\n\\$9\\r\\ngood-name\\r\\n\\+OK\\r\\n" +
          "-ERR Unrecognized option 'lib-colour'\\r\\n" +
          "\\+OK\\r\\n\\$-1\\r\\n" +
          "-ERR unknown subcommand 'KILL'\\. Try CLIENT HELP\\.\\r\\n" +
          ":\\d+\\r\\n\\+PONG\\r\\n$",
      ),
    );
  });

  it("CLIENT SETINFO refuses spaces and newlines, which forged fields and lines in CLIENT LIST", async () => {
    const text = await talk([
      frame("CLIENT", "SETINFO", "lib-name", "x\nid=1 addr=forged"),
      frame("CLIENT", "SETINFO", "LIB-VER", "1 user=admin"),
      frame("CLIENT", "SETINFO", "lib-ver", "1.2.3"),
      frame("CLIENT", "INFO"),
      frame("PING"),
    ]);
    expect(text).toMatch(
      /^-ERR lib-name cannot contain spaces, newlines or special characters\.\r\n-ERR lib-ver cannot contain spaces, newlines or special characters\.\r\n\+OK\r\n\$\d+\r\nid=\d+ [^\n]* lib-name= lib-ver=1\.2\.3\n\r\n\+PONG\r\n$/,
    );
  });

  it("CLIENT REPLY ON is OK; OFF and SKIP are refused (they were OK, then every reply came anyway)", async () => {
    const text = await talk([
      frame("CLIENT", "REPLY", "ON"),
      frame("CLIENT", "REPLY", "off"),
      frame("CLIENT", "REPLY", "SKIP"),
      frame("CLIENT", "REPLY", "maybe"),
      frame("PING"),
    ]);
    expect(text).toBe(
      "+OK\r\n" +
        "-ERR CLIENT REPLY OFF is not supported: every command is answered\r\n" +
        "-ERR CLIENT REPLY SKIP is not supported: every command is answered\r\n" +
        "-ERR syntax error\r\n+PONG\r\n",
    );
  });

  it("CONFIG GET: globs, several patterns without duplicates, no match, an unknown subcommand", async () => {
    const text = await talk([
      frame("CONFIG", "GET", "maxclients"),
      frame("CONFIG", "GET", "MAP-DIRTY-*"),
      frame("CONFIG", "GET", "port", "p?rt", "*port"),
      frame("CONFIG", "GET", "nosuch*"),
      frame("CONFIG", "SET", "port", "1"),
      frame("CONFIG", "GET"),
      frame("PING"),
    ]);
    expect(text).toBe(
      "*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n" +
        "*4\r\n$13\r\nmap-dirty-low\r\n$3\r\n0.3\r\n$14\r\nmap-dirty-high\r\n$3\r\n0.6\r\n" +
        `*2\r\n$4\r\nport\r\n$${String(server.port).length}\r\n${server.port}\r\n` +
        "*0\r\n" +
        "-ERR unknown subcommand 'SET'. Try CONFIG HELP.\r\n" +
        "-ERR wrong number of arguments for 'config|get' command\r\n" +
        "+PONG\r\n",
    );
  });

  it("SELECT 0 (with leading zeros) is OK, any other database is out of range; ECHO returns any bytes", async () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const got = await raw(
      server.port,
      [
        frame("SELECT", "000"),
        frame("SELECT", "1"),
        frame("SELECT", "-1"),
        frame("ECHO", bytes),
        frame("ECHO", ""),
      ],
      (t) => t.endsWith("$0\r\n\r\n"),
    );
    expect(Buffer.from(got.text, "latin1")).toEqual(
      Buffer.concat([
        Buffer.from("+OK\r\n-ERR DB index is out of range\r\n-ERR DB index is out of range\r\n$256\r\n"),
        bytes,
        Buffer.from("\r\n$0\r\n\r\n"),
      ]),
    );
  });
});
