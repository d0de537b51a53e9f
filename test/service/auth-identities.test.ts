/**
 * Authentication and identities against a real `mneme serve` process (--requirepass and ACL
 * users), read on the wire: what works before AUTH, HELLO's options, handles across identities,
 * identities surviving reconnects and RESET.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { frame, raw, type ServerProcess, spawnServer } from "./helpers.js";

const NOAUTH = "-NOAUTH Authentication required.\r\n";
const WRONGPASS = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
const BAD_HANDLE = "-ERR invalid handle (unknown, freed, or held by another identity)\r\n";

let server: ServerProcess;

beforeAll(async () => {
  server = await spawnServer(["--requirepass", "s3cret", "--user", "alice:pw1", "--user", "bob:pw2"]);
});

afterAll(async () => {
  await server.stop();
});

/** Sends the frames on one connection; resolves with everything answered once `until` holds. */
async function talk(frames: Buffer[], until: (t: string) => boolean): Promise<string> {
  const got = await raw(server.port, frames, until, 20_000);
  return got.text;
}

const pingAtEnd = (t: string) => t.endsWith("+PONG\r\n") || t.endsWith(NOAUTH);

function client(user: string, password: string): Redis {
  return new Redis({ port: server.port, username: user, password, maxRetriesPerRequest: 0 });
}

describe("before authentication", () => {
  it("every command but AUTH, HELLO, QUIT and RESET is refused with NOAUTH", async () => {
    const refused = [
      ["ALLOC", "16"],
      ["FREE", "1.0"],
      ["WRITE", "1.0", "0", "x"],
      ["READ", "1.0", "0", "1"],
      ["SIZE", "1.0"],
      ["MAP", "4096"],
      ["STATS"],
      ["SYNC"],
      ["PING"],
      ["ECHO", "x"],
      ["SELECT", "0"],
      ["CLIENT", "ID"],
      ["CONFIG", "GET", "port"],
      ["INFO"],
      ["COMMAND"],
    ];
    const text = await talk(
      refused.map((w) => frame(...w)),
      (t) => t.split(NOAUTH).length - 1 === refused.length,
    );
    expect(text).toBe(NOAUTH.repeat(refused.length));
    expect(await talk([frame("RESET"), frame("PING")], (t) => t.endsWith(NOAUTH))).toBe(
      `+RESET\r\n${NOAUTH}`,
    );
    const quit = await raw(server.port, [frame("QUIT")]);
    expect(quit).toEqual({ text: "+OK\r\n", closed: true });
  });

  it("HELLO with a bad option after AUTH does not log in (every option is checked first)", async () => {
    const text = await talk([frame("HELLO", "3", "AUTH", "alice", "pw1", "BOGUS"), frame("PING")], pingAtEnd);
    expect(text).toBe(`-ERR Syntax error in HELLO option 'BOGUS'\r\n${NOAUTH}`);
  });

  it("HELLO with a bad client name does not log in nor switch protocol", async () => {
    const text = await talk(
      [frame("HELLO", "3", "AUTH", "alice", "pw1", "SETNAME", "a b"), frame("PING")],
      pingAtEnd,
    );
    expect(text).toBe(
      `-ERR Client names cannot contain spaces, newlines or special characters.\r\n${NOAUTH}`,
    );
  });

  it("HELLO with a wrong password, without AUTH, with a bad version: refused, still locked", async () => {
    const text = await talk(
      [
        frame("HELLO", "3", "AUTH", "alice", "nope"),
        frame("HELLO", "3"),
        frame("HELLO", "4", "AUTH", "alice", "pw1"),
        frame("HELLO", "x3"),
        frame("AUTH", "alice", "pw1", "extra"),
        frame("AUTH", "nobody", "pw1"),
        frame("PING"),
      ],
      pingAtEnd,
    );
    expect(text).toBe(
      WRONGPASS +
        "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n" +
        "-NOPROTO unsupported protocol version\r\n" +
        "-ERR Protocol version is not an integer or out of range\r\n" +
        "-ERR syntax error\r\n" +
        WRONGPASS +
        NOAUTH,
    );
  });

  it("HELLO 3 AUTH user pass SETNAME name: logged in, RESP3, named, in one step", async () => {
    const text = await talk(
      [
        frame("HELLO", "3", "AUTH", "alice", "pw1", "SETNAME", "worker-1"),
        frame("CLIENT", "INFO"),
        frame("PING"),
      ],
      (t) => t.endsWith("+PONG\r\n"),
    );
    expect(text).toMatch(/^%7\r\n\$6\r\nserver\r\n\$5\r\nredis\r\n.*\$5\r\nproto\r\n:3\r\n/s);
    // RESP3: CLIENT INFO is a verbatim string.
    expect(text).toMatch(/=\d+\r\ntxt:id=\d+ .*name=worker-1 .*user=alice .*resp=3 /);
  });
});

describe("handles across identities", () => {
  it("another identity's handle is refused for every command, with the unknown-handle text, and nothing changes", async () => {
    const alice = client("alice", "pw1");
    const bob = client("bob", "pw2");
    const def = client("default", "s3cret");
    try {
      const h = String(await alice.call("ALLOC", 333));
      await alice.call("WRITE", h, 332, "!");
      const before = await alice.call("STATS");
      for (const c of [bob, def]) {
        for (const cmd of [
          ["READ", h, 0, 1],
          ["WRITE", h, 0, "x"],
          ["SIZE", h],
          ["FREE", h],
        ]) {
          await expect(c.call(cmd[0] as string, ...cmd.slice(1))).rejects.toThrow(BAD_HANDLE.slice(1, -2));
        }
      }
      // A forged handle: the right address with other random bits; and the right bits, another address.
      const [addr, token] = h.split(".");
      const forged = [
        `${addr}.${"0".repeat(32)}`,
        `${(Number.parseInt(addr, 16) + 16).toString(16)}.${token}`,
      ];
      for (const f of forged) await expect(alice.call("READ", f, 0, 1)).rejects.toThrow(/invalid handle/);
      expect(await alice.call("STATS")).toEqual(before);
      expect(await alice.call("READ", h, 332, 1)).toBe("!");
      // The same bytes through a fresh connection of the same identity, and after RESET + AUTH.
      const again = client("alice", "pw1");
      expect(await again.call("READ", h, 332, 1)).toBe("!");
      again.disconnect();
      const text = await talk(
        [
          frame("AUTH", "alice", "pw1"),
          frame("RESET"),
          frame("SIZE", h),
          frame("AUTH", "alice", "pw1"),
          frame("SIZE", h),
        ],
        (t) => t.endsWith(":333\r\n"),
      );
      expect(text).toBe(`+OK\r\n+RESET\r\n${NOAUTH}+OK\r\n:333\r\n`);
      expect(await alice.call("FREE", h)).toBe("OK");
    } finally {
      alice.disconnect();
      bob.disconnect();
      def.disconnect();
    }
  });

  it("concurrent clients of three identities on one handle each: only the owner's operations land", async () => {
    const users: [string, string][] = [
      ["alice", "pw1"],
      ["bob", "pw2"],
      ["default", "s3cret"],
    ];
    const clients = users.map(([u, p]) => client(u, p));
    try {
      const handles = await Promise.all(clients.map((c) => c.call("ALLOC", 4096 * 3 + 1).then(String)));
      // Every client writes its own pattern into its block and tries the other two blocks, all at once.
      await Promise.all(
        clients.map(async (c, i) => {
          for (let round = 0; round < 20; round++) {
            const p = c.pipeline();
            for (let j = 0; j < 3; j++)
              p.call("WRITE", handles[j], round * 613, Buffer.alloc(1 + round * 17, 65 + i));
            const out = (await p.exec()) ?? [];
            out.forEach(([err], j) => {
              if (j === i) expect(err).toBeNull();
              else expect(String(err)).toMatch(/invalid handle/);
            });
          }
        }),
      );
      for (let i = 0; i < 3; i++) {
        const bytes = (await clients[i].callBuffer("READ", handles[i], 0, 4096 * 3 + 1)) as Buffer;
        for (const b of bytes) expect(b === 0 || b === 65 + i).toBe(true);
        expect(await clients[i].call("FREE", handles[i])).toBe("OK");
      }
    } finally {
      for (const c of clients) c.disconnect();
    }
  });
});

describe("user names that are names of Object's members", () => {
  it("AUTH constructor x (and __proto__, toString, HELLO ... AUTH hasOwnProperty) is WRONGPASS, not a crash", async () => {
    // The users were a plain object: users["constructor"] was Object, whose Buffer.from threw
    // out of the command and ended the server, for any client, before any password.
    const text = await talk(
      [
        frame("AUTH", "constructor", "x"),
        frame("AUTH", "__proto__", "x"),
        frame("AUTH", "toString", "x"),
        frame("HELLO", "3", "AUTH", "hasOwnProperty", "x"),
        frame("AUTH", "alice", "pw1"),
        frame("PING"),
      ],
      pingAtEnd,
    );
    expect(text).toBe(`${WRONGPASS.repeat(4)}+OK\r\n+PONG\r\n`);
  });

  it("--user __proto__:pw is a user like any other", async () => {
    const odd = await spawnServer([
      "--requirepass",
      "s3cret",
      "--user",
      "__proto__:pw",
      "--user",
      "constructor:pw2",
    ]);
    try {
      const got = await raw(
        odd.port,
        [
          frame("AUTH", "__proto__", "pw"),
          frame("ALLOC", "5"),
          frame("AUTH", "constructor", "pw2"),
          frame("CLIENT", "INFO"),
        ],
        (t) => t.includes("user=constructor"),
      );
      expect(got.text).toMatch(
        /^\+OK\r\n\$\d+\r\n[0-9a-f]+\.[0-9a-f]{32}\r\n\+OK\r\n\$\d+\r\nid=.* user=constructor /,
      );
    } finally {
      await odd.stop();
    }
  });
});

describe("without requirepass, the default user has no password (Redis's nopass)", () => {
  it("AUTH default <anything> is OK; AUTH <password> alone is Redis's error; users still need theirs", async () => {
    const open = await spawnServer(["--user", "carol:pw3"]);
    try {
      const got = await raw(
        open.port,
        [
          frame("AUTH", "default", "anything"),
          frame("AUTH", "x"),
          frame("AUTH", "carol", "bad"),
          frame("HELLO", "2", "AUTH", "default", "x"),
          frame("PING"),
        ],
        (t) => t.endsWith("+PONG\r\n"),
      );
      expect(got.text).toMatch(
        /^\+OK\r\n-ERR AUTH <password> called without any password configured for the default user\. Are you sure your configuration is correct\?\r\n-WRONGPASS [^\r]*\r\n\*14\r\n.*\+PONG\r\n$/s,
      );
    } finally {
      await open.stop();
    }
  });
});
