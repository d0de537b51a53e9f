/**
 * A MAP region's bytes count against its identity's quota after a restart too. Recovery maps the
 * logged regions again but charges them nothing; the service charges every identity what it holds
 * once recovery is done. Without that, a recovered region was free of charge, and its FREE then
 * took the identity below zero: more than the quota fitted afterwards.
 */
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { type ServerProcess, spawnServer, tempDir } from "./helpers.js";

const data = tempDir();
const ARGS = ["--data", data, "--quota-bytes", "64kb", "--user", "alice:pw1"];
let server: ServerProcess | null = null;

afterAll(async () => {
  await server?.stop();
});

async function alice(): Promise<Redis> {
  const r = new Redis({
    port: server!.port,
    username: "alice",
    password: "pw1",
    lazyConnect: true,
    maxRetriesPerRequest: 0,
  });
  await r.connect();
  return r;
}

async function held(r: Redis): Promise<number> {
  const flat = (await r.call("STATS")) as (string | number)[];
  return Number(flat[flat.indexOf("identity_bytes") + 1]);
}

describe("a MAP region recovered after a restart", () => {
  it("is charged to its identity as before; its FREE gives exactly that back", async () => {
    server = await spawnServer(ARGS);
    let r = await alice();
    const region = String(await r.call("MAP", 8192, "STORE", "file", "kept"));
    await r.call("WRITE", region, 0, "still here");
    expect(await held(r)).toBe(8192);
    r.disconnect();
    expect(await server.stop()).toBe(0);

    server = await spawnServer(ARGS);
    r = await alice();
    try {
      expect(((await r.callBuffer("READ", region, 0, 10)) as Buffer).toString()).toBe("still here");
      expect(await held(r)).toBe(8192);
      await expect(r.call("ALLOC", 64 * 1024 - 8192 + 1)).rejects.toThrow(/quota exceeded/);
      expect(await r.call("FREE", region)).toBe("OK");
      expect(await held(r)).toBe(0);
      const block = String(await r.call("ALLOC", 64 * 1024));
      await expect(r.call("ALLOC", 1)).rejects.toThrow(/holds 65536 bytes/);
      expect(await r.call("FREE", block)).toBe("OK");
    } finally {
      r.disconnect();
    }
  });
});
