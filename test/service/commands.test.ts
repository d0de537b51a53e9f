import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Service } from "../../src/service/server.js";
import { frame, raw, startService } from "./helpers.js";

let svc: Service;
let r: Redis;

beforeAll(async () => {
  svc = await startService({
    users: { alice: "pw1", bob: "pw2" },
    quotaHandles: 50,
    quotaBytes: 1024 * 1024,
  });
  r = new Redis({ port: svc.port, lazyConnect: true });
  await r.connect();
});

afterAll(async () => {
  r.disconnect();
  await svc.close();
});

describe("memory commands", () => {
  it("ALLOC, WRITE, READ, SIZE, FREE round trip", async () => {
    const h = String(await r.call("ALLOC", 10000));
    expect(h).toMatch(/^[0-9a-f]+\.[0-9a-f]{32}$/);
    expect(await r.callBuffer("WRITE", h, 100, Buffer.from("hello"))).toBe(5);
    expect((await r.callBuffer("READ", h, 100, 5)) as Buffer).toEqual(Buffer.from("hello"));
    expect(await r.call("SIZE", h)).toBe(10000);
    expect(await r.call("FREE", h)).toBe("OK");
    await expect(r.call("READ", h, 0, 1)).rejects.toThrow(/invalid handle/);
    await expect(r.call("FREE", h)).rejects.toThrow(/invalid handle/);
  });

  it("ALLOC ALIGN gives an aligned address, and alignment is validated", async () => {
    const h = String(await r.call("ALLOC", 100, "ALIGN", 4096));
    expect(Number.parseInt(h.split(".")[0], 16) % 4096).toBe(0);
    await expect(r.call("ALLOC", 100, "ALIGN", 3)).rejects.toThrow(/power of two/);
    await expect(r.call("ALLOC", 100, "ALIGNX", 8)).rejects.toThrow(/syntax error/);
    await r.call("FREE", h);
  });

  it("numbers: leading zeros accepted, garbage refused with Redis's text", async () => {
    const h = String(await r.call("ALLOC", 64));
    expect(await r.call("WRITE", h, "000010", "xy")).toBe(2);
    expect(await r.call("READ", h, "0010", "0002")).toBe("xy");
    await expect(r.call("ALLOC", "12a")).rejects.toThrow("ERR value is not an integer or out of range");
    await expect(r.call("ALLOC", "-5")).rejects.toThrow("ERR value is not an integer or out of range");
    await expect(r.call("ALLOC", 0)).rejects.toThrow(/at least 1 byte/);
    await r.call("FREE", h);
  });

  it("out-of-range offsets and lengths are refused and change nothing", async () => {
    const h = String(await r.call("ALLOC", 16));
    await r.call("WRITE", h, 0, "abcdefghijklmnop");
    await expect(r.call("WRITE", h, 10, "1234567")).rejects.toThrow("ERR offset or length out of range");
    await expect(r.call("READ", h, 0, 17)).rejects.toThrow("ERR offset or length out of range");
    await expect(r.call("READ", h, 17, 0)).rejects.toThrow("ERR offset or length out of range");
    expect(await r.call("READ", h, 0, 16)).toBe("abcdefghijklmnop");
    expect(await r.call("READ", h, 16, 0)).toBe("");
    await r.call("FREE", h);
  });

  it("a new allocation is zeroed (never shows old data)", async () => {
    const hs: string[] = [];
    for (let i = 0; i < 20; i++) {
      const h = String(await r.call("ALLOC", 3000));
      await r.callBuffer("WRITE", h, 0, Buffer.alloc(3000, 0xab));
      hs.push(h);
    }
    for (const h of hs) await r.call("FREE", h);
    for (let i = 0; i < 20; i++) {
      const h = String(await r.call("ALLOC", 3000));
      const b = (await r.callBuffer("READ", h, 0, 3000)) as Buffer;
      expect(b.every((x) => x === 0)).toBe(true);
      await r.call("FREE", h);
    }
  });

  it("MAP validates its arguments", async () => {
    await expect(r.call("MAP", 4096, "STORE", "tape")).rejects.toThrow(/anon or file/);
    await expect(r.call("MAP", "x")).rejects.toThrow(/not an integer/);
    await expect(r.call("MAP", 0)).rejects.toThrow(/positive/);
    await expect(r.call("MAP", 4096, "HINT", "fast")).rejects.toThrow(/HINT must be one of/);
    await expect(r.call("MAP", 4096, "STORE", "file", "../escape")).rejects.toThrow(/file names/);
    await expect(r.call("MAP", 4096, "STORE", "file")).rejects.toThrow(/syntax error/);
  });

  it("STATS and SYNC", async () => {
    const s = (await r.call("STATS")) as (string | number)[];
    expect(s).toContain("total");
    expect(s).toContain("reply_buffers");
    expect(await r.call("SYNC")).toBe("OK");
  });
});

describe("connection commands", () => {
  it("PING, ECHO, SELECT, CLIENT, CONFIG GET, INFO, COMMAND", async () => {
    expect(await r.ping()).toBe("PONG");
    expect(await r.call("PING", "hi")).toBe("hi");
    const bin = Buffer.from([0, 1, 2, 255, 13, 10]);
    expect(await r.callBuffer("ECHO", bin)).toEqual(bin);
    expect(await r.call("SELECT", 0)).toBe("OK");
    await expect(r.call("SELECT", 1)).rejects.toThrow("ERR DB index is out of range");
    expect(await r.call("CLIENT", "SETNAME", "me")).toBe("OK");
    expect(await r.call("CLIENT", "GETNAME")).toBe("me");
    expect(typeof (await r.call("CLIENT", "ID"))).toBe("number");
    expect(await r.call("CLIENT", "SETINFO", "LIB-NAME", "x")).toBe("OK");
    expect(await r.call("CONFIG", "GET", "save")).toEqual(["save", ""]);
    expect(await r.call("CONFIG", "GET", "appendonly")).toEqual(["appendonly", "no"]);
    expect(await r.call("CONFIG", "GET", "nonesuch")).toEqual([]);
    const info = String(await r.call("INFO"));
    expect(info).toContain("loading:0");
    expect(info).toContain("# Mneme");
    expect(info).toContain("reply_buffers:");
    expect(String(await r.call("INFO", "persistence"))).not.toContain("# Server");
    expect(Array.isArray(await r.call("COMMAND", "DOCS"))).toBe(true);
    expect(Array.isArray(await r.call("COMMAND"))).toBe(true);
    expect(await r.call("sYnC")).toBe("OK");
  });

  it("unknown commands and wrong arity get Redis's exact texts", async () => {
    await expect(r.call("FOO", "a", "b")).rejects.toThrow(
      "ERR unknown command 'FOO', with args beginning with: 'a' 'b' ",
    );
    await expect(r.call("READ", "x")).rejects.toThrow("ERR wrong number of arguments for 'read' command");
    await expect(r.call("CONFIG", "SET", "a", "b")).rejects.toThrow(
      "ERR unknown subcommand 'SET'. Try CONFIG HELP.",
    );
  });

  it("HELLO 3 switches to RESP3, HELLO 4 is NOPROTO, RESET goes back", async () => {
    const got = await raw(
      svc.port,
      [
        frame("HELLO", "3"),
        frame("PING", "x"),
        frame("CONFIG", "GET", "save"),
        frame("HELLO", "4"),
        frame("RESET"),
      ],
      (t) => t.includes("+RESET"),
    );
    expect(got.text.startsWith("%7\r\n")).toBe(true);
    expect(got.text).toContain("%1\r\n$4\r\nsave\r\n$0\r\n\r\n");
    expect(got.text).toContain("-NOPROTO unsupported protocol version");
  });

  it("inline commands, QUIT closes after OK", async () => {
    const got = await raw(svc.port, 'PING\r\nECHO "a b"\r\nping\r\nQUIT\r\nPING\r\n');
    expect(got.text).toBe("+PONG\r\n$3\r\na b\r\n+PONG\r\n+OK\r\n");
    expect(got.closed).toBe(true);
  });
});

describe("identities, authentication and quotas", () => {
  it("another identity's handle is refused; the owner still has it after reconnecting", async () => {
    const alice = new Redis({ port: svc.port, username: "alice", password: "pw1" });
    const bob = new Redis({ port: svc.port, username: "bob", password: "pw2" });
    const h = String(await alice.call("ALLOC", 100));
    await alice.call("WRITE", h, 0, "secret");
    await expect(bob.call("READ", h, 0, 6)).rejects.toThrow(/invalid handle/);
    await expect(bob.call("WRITE", h, 0, "x")).rejects.toThrow(/invalid handle/);
    await expect(bob.call("FREE", h)).rejects.toThrow(/invalid handle/);
    await expect(r.call("READ", h, 0, 6)).rejects.toThrow(/invalid handle/);
    // a forged handle with the right address but other random bits
    const forged = `${h.split(".")[0]}.${"0".repeat(32)}`;
    await expect(alice.call("READ", forged, 0, 1)).rejects.toThrow(/invalid handle/);
    alice.disconnect();
    const again = new Redis({ port: svc.port, username: "alice", password: "pw1" });
    expect(await again.call("READ", h, 0, 6)).toBe("secret");
    await again.call("FREE", h);
    again.disconnect();
    bob.disconnect();
  });

  it("wrong passwords get WRONGPASS, AUTH without requirepass is refused", async () => {
    const got = await raw(svc.port, [frame("AUTH", "alice", "nope"), frame("AUTH", "x")], (t) =>
      t.includes("Are you sure"),
    );
    expect(got.text).toContain("-WRONGPASS invalid username-password pair or user is disabled.");
  });

  it("quotas on handles and bytes refuse without allocating", async () => {
    const before = svc.pool.stats().free;
    await expect(r.call("ALLOC", 2 * 1024 * 1024)).rejects.toThrow(/quota exceeded/);
    expect(svc.pool.stats().free).toBe(before);
    const hs: string[] = [];
    let refused = "";
    for (let i = 0; i < 60; i++) {
      try {
        hs.push(String(await r.call("ALLOC", 16)));
      } catch (e) {
        refused = (e as Error).message;
        break;
      }
    }
    expect(refused).toMatch(/quota exceeded.*handles/);
    expect(hs.length).toBeLessThanOrEqual(50);
    for (const h of hs) await r.call("FREE", h);
  });
});
