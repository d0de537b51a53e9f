/**
 * CLIENT LIST is scoped to the caller's identity: an ACL user sees its own identity's connections
 * only (one tenant must not learn another's addresses, names and client libraries), the default
 * user (the server's operator) sees every connection. CLIENT LIST used to show everyone to all.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Service } from "../../src/service/server.js";
import { startService } from "./helpers.js";

let svc: Service;
const open: Redis[] = [];

function client(username?: string, password?: string, name?: string): Redis {
  const r = new Redis({ port: svc.port, username, password, connectionName: name, lazyConnect: true });
  open.push(r);
  return r;
}

function names(list: unknown): string[] {
  return String(list)
    .trim()
    .split("\n")
    .map((line) => /\bname=(\S*)/.exec(line)?.[1] ?? "?")
    .sort();
}

beforeAll(async () => {
  svc = await startService({ requirepass: "root", users: { alice: "pa", bob: "pb" } });
});
afterAll(async () => {
  for (const r of open) r.disconnect();
  await svc.close();
});

describe("CLIENT LIST", () => {
  it("shows an ACL user its own identity's connections only, the default user every one", async () => {
    const alice1 = client("alice", "pa", "alice-1");
    const alice2 = client("alice", "pa", "alice-2");
    const bob = client("bob", "pb", "bob-secret-name");
    const root = client(undefined, "root", "operator");
    await Promise.all([alice1, alice2, bob, root].map((r) => r.connect()));
    expect(names(await alice1.call("CLIENT", "LIST"))).toEqual(["alice-1", "alice-2"]);
    expect(names(await bob.call("CLIENT", "LIST"))).toEqual(["bob-secret-name"]);
    expect(names(await root.call("CLIENT", "LIST"))).toEqual([
      "alice-1",
      "alice-2",
      "bob-secret-name",
      "operator",
    ]);
  });
});
