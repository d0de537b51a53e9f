import { execFileSync, spawnSync } from "node:child_process";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MnemeClient } from "../../src/service/client.js";
import { requireProgram, type ServerProcess, spawnServer } from "./helpers.js";

const haveCli = requireProgram("redis-cli", "redis-tools");

for (const workers of [0, 2]) {
  describe(`mneme serve process (--workers ${workers})`, () => {
    let srv: ServerProcess;
    beforeAll(async () => {
      srv = await spawnServer(["--workers", String(workers)]);
    });
    afterAll(async () => {
      const code = await srv.stop("SIGTERM");
      expect(code).toBe(0);
      expect(srv.output()).toContain("SIGTERM, stopping");
    });

    it("MnemeClient: alloc/write/read/size/free, pipelining, Uint8Array results", async () => {
      const c = new MnemeClient({ port: srv.port });
      const h = await c.alloc(8192);
      const data = new Uint8Array(8192).map((_, i) => i & 255);
      expect(await c.write(h, 0, data)).toBe(8192);
      const back = await c.read(h, 0, 8192);
      expect(back).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
      expect(await c.size(h)).toBe(8192);
      const results = await c.pipeline((p) =>
        p
          .write(h, 10, new Uint8Array([9, 9]))
          .read(h, 9, 4)
          .read(h, 8190, 2)
          .size(h),
      );
      expect(results[0]).toBe(2);
      expect([...(results[1] as Uint8Array)]).toEqual([9, 9, 9, 12]);
      expect([...(results[2] as Uint8Array)]).toEqual([254, 255]);
      expect(results[3]).toBe(8192);
      const st = await c.stats();
      expect(st.workers).toBe(workers);
      await c.free(h);
      await c.close();
    });

    it("ioredis: ready check, deep pipeline of WRITE/READ keeps order", async () => {
      const r = new Redis({ port: srv.port, enableReadyCheck: true });
      const h = String(await r.call("ALLOC", 4096 * 64));
      const p = r.pipeline();
      for (let i = 0; i < 64; i++) p.callBuffer("WRITE", h, i * 4096, Buffer.alloc(4096, i));
      for (let i = 0; i < 64; i++) p.callBuffer("READ", h, i * 4096, 4096);
      const res = (await p.exec())!;
      for (let i = 0; i < 64; i++) {
        expect(res[i][1]).toBe(4096);
        expect((res[64 + i][1] as Buffer).every((b) => b === i)).toBe(true);
      }
      await r.call("FREE", h);
      r.disconnect();
    });

    it.skipIf(!haveCli)("redis-cli: commands, errors, and --pipe", () => {
      const cli = (...args: string[]) =>
        execFileSync("redis-cli", ["-p", String(srv.port), ...args], { encoding: "utf8" }).trim();
      expect(cli("PING")).toBe("PONG");
      const h = cli("ALLOC", "100");
      expect(cli("WRITE", h, "0", "hello")).toBe("5");
      expect(cli("READ", h, "0", "5")).toBe("hello");
      expect(cli("SIZE", h)).toBe("100");
      expect(cli("nonesuch")).toContain("ERR unknown command 'nonesuch'");
      expect(cli("INFO", "persistence")).toContain("loading:0");
      // interactive-ish: commands on stdin
      const inter = spawnSync("redis-cli", ["-p", String(srv.port)], {
        input: `READ ${h} 0 5\nPING\nECHO hi\n`,
        encoding: "utf8",
      });
      expect(inter.stdout.split("\n").filter(Boolean)).toEqual(["hello", "PONG", "hi"]);
      // --pipe: raw protocol, checked with its ECHO trick
      const lines = [`WRITE ${h} 0 world`, `READ ${h} 0 5`, "PING"].join("\r\n");
      const pipe = spawnSync("redis-cli", ["-p", String(srv.port), "--pipe"], {
        input: `${lines}\r\n`,
        encoding: "utf8",
      });
      expect(pipe.stdout).toContain("errors: 0, replies: 3");
      expect(cli("READ", h, "0", "5")).toBe("world");
      expect(cli("FREE", h)).toBe("OK");
    });
  });
}

describe("mneme serve options", () => {
  it("rejects bad options and --pollers above 1 with a clear message", () => {
    const r = spawnSync(process.execPath, ["dist/cli/main.js", "serve", "--pollers", "2", "--port", "0"], {
      encoding: "utf8",
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/pollers/);
  });
});
