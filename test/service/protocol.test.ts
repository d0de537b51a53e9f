import { connect } from "node:net";
import fc from "fast-check";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProtocolError, RequestParser } from "../../src/service/resp.js";
import type { Service } from "../../src/service/server.js";
import { frame, raw, startService } from "./helpers.js";

const limits = { maxBulk: 1024, maxArgs: 64, maxInline: 256 };

function parseAll(chunks: Buffer[]): string[][] {
  const p = new RequestParser(limits);
  const out: string[][] = [];
  for (const c of chunks) p.feed(c, (args) => out.push(args.map((a) => a.toString("latin1"))));
  return out;
}

describe("RequestParser", () => {
  it("parses multibulk and inline, split at every byte", () => {
    const input = Buffer.concat([
      frame("SET", "k", "v\r\n"),
      Buffer.from("PING\r\n  echo 'a b' \"c\\x41\"\r\n"),
    ]);
    const expected = [["SET", "k", "v\r\n"], ["PING"], ["echo", "a b", "cA"]];
    expect(parseAll([input])).toEqual(expected);
    for (let i = 0; i < input.length; i++) {
      expect(parseAll([input.subarray(0, i), input.subarray(i)])).toEqual(expected);
    }
    expect(parseAll([...input].map((b) => Buffer.from([b])))).toEqual(expected);
  });

  it("refuses oversized bulks when the header arrives, with Redis's texts", () => {
    expect(() => parseAll([Buffer.from("*1\r\n$2000\r\n")])).toThrow(
      "ERR Protocol error: invalid bulk length",
    );
    expect(() => parseAll([Buffer.from("*100\r\n")])).toThrow("ERR Protocol error: invalid multibulk length");
    expect(() => parseAll([Buffer.from("*1\r\n+x\r\n")])).toThrow(
      "ERR Protocol error: expected '$', got '+'",
    );
    expect(() => parseAll([Buffer.alloc(300, 65)])).toThrow("ERR Protocol error: too big inline request");
    expect(() => parseAll([Buffer.from('a "b\r\n')])).toThrow("unbalanced quotes");
  });

  it("fuzz: random and mutated frames either parse or throw ProtocolError", () => {
    const word = fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u));
    fc.assert(
      fc.property(
        fc.array(fc.array(word, { minLength: 1, maxLength: 5 }), { maxLength: 6 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.nat(),
        (cmds, mutations, cut) => {
          const good = Buffer.concat(cmds.map((c) => frame(...c)));
          expect(parseAll([good]).map((c) => c.length)).toEqual(cmds.map((c) => c.length));
          const bad = Buffer.from(good);
          for (const [at, v] of mutations) if (bad.length) bad[at % bad.length] = v;
          const k = bad.length ? cut % bad.length : 0;
          try {
            parseAll([bad.subarray(0, k), bad.subarray(k)]);
          } catch (e) {
            expect(e).toBeInstanceOf(ProtocolError);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("bad input against a live server", () => {
  let svc: Service;
  let r: Redis;
  beforeAll(async () => {
    svc = await startService({
      maxBulk: 64 * 1024,
      replyBuffers: 64,
      replyBufferSize: 4096,
      maxClients: 1100,
    });
    r = new Redis({ port: svc.port });
  });
  afterAll(async () => {
    r.disconnect();
    await svc.close();
  });

  it("malformed RESP gets an error and a closed connection; others' memory is untouched", async () => {
    const h = String(await r.call("ALLOC", 64));
    await r.call("WRITE", h, 0, "keep");
    const got = await raw(svc.port, [frame("PING"), Buffer.from("*1\r\n$abc\r\n")]);
    expect(got.text).toBe("+PONG\r\n-ERR Protocol error: invalid bulk length\r\n");
    expect(got.closed).toBe(true);
    const big = await raw(svc.port, Buffer.from("*2\r\n$4\r\nECHO\r\n$99999999\r\n"));
    expect(big.text).toContain("invalid bulk length");
    expect(big.closed).toBe(true);
    expect(await r.call("READ", h, 0, 4)).toBe("keep");
    await r.call("FREE", h);
  });

  it("a malformed frame after a MAP command still out: the commands before it are answered first", async () => {
    const region = String(await r.call("MAP", 8192));
    await r.call("WRITE", region, 0, "paged");
    // The MAP READ is asynchronous: the PING and SIZE after it are queued when the bad frame arrives.
    const got = await raw(svc.port, [
      Buffer.concat([
        frame("READ", region, "0", "5"),
        frame("PING"),
        frame("SIZE", region),
        Buffer.from("*1\r\n$abc\r\n"),
      ]),
    ]);
    expect(got.text).toBe("$5\r\npaged\r\n+PONG\r\n:8192\r\n-ERR Protocol error: invalid bulk length\r\n");
    expect(got.closed).toBe(true);
    await r.call("FREE", region);
  });

  it("half a frame then a stall, or a disconnect mid-request, does no harm", async () => {
    const h = String(await r.call("ALLOC", 64));
    await r.call("WRITE", h, 0, "same");
    const half = await raw(svc.port, frame("WRITE", h, "0", "XXXX").subarray(0, 30), () => false, 300);
    expect(half.text).toBe("");
    const s = connect(svc.port, "127.0.0.1");
    await new Promise((res) => s.on("connect", res));
    s.write(frame("WRITE", h, "0", "YYYY").subarray(0, 40));
    s.destroy();
    await new Promise((res) => setTimeout(res, 50));
    expect(await r.call("READ", h, 0, 4)).toBe("same");
    expect(await r.ping()).toBe("PONG");
  });

  it("fuzz: random commands never crash the server nor touch another identity's block", async () => {
    const h = String(await r.call("ALLOC", 128));
    await r.call("WRITE", h, 0, "guarded");
    const names = [
      "ALLOC",
      "FREE",
      "WRITE",
      "READ",
      "SIZE",
      "MAP",
      "PING",
      "ECHO",
      "CLIENT",
      "CONFIG",
      "INFO",
      "HELLO",
    ];
    const arg = fc.oneof(
      fc.constantFrom("0", "1", "-1", "00012", "999999999999", "ALIGN", "STORE", "anon", "3", h),
      fc.string({ maxLength: 12 }),
    );
    const cmd = fc.tuple(fc.constantFrom(...names), fc.array(arg, { maxLength: 4 }));
    await fc.assert(
      fc.asyncProperty(fc.array(cmd, { minLength: 1, maxLength: 8 }), async (cmds) => {
        const payload = Buffer.concat(
          cmds.map(([n, a]) => frame(n, ...a.filter((x) => x !== h)), frame("PING", "end")),
        );
        const got = await raw(
          svc.port,
          [payload, frame("PING", "end")],
          (t) => t.endsWith("$3\r\nend\r\n"),
          3000,
        );
        expect(got.text.endsWith("$3\r\nend\r\n")).toBe(true);
      }),
      { numRuns: 60 },
    );
    expect(await r.call("READ", h, 0, 7)).toBe("guarded");
    await r.call("FREE", h);
  });

  it("backpressure: a client that pipelines READs and never reads is stopped, memory bounded", async () => {
    const h = String(await r.call("ALLOC", 32 * 1024));
    const s = connect(svc.port, "127.0.0.1");
    s.pause();
    await new Promise((res) => s.on("connect", res));
    const one = frame("READ", h, "0", String(32 * 1024));
    const batch = Buffer.concat(Array.from({ length: 200 }, () => one));
    for (let i = 0; i < 50; i++) s.write(batch); // 10,000 READs = 320 MiB of replies
    await new Promise((res) => setTimeout(res, 800));
    const st = svc.replyBuffers.stats();
    expect(st.replyBuffersInUse).toBeLessThanOrEqual(st.replyBuffers);
    expect(st.replyBufferWaits).toBeGreaterThan(0);
    expect(svc.counters.reads).toBeLessThan(10_000);
    expect(process.memoryUsage().rss).toBeLessThan(1.5 * 1024 * 1024 * 1024);
    // other clients are still served
    expect(await r.ping()).toBe("PONG");
    s.destroy();
    await new Promise((res) => setTimeout(res, 100));
    expect(svc.replyBuffers.stats().replyBuffersInUse).toBe(0);
    await r.call("FREE", h);
  });

  it("1,000 concurrent connections", async () => {
    const socks = await Promise.all(
      Array.from(
        { length: 1000 },
        (_, i) =>
          new Promise<{ ok: boolean }>((resolve) => {
            const s = connect(svc.port, "127.0.0.1");
            let t = "";
            s.on("data", (d) => {
              t += d;
              if (t.endsWith(`$${String(i).length}\r\n${i}\r\n`)) {
                resolve({ ok: true });
                s.destroy();
              }
            });
            s.on("error", () => resolve({ ok: false }));
            s.write(frame("ECHO", String(i)));
          }),
      ),
    );
    expect(socks.filter((x) => x.ok).length).toBe(1000);
  });

  it("more clients than maxClients get Redis's error", async () => {
    const small = await startService({ maxClients: 2 });
    const a = connect(small.port, "127.0.0.1");
    const b = connect(small.port, "127.0.0.1");
    await new Promise((res) => setTimeout(res, 100));
    const got = await raw(small.port, frame("PING"));
    expect(got.text).toBe("-ERR max number of clients reached\r\n");
    a.destroy();
    b.destroy();
    await small.close();
  });

  it("requirepass: nothing but AUTH/HELLO before AUTH", async () => {
    const locked = await startService({ requirepass: "s3cret" });
    const got = await raw(
      locked.port,
      [frame("ALLOC", "10"), frame("PING"), frame("AUTH", "bad"), frame("AUTH", "s3cret"), frame("PING")],
      (t) => t.endsWith("+PONG\r\n"),
    );
    expect(got.text).toBe(
      "-NOAUTH Authentication required.\r\n-NOAUTH Authentication required.\r\n" +
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n+OK\r\n+PONG\r\n",
    );
    const c = new Redis({ port: locked.port, password: "s3cret" });
    expect(await c.ping()).toBe("PONG");
    c.disconnect();
    await locked.close();
  });

  it("freeOnClose frees a connection's allocations when it closes", async () => {
    const f = await startService({ freeOnClose: true });
    const c = new Redis({ port: f.port });
    await c.call("ALLOC", 100000);
    expect(f.caps.size).toBe(1);
    await c.quit();
    await new Promise((res) => setTimeout(res, 100));
    expect(f.caps.size).toBe(0);
    await f.close();
  });
});
