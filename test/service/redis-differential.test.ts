/**
 * The connection commands on the wire, byte for byte against a real redis-server (7): the same
 * pipeline goes to both and the replies must be identical, for everything whose answer does not
 * depend on the server (errors and their texts, PING, ECHO, AUTH, SELECT, CLIENT's and COMMAND's
 * subcommands with a wrong number of words, RESET, QUIT), in RESP2 and after HELLO 3.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRedis } from "../helpers/redis.js";
import { frame, raw, type ServerProcess, spawnServer } from "./helpers.js";

const redis = await startRedis();
let mneme: ServerProcess;

beforeAll(async () => {
  mneme = await spawnServer();
});

afterAll(async () => {
  await mneme?.stop();
  await redis?.stop();
});

/** Both servers' replies to the same words, each pipeline closed by a PING to know it is all in. */
async function both(commands: string[][]): Promise<{ redis: string; mneme: string }> {
  const frames = [...commands.map((c) => frame(...c)), frame("PING")];
  const done = (t: string) => t.endsWith("+PONG\r\n");
  const [r, m] = await Promise.all([
    raw(redis!.port, frames, done, 20_000),
    raw(mneme.port, frames, done, 20_000),
  ]);
  return { redis: r.text, mneme: m.text };
}

describe.skipIf(!redis)("connection commands, byte for byte as redis-server", () => {
  it("CLIENT subcommands: an unknown one, and known ones with a wrong number of words", async () => {
    const got = await both([
      ["CLIENT", "FOO"],
      ["client", "Bogus", "x"],
      ["CLIENT", "SETNAME"],
      ["CLIENT", "SETNAME", "a", "b"],
      ["CLIENT", "GETNAME", "x"],
      ["CLIENT", "ID", "x"],
      ["CLIENT", "INFO", "x"],
      ["CLIENT", "REPLY"],
      ["CLIENT", "NO-EVICT"],
      ["CLIENT", "NO-EVICT", "maybe"],
      ["CLIENT", "NO-EVICT", "on"],
      ["CLIENT"],
    ]);
    expect(got.mneme).toBe(got.redis);
  });

  it("CLIENT LIST's TYPE and ID filters and their errors", async () => {
    const got = await both([
      ["CLIENT", "LIST", "TYPE", "pubsub"],
      ["CLIENT", "LIST", "TYPE", "replica"],
      ["CLIENT", "LIST", "TYPE", "bogus"],
      ["CLIENT", "LIST", "ID", "x"],
      ["CLIENT", "LIST", "ID", "99999"],
      ["CLIENT", "LIST", "bogus"],
    ]);
    expect(got.mneme).toBe(got.redis);
  });

  it("COMMAND and CONFIG subcommands with a wrong number of words, unknown ones", async () => {
    const got = await both([
      ["COMMAND", "COUNT", "x"],
      ["COMMAND", "NOPE"],
      ["CONFIG", "GET"],
      ["CONFIG", "NOPE"],
      ["CONFIG", "GET", "no-such-*"],
      ["CONFIG"],
    ]);
    expect(got.mneme).toBe(got.redis);
  });

  it("COMMAND LIST FILTERBY's errors and empty answers, GETKEYS, HELP's wrong arity, HELLO of a number that is no version", async () => {
    const got = await both([
      ["COMMAND", "LIST", "foo"],
      ["COMMAND", "LIST", "FILTERBY", "PATTERN"],
      ["COMMAND", "LIST", "FILTERBY", "BOGUS", "x"],
      ["COMMAND", "LIST", "FILTERBY", "PATTERN", "x", "y"],
      ["COMMAND", "LIST", "FILTERBY", "PATTERN", "nosuch*"],
      ["COMMAND", "LIST", "FILTERBY", "MODULE", "x"],
      ["COMMAND", "LIST", "FILTERBY", "ACLCAT", "nosuch"],
      ["COMMAND", "LIST", "FILTERBY", "PATTERN", "pin?"],
      ["COMMAND", "GETKEYS", "ping"],
      ["COMMAND", "GETKEYS", "ping", "x"],
      ["COMMAND", "GETKEYS", "nosuch", "x"],
      ["COMMAND", "GETKEYSANDFLAGS", "echo", "x"],
      ["COMMAND", "GETKEYS", "client", "bogus"],
      ["COMMAND", "GETKEYS", "client", "list"],
      ["COMMAND", "HELP", "x"],
      ["CLIENT", "HELP", "x"],
      ["CONFIG", "HELP", "x"],
      ["HELLO", "-1"],
      ["HELLO", "0"],
      ["HELLO", "99999999999"],
    ]);
    expect(got.mneme).toBe(got.redis);
  });

  it("PING, ECHO, AUTH without a password set, SELECT, unknown commands, RESET", async () => {
    const got = await both([
      ["PING", "hello"],
      ["PING", "a", "b"],
      ["ECHO", "\u0000\r\nbytes"],
      ["ECHO"],
      ["AUTH", "secret"],
      ["AUTH", "default", "secret"],
      ["AUTH", "a", "b", "c"],
      ["SELECT", "0"],
      ["SELECT", "-1"],
      ["SELECT", "abc"],
      ["SELECT"],
      ["NOSUCH", "a", "b"],
      ["nosuch"],
      ["HELLO", "4"],
      ["HELLO", "x"],
      ["HELLO", "3", "BOGUS"],
      ["RESET", "x"],
      ["RESET"],
    ]);
    expect(got.mneme).toBe(got.redis);
  });

  it("the same in RESP3, after HELLO 3 (whose own reply differs: version and id)", async () => {
    const commands = [
      ["PING"],
      ["PING", "x"],
      ["CLIENT", "GETNAME"],
      ["CLIENT", "SETNAME"],
      ["CLIENT", "LIST", "TYPE", "pubsub"],
      ["CONFIG", "GET", "no-such-*"],
      ["COMMAND", "INFO", "no-such-command"],
      ["SELECT", "-1"],
      ["RESET"],
      ["PING"],
    ];
    const got = await both([["HELLO", "3"], ...commands]);
    const afterHello = (t: string) => t.slice(t.indexOf("+PONG\r\n"));
    expect(afterHello(got.mneme)).toBe(afterHello(got.redis));
  });

  it("negative zero as a multibulk or bulk length is a protocol error, as to Redis", async () => {
    for (const bytes of [
      "*1\r\n$-0\r\n\r\nPING\r\n",
      "*-0\r\nPING\r\n",
      "*-00\r\nPING\r\n",
      "*-1\r\nPING\r\n",
    ]) {
      const [r, m] = await Promise.all([
        raw(redis!.port, bytes, (t) => t.endsWith("+PONG\r\n")),
        raw(mneme.port, bytes, (t) => t.endsWith("+PONG\r\n")),
      ]);
      expect(m, JSON.stringify(bytes)).toEqual(r);
    }
  });

  it("QUIT with an argument is answered and the connection closed, as by Redis", async () => {
    const frames = [frame("QUIT", "x")];
    const [r, m] = await Promise.all([raw(redis!.port, frames), raw(mneme.port, frames)]);
    expect(m).toEqual(r);
  });
});
