/**
 * node-redis (package `redis`, v6) against a real `mneme serve` process (dist: `npm run build`
 * first), in both protocols: RESP2 (`RESP: 2`: no HELLO, AUTH for credentials) and RESP3 (v6's
 * default: HELLO 3, with AUTH inside it), each with READ/WRITE copies inline and in worker
 * threads. node-redis pipelines CLIENT SETINFO after the handshake on every connection, parses
 * CLIENT INFO fields as numbers, and re-runs the handshake when it reconnects; the reconnection case runs through a TCP proxy the test can cut, so the client sees
 * a real dropped connection.
 */
import { readFileSync } from "node:fs";
import { createClient, RESP_TYPES } from "redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { proxy } from "../helpers/net.js";
import { type ServerProcess, spawnServer } from "./helpers.js";

const HANDLE = /^[0-9a-f]+\.[0-9a-f]{32}$/;
const asBuffers = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } } as const;
const version = JSON.parse(
  readFileSync(new URL("../../node_modules/@redis/client/package.json", import.meta.url), "utf8"),
).version as string;

/** Every byte value, CR LF and a NUL among them: a WRITE payload only a binary-safe path keeps. */
const binary = Buffer.concat([
  Buffer.from([13, 10, 0, 36, 42]),
  Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
]);

type Client = ReturnType<typeof createClient>;

// READ and WRITE copies run on the I/O thread (--workers 0) or in worker threads (--workers 2).
for (const workers of [0, 2])
  describe(`node-redis 6 against mneme serve --workers ${workers}`, () => {
    let srv: ServerProcess;
    /** Every client a test made, destroyed at the end should a failed test leave one open. */
    const clients: { isOpen: boolean; destroy(): void }[] = [];

    beforeAll(async () => {
      srv = await spawnServer(["--user", "alice:wonderland", "--workers", String(workers)]);
    });
    afterAll(async () => {
      for (const c of clients) if (c.isOpen) c.destroy();
      expect(await srv.stop("SIGTERM")).toBe(0);
    });

    async function open(options: Parameters<typeof createClient>[0] = {}): Promise<Client> {
      const c = createClient({ socket: { host: "127.0.0.1", port: srv.port }, ...options });
      c.on("error", () => {});
      clients.push(c);
      await c.connect();
      return c;
    }

    for (const RESP of [2, 3] as const) {
      describe(`RESP${RESP}`, () => {
        it("connects: the handshake (HELLO for RESP3), CLIENT SETINFO, PING and CLIENT INFO", async () => {
          const c = await open({ RESP });
          expect(await c.ping()).toBe("PONG");
          expect(await c.ping("binary\r\nsafe")).toBe("binary\r\nsafe");
          const hello = await c.hello();
          expect(hello).toMatchObject({ server: "redis", proto: RESP, mode: "standalone", role: "master" });
          const info = await c.clientInfo();
          // CLIENT SETINFO LIB-NAME / LIB-VER, sent by node-redis itself right after connecting.
          expect(info).toMatchObject({ libName: "node-redis", libVer: version, resp: RESP, user: "default" });
          expect(info.id).toBe(hello.id);
          expect(info.cmd).toBe("client|info");
          // node-redis turns these into numbers; a field the server leaves out would be NaN.
          for (const k of ["fd", "age", "idle", "db", "sub", "psub", "multi"] as const) {
            expect(Number.isInteger(info[k]), k).toBe(true);
          }
          expect(info.laddr).toBe(`127.0.0.1:${srv.port}`);
          const list = await c.clientList();
          expect(list.map((l) => l.id)).toContain(info.id);
          await c.close();
        });

        it("ALLOC, WRITE and READ of binary data (Buffers back), SIZE, FREE, then the handle is dead", async () => {
          const c = await open({ RESP });
          const handle = await c.sendCommand<string>(["ALLOC", "4096"]);
          expect(handle).toMatch(HANDLE);
          expect(await c.sendCommand(["WRITE", handle, "100", binary])).toBe(binary.length);
          const back = await c.sendCommand<Buffer>(["READ", handle, "100", String(binary.length)], asBuffers);
          expect(Buffer.isBuffer(back)).toBe(true);
          expect(back.equals(binary)).toBe(true);
          // The same through a client whose every bulk string is a Buffer.
          const raw = c.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
          const zeros = await raw.sendCommand<Buffer>(["READ", handle, "0", "100"]);
          expect(zeros.equals(Buffer.alloc(100))).toBe(true);
          expect(await c.sendCommand(["SIZE", handle])).toBe(4096);
          expect(await c.sendCommand(["FREE", handle])).toBe("OK");
          await expect(c.sendCommand(["READ", handle, "0", "1"])).rejects.toThrow(/invalid handle/);
          await expect(c.sendCommand(["FREE", handle])).rejects.toThrow(/invalid handle/);
          await c.close();
        });

        it("bad arguments are refused with Redis-style errors and change nothing", async () => {
          const c = await open({ RESP });
          const stats = async () => (await c.sendCommand<unknown>(["STATS"])) as unknown;
          const before = await stats();
          await expect(c.sendCommand(["ALLOC", "0"])).rejects.toThrow(/at least 1 byte/);
          await expect(c.sendCommand(["ALLOC", "lots"])).rejects.toThrow(/not an integer/);
          const h = await c.sendCommand<string>(["ALLOC", "16"]);
          await expect(c.sendCommand(["WRITE", h, "10", Buffer.alloc(7)])).rejects.toThrow(/out of range/);
          expect(
            (await c.sendCommand<Buffer>(["READ", h, "0", "16"], asBuffers)).equals(Buffer.alloc(16)),
          ).toBe(true);
          await c.sendCommand(["FREE", h]);
          const after = (await stats()) as Record<string, number> | (string | number)[];
          const handles = (s: unknown) =>
            Array.isArray(s) ? s[s.indexOf("handles") + 1] : (s as Record<string, number>).handles;
          expect(handles(after)).toBe(handles(before));
          await c.close();
        });

        it("INFO (all and one section) and STATS in the protocol's shape", async () => {
          const c = await open({ RESP });
          const all = await c.info();
          expect(all).toMatch(/^# Server\r\n/);
          expect(all).toMatch(/redis_version:/);
          const memory = await c.info("memory");
          expect(memory).toMatch(/^# Memory\r\n/);
          expect(memory).toMatch(/mem_pool_total:\d+/);
          expect(memory).not.toMatch(/# Server/);
          const stats = await c.sendCommand<unknown>(["STATS"]);
          if (RESP === 3) expect(stats).toMatchObject({ total: expect.any(Number), segments: 1 });
          else {
            expect(Array.isArray(stats)).toBe(true);
            const flat = stats as (string | number)[];
            expect(flat[flat.indexOf("segments") + 1]).toBe(1);
          }
          await c.close();
        });

        it("pipelining: concurrent sendCommand calls and multi().execAsPipeline() keep their order", async () => {
          const c = await open({ RESP });
          const handle = await c.sendCommand<string>(["ALLOC", String(64 * 256)]);
          const writes = await Promise.all(
            Array.from({ length: 64 }, (_, i) =>
              c.sendCommand(["WRITE", handle, String(i * 256), Buffer.alloc(256, i)]),
            ),
          );
          expect(writes).toEqual(Array(64).fill(256));
          const reads = await Promise.all(
            Array.from({ length: 64 }, (_, i) =>
              c.sendCommand<Buffer>(["READ", handle, String(i * 256), "256"], asBuffers),
            ),
          );
          for (const [i, r] of reads.entries()) expect(r.equals(Buffer.alloc(256, i))).toBe(true);
          // node-redis batches a multi() without MULTI/EXEC when asked for a plain pipeline.
          const replies = await c
            .multi()
            .addCommand(["WRITE", handle, "0", "mneme"])
            .addCommand(["READ", handle, "0", "5"])
            .addCommand(["SIZE", handle])
            .addCommand(["FREE", handle])
            .execAsPipeline();
          expect(replies).toEqual([5, "mneme", 64 * 256, "OK"]);
          // An error reply in the batch rejects it (node-redis's pipeline is a Promise.all).
          await expect(
            c.multi().addCommand(["PING"]).addCommand(["SIZE", handle]).execAsPipeline(),
          ).rejects.toThrow(/invalid handle/);
          expect(await c.ping()).toBe("PONG");
          await c.close();
        });

        it("credentials and name: AUTH + CLIENT SETNAME (RESP2) or HELLO 3 AUTH .. SETNAME (RESP3)", async () => {
          const alice = await open({ RESP, username: "alice", password: "wonderland", name: "reporter" });
          expect(await alice.clientInfo()).toMatchObject({ user: "alice", name: "reporter", resp: RESP });
          const h = await alice.sendCommand<string>(["ALLOC", "64"]);
          const other = await open({ RESP });
          await expect(other.sendCommand(["READ", h, "0", "1"])).rejects.toThrow(/invalid handle/);
          await alice.sendCommand(["FREE", h]);
          await expect(
            open({
              RESP,
              username: "alice",
              password: "wrong",
              socket: { host: "127.0.0.1", port: srv.port, reconnectStrategy: false },
            }),
          ).rejects.toThrow(/WRONGPASS/);
          await alice.close();
          await other.close();
        });

        it("reconnects after the connection drops and the identity keeps its blocks", async () => {
          const p = await proxy(srv.port);
          try {
            const c = createClient({
              RESP,
              username: "alice",
              password: "wonderland",
              socket: { host: "127.0.0.1", port: p.port, reconnectStrategy: () => 20 },
            });
            c.on("error", () => {});
            clients.push(c);
            await c.connect();
            const handle = await c.sendCommand<string>(["ALLOC", "4096"]);
            await c.sendCommand(["WRITE", handle, "0", binary]);
            const firstId = (await c.clientInfo()).id;

            const reconnected = new Promise<void>((r) => c.once("ready", () => r()));
            p.cut();
            await reconnected;
            // A new connection (new id), the handshake re-run (identity and protocol back)...
            const info = await c.clientInfo();
            expect(info.id).not.toBe(firstId);
            expect(info).toMatchObject({ user: "alice", resp: RESP, libName: "node-redis" });
            // ...and the block written before the drop still belongs to alice.
            const back = await c.sendCommand<Buffer>(["READ", handle, "0", String(binary.length)], asBuffers);
            expect(back.equals(binary)).toBe(true);
            expect(await c.sendCommand(["FREE", handle])).toBe("OK");
            await c.close();
          } finally {
            p.cut();
            await p.close();
          }
        });
      });
    }
  });
