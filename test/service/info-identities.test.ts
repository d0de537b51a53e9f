/**
 * INFO's identities: the identities holding memory. It counted every identity the server had
 * seen, so a STATS, or an ALLOC freed since, counted one for good.
 */
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import type { Service } from "../../src/service/server.js";
import { startService } from "./helpers.js";

let svc: Service | undefined;
const clients: Redis[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  await svc?.close();
  svc = undefined;
});

async function login(user: string): Promise<Redis> {
  const c = new Redis({
    port: svc!.port,
    username: user,
    password: "pw",
    lazyConnect: true,
    maxRetriesPerRequest: 0,
  });
  clients.push(c);
  await c.connect();
  return c;
}

async function identities(c: Redis): Promise<number> {
  const info = String(await c.call("INFO", "mneme"));
  const line = info.split("\r\n").find((l) => l.startsWith("identities:"));
  expect(line).toBeDefined();
  return Number(line!.split(":")[1]);
}

describe("INFO identities", () => {
  it("counts the identities holding memory, not every one that has asked something", async () => {
    svc = await startService({ users: { alice: "pw", bob: "pw" } });
    const alice = await login("alice");
    const bob = await login("bob");
    expect(await identities(alice)).toBe(0);
    await bob.call("STATS");
    expect(await identities(alice)).toBe(0);
    const h = String(await alice.call("ALLOC", "100"));
    expect(await identities(bob)).toBe(1);
    await alice.call("FREE", h);
    expect(await identities(bob)).toBe(0);
  });
});
