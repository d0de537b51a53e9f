/**
 * COMMAND LIST's filters, COMMAND GETKEYS, the HELP of CLIENT, CONFIG and COMMAND, and COMMAND
 * INFO's categories and subcommands, on the wire of a real `mneme serve` process. FILTERBY was
 * ignored (every filter listed every command, and LIST with any words after it too), GETKEYS and
 * HELP were unknown subcommands although every unknown-subcommand error sends the user to HELP.
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

async function talk(...commands: string[][]): Promise<string> {
  const frames = [...commands.map((c) => frame(...c)), frame("PING")];
  const text = (await raw(server.port, frames, (t) => t.endsWith("+PONG\r\n"), 20_000)).text;
  return text.slice(0, -"+PONG\r\n".length);
}

/** The bulk strings of a RESP2 array reply. */
function names(text: string): string[] {
  return [...text.matchAll(/\$\d+\r\n([^\r]*)\r\n/g)].map((m) => m[1]);
}

describe("COMMAND LIST FILTERBY", () => {
  it("PATTERN lists the commands and subcommands its glob matches, in any case", async () => {
    expect(names(await talk(["COMMAND", "LIST", "FILTERBY", "PATTERN", "RE*"])).sort()).toEqual([
      "read",
      "reset",
    ]);
    expect(names(await talk(["COMMAND", "LIST", "filterby", "pattern", "client|[gs]etname"])).sort()).toEqual(
      ["client|getname", "client|setname"],
    );
    expect(await talk(["COMMAND", "LIST", "FILTERBY", "PATTERN", "nosuch*"])).toBe("*0\r\n");
  });

  it("ACLCAT lists the commands of a category; MODULE and an unknown category list none", async () => {
    const read = names(await talk(["COMMAND", "LIST", "FILTERBY", "ACLCAT", "read"])).sort();
    expect(read).toEqual(["read", "size", "stats"]);
    const write = names(await talk(["COMMAND", "LIST", "FILTERBY", "ACLCAT", "WRITE"])).sort();
    expect(write).toEqual(["alloc", "free", "map", "write"]);
    const connection = names(await talk(["COMMAND", "LIST", "FILTERBY", "ACLCAT", "connection"]));
    expect(connection).toContain("hello");
    expect(connection).toContain("client|setname");
    expect(connection).not.toContain("alloc");
    expect(await talk(["COMMAND", "LIST", "FILTERBY", "MODULE", "search"])).toBe("*0\r\n");
    expect(await talk(["COMMAND", "LIST", "FILTERBY", "ACLCAT", "nosuch"])).toBe("*0\r\n");
  });

  it("a filter that is not one, or words after LIST without FILTERBY, are a syntax error", async () => {
    const text = await talk(
      ["COMMAND", "LIST", "foo"],
      ["COMMAND", "LIST", "FILTERBY", "PATTERN"],
      ["COMMAND", "LIST", "FILTERBY", "BOGUS", "x"],
      ["COMMAND", "LIST", "FILTERBY", "PATTERN", "x", "y"],
    );
    expect(text).toBe("-ERR syntax error\r\n".repeat(4));
  });
});

describe("COMMAND GETKEYS, HELP, INFO", () => {
  it("GETKEYS and GETKEYSANDFLAGS: no command here has keys; an unknown one is not a command", async () => {
    const text = await talk(
      ["COMMAND", "GETKEYS", "read", "h", "0", "1"],
      ["COMMAND", "GETKEYSANDFLAGS", "alloc", "4096"],
      ["COMMAND", "GETKEYS", "client", "list"],
      ["COMMAND", "GETKEYS", "client", "bogus"],
      ["COMMAND", "GETKEYS", "nosuch", "x"],
      ["COMMAND", "GETKEYS", "ping"],
    );
    expect(text).toBe(
      "-ERR The command has no key arguments\r\n".repeat(3) +
        "-ERR Invalid command specified\r\n".repeat(2) +
        "-ERR wrong number of arguments for 'command|getkeys' command\r\n",
    );
  });

  it("CLIENT HELP, CONFIG HELP and COMMAND HELP answer, naming the subcommands there are", async () => {
    for (const [command, subs] of [
      ["CLIENT", ["GETNAME", "ID", "INFO", "LIST", "SETINFO", "SETNAME", "REPLY"]],
      ["CONFIG", ["GET"]],
      ["COMMAND", ["COUNT", "LIST", "INFO", "DOCS", "GETKEYS"]],
    ] as const) {
      const text = await talk([command, "help"]);
      expect(text).toMatch(
        new RegExp(
          `^\\*\\d+\\r\\n\\+${command} <subcommand> .*\\+HELP\\r\\n\\+    Prints this help\\.\\r\\n$`,
          "s",
        ),
      );
      for (const s of subs) expect(text).toContain(`\r\n+${s}`);
      expect(await talk([command, "HELP", "x"])).toBe(
        `-ERR wrong number of arguments for '${command.toLowerCase()}|help' command\r\n`,
      );
    }
  });

  it("COMMAND INFO: ACL categories, a container's subcommands, a subcommand by its full name; sets in RESP3", async () => {
    const text = await talk(["COMMAND", "INFO", "size", "config", "client|list", "client|nope"]);
    expect(text).toBe(
      "*4\r\n" +
        "*10\r\n$4\r\nsize\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@read\r\n+@fast\r\n*0\r\n*0\r\n*0\r\n" +
        "*10\r\n$6\r\nconfig\r\n:-2\r\n*1\r\n+admin\r\n:0\r\n:0\r\n:0\r\n*1\r\n+@slow\r\n*0\r\n*0\r\n*2\r\n" +
        "*10\r\n$10\r\nconfig|get\r\n:-3\r\n*4\r\n+admin\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n" +
        "*3\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n*0\r\n*0\r\n*0\r\n" +
        "*10\r\n$11\r\nconfig|help\r\n:2\r\n*2\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*1\r\n+@slow\r\n*0\r\n*0\r\n*0\r\n" +
        "*10\r\n$11\r\nclient|list\r\n:-2\r\n*4\r\n+admin\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n" +
        "*4\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n" +
        "$-1\r\n",
    );
    const resp3 = await talk(["HELLO", "3"], ["COMMAND", "INFO", "size"]);
    expect(resp3.slice(resp3.indexOf("*1\r\n*10\r\n"))).toBe(
      "*1\r\n*10\r\n$4\r\nsize\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:0\r\n:0\r\n:0\r\n~2\r\n+@read\r\n+@fast\r\n~0\r\n~0\r\n~0\r\n",
    );
  });

  it("CONFIG GET takes Redis's globs: sets, ranges, escapes", async () => {
    const text = await talk(["CONFIG", "GET", "max[bc]*", "[a-b]in[^x]", "proto\\-max-bulk-len"]);
    expect(names(text)).toEqual([
      "maxclients",
      "10000",
      "bind",
      "127.0.0.1",
      "proto-max-bulk-len",
      "16777216",
    ]);
  });
});
