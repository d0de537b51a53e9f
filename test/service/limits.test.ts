/**
 * The service's limits from outside, against real `mneme serve` processes: the size of one
 * request, the bulk length, the inline line, the pipeline depth, the number of clients, and the
 * per-identity quotas of bytes and handles, each at its boundary; what is refused changes nothing
 * and leaves the server serving.
 */
import { connect, type Socket } from "node:net";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { frame, raw, type ServerProcess, spawnServer } from "./helpers.js";

const MAX_BULK = 1024;
const REQUEST = MAX_BULK + (1 << 20);

let server: ServerProcess;

beforeAll(async () => {
  server = await spawnServer([
    "--max-bulk",
    "1kb",
    "--max-pipeline",
    "5",
    "--max-clients",
    "4",
    "--quota-bytes",
    "64kb",
    "--quota-handles",
    "4",
    "--user",
    "alice:pw1",
    "--user",
    "bob:pw2",
  ]);
});

afterAll(async () => {
  await server.stop();
});

function open(user?: string, password?: string): Promise<Redis> {
  const c = new Redis({
    port: server.port,
    username: user,
    password,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
  });
  return c.connect().then(() => c);
}

describe("the size of one request", () => {
  it("many bulks each under --max-bulk but more than maxBulk + 1 MiB in all: refused when the header arrives", async () => {
    // Before, the parser held every bulk of the frame (up to a million of them) before anything
    // could refuse it; here it answers after about 1 MiB of the 2 MiB sent, then closes.
    const words = Array.from({ length: 2048 }, () => Buffer.alloc(MAX_BULK, 97));
    const got = await raw(server.port, [frame("PING"), frame("ECHO", ...words)]);
    expect(got).toEqual({
      text: `+PONG\r\n-ERR Protocol error: request larger than ${REQUEST} bytes\r\n`,
      closed: true,
    });
  });

  it("INFO reports the bounds of a request", async () => {
    const r = await open();
    try {
      const info = String(await r.call("INFO", "mneme"));
      expect(info).toContain(
        `\r\nmax_bulk:${MAX_BULK}\r\nmax_request:${REQUEST}\r\nmax_args:1048576\r\nmax_inline:65536\r\n`,
      );
    } finally {
      r.disconnect();
    }
  });

  it("a request just under the bound is parsed whole (and refused for its arity, the connection open)", async () => {
    const n = Math.floor((REQUEST - 64) / (MAX_BULK + 8));
    const words = Array.from({ length: n }, () => Buffer.alloc(MAX_BULK, 98));
    const got = await raw(server.port, [frame("ECHO", ...words), frame("PING")], (t) =>
      t.endsWith("+PONG\r\n"),
    );
    expect(got.text).toBe("-ERR wrong number of arguments for 'echo' command\r\n+PONG\r\n");
  });

  it("an inline line over 64 KiB is refused; one of 64 KiB is not", async () => {
    const fits = await raw(server.port, `ECHO ${"x".repeat(64 * 1024 - 6)}\r\nPING\r\n`, (t) =>
      t.endsWith("+PONG\r\n"),
    );
    expect(fits.text).toBe(`$${64 * 1024 - 6}\r\n${"x".repeat(64 * 1024 - 6)}\r\n+PONG\r\n`);
    const over = await raw(server.port, `ECHO ${"x".repeat(64 * 1024 + 10)}\r\nPING\r\n`);
    expect(over).toEqual({ text: "-ERR Protocol error: too big inline request\r\n", closed: true });
  });

  it("a bulk of exactly --max-bulk is taken, one byte more is not", async () => {
    const r = await open();
    try {
      const h = String(await r.call("ALLOC", MAX_BULK));
      expect(await r.callBuffer("WRITE", h, 0, Buffer.alloc(MAX_BULK, 7))).toBe(MAX_BULK);
      const over = await raw(server.port, frame("WRITE", h, "0", Buffer.alloc(MAX_BULK + 1, 8)));
      expect(over).toEqual({ text: "-ERR Protocol error: invalid bulk length\r\n", closed: true });
      expect(((await r.callBuffer("READ", h, 0, MAX_BULK)) as Buffer).every((b) => b === 7)).toBe(true);
      expect(await r.call("FREE", h)).toBe("OK");
    } finally {
      r.disconnect();
    }
  });
});

describe("pipeline depth", () => {
  it("--max-pipeline commands in one write run; one more and none of them runs", async () => {
    const r = await open();
    try {
      const h = String(await r.call("ALLOC", 8));
      const five = await raw(
        server.port,
        Buffer.concat(Array.from({ length: 5 }, (_, i) => frame("WRITE", h, String(i), "a"))),
        (t) => t.split(":1\r\n").length === 6,
      );
      // Written by another connection of the same identity: the handle is the identity's.
      expect(five.text).toBe(":1\r\n".repeat(5));
      const six = await raw(
        server.port,
        Buffer.concat(Array.from({ length: 6 }, (_, i) => frame("WRITE", h, String(i), "b"))),
      );
      expect(six).toEqual({ text: "-ERR Protocol error: more than 5 commands pipelined\r\n", closed: true });
      expect(await r.call("READ", h, 0, 8)).toBe("aaaaa\u0000\u0000\u0000");
      expect(await r.call("FREE", h)).toBe("OK");
    } finally {
      r.disconnect();
    }
  });
});

describe("client count", () => {
  it("--max-clients connections are served, the next one gets Redis's error; a slot freed is taken again", async () => {
    const held: Socket[] = [];
    const first = await open();
    try {
      for (let i = 0; i < 3; i++) {
        const s = connect(server.port, "127.0.0.1");
        s.on("error", () => {});
        const answer = await new Promise<string>((resolve) => {
          s.once("data", (d) => resolve(d.toString()));
          s.write("PING\r\n");
        });
        expect(answer).toBe("+PONG\r\n");
        held.push(s);
      }
      expect(await raw(server.port, "PING\r\n")).toEqual({
        text: "-ERR max number of clients reached\r\n",
        closed: true,
      });
      held.pop()?.destroy();
      // Once the server has seen the close (INFO says 3 clients), a new one is served.
      for (let i = 0; i < 600; i++) {
        if (String(await first.call("INFO", "clients")).includes("connected_clients:3")) break;
        await new Promise((res) => setTimeout(res, 50));
      }
      expect(await raw(server.port, "PING\r\n", (t) => t.length > 0)).toEqual({
        text: "+PONG\r\n",
        closed: false,
      });
    } finally {
      for (const s of held) s.destroy();
      // The next tests need slots: wait until the server has seen every close but this one.
      for (let i = 0; i < 600; i++) {
        if (String(await first.call("INFO", "clients")).includes("connected_clients:1\r\n")) break;
        await new Promise((res) => setTimeout(res, 50));
      }
      first.disconnect();
    }
  });
});

describe("quotas of bytes and handles, per identity", () => {
  it("each identity has its own; a MAP counts as a handle; refused ALLOCs and MAPs change nothing", async () => {
    const alice = await open("alice", "pw1");
    const bob = await open("bob", "pw2");
    try {
      const figures = async (c: Redis) => {
        const flat = (await c.call("STATS")) as (string | number)[];
        const o: Record<string, number> = {};
        for (let i = 0; i < flat.length; i += 2) o[String(flat[i])] = Number(flat[i + 1]);
        return o;
      };
      // Bytes: 64 KiB exactly fits, one byte more of a second block does not.
      const big = String(await alice.call("ALLOC", 64 * 1024));
      const full = await figures(alice);
      expect(full.identity_bytes).toBe(64 * 1024);
      await expect(alice.call("ALLOC", 1)).rejects.toThrow(
        "ERR quota exceeded: identity 'alice' holds 65536 bytes, 1 more would pass the limit of 65536",
      );
      const after = await figures(alice);
      expect(after.free).toBe(full.free);
      expect(after.handles).toBe(full.handles);
      expect(after.identity_bytes).toBe(full.identity_bytes);
      // Bob's quota is his own.
      const b = String(await bob.call("ALLOC", 64 * 1024));
      expect(await bob.call("FREE", b)).toBe("OK");
      expect(await alice.call("FREE", big)).toBe("OK");
      // Handles: 4, a MAP being one of them.
      const hs = [String(await alice.call("MAP", 4096))];
      for (let i = 0; i < 3; i++) hs.push(String(await alice.call("ALLOC", 1)));
      await expect(alice.call("ALLOC", 1)).rejects.toThrow(
        "ERR quota exceeded: identity 'alice' holds 4 handles, the limit is 4",
      );
      await expect(alice.call("MAP", 4096)).rejects.toThrow(/holds 4 handles, the limit is 4/);
      expect((await figures(alice)).identity_handles).toBe(4);
      for (const h of hs) expect(await alice.call("FREE", h)).toBe("OK");
      const end = await figures(alice);
      expect([end.identity_handles, end.identity_bytes]).toEqual([0, 0]);
    } finally {
      alice.disconnect();
      bob.disconnect();
    }
  });

  it("a MAP region counts its length in whole pages: exactly the quota fits, a byte more does not", async () => {
    const alice = await open("alice", "pw1");
    try {
      const bytes = async () => {
        const flat = (await alice.call("STATS")) as (string | number)[];
        return Number(flat[flat.indexOf("identity_bytes") + 1]);
      };
      await expect(alice.call("MAP", 64 * 1024 + 1)).rejects.toThrow(
        "ERR quota exceeded: identity 'alice' holds 0 bytes, 69632 more would pass the limit of 65536",
      );
      // 15 pages and a byte: 16 pages, the whole quota.
      const region = String(await alice.call("MAP", 60 * 1024 + 1));
      expect(await bytes()).toBe(64 * 1024);
      await expect(alice.call("ALLOC", 1)).rejects.toThrow(/holds 65536 bytes, 1 more would pass/);
      await expect(alice.call("MAP", 1, "STORE", "file", "more")).rejects.toThrow(/holds 65536 bytes/);
      expect(await bytes()).toBe(64 * 1024);
      expect(await alice.call("FREE", region)).toBe("OK");
      expect(await bytes()).toBe(0);
      const block = String(await alice.call("ALLOC", 64 * 1024));
      expect(await alice.call("FREE", block)).toBe("OK");
    } finally {
      alice.disconnect();
    }
  });
});
