/**
 * redis-cli (Debian redis-tools) against a real `mneme serve` process: logging in as an ACL
 * user, RESP3 (-3), binary data from stdin (-x), --pipe (which checks ECHO's bytes), and the
 * error exit of a refused command. Skipped loudly without redis-cli, a failure under CI=true.
 */
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasProgram, requireProgram, type ServerProcess, spawnServer } from "./helpers.js";

const haveCli = requireProgram("redis-cli", "redis-tools");
const run = promisify(execFile);

describe.skipIf(!haveCli)("redis-cli against mneme serve", () => {
  let server: ServerProcess;
  const cli = (args: string[], input?: string) => {
    const child = run("redis-cli", ["-p", String(server.port), "--no-auth-warning", ...args], {
      encoding: "utf8",
      timeout: 30_000,
    });
    if (input !== undefined) {
      child.child.stdin?.end(input);
    }
    return child;
  };

  beforeAll(async () => {
    server = await spawnServer(["--requirepass", "s3cret", "--user", "alice:pw1"]);
  });

  afterAll(async () => {
    expect(await server.stop("SIGTERM")).toBe(0);
  });

  it("as an ACL user: ALLOC, WRITE from stdin (-x), READ, SIZE, FREE; another identity cannot see the handle", async () => {
    const as = ["--user", "alice", "--pass", "pw1"];
    const h = (await cli([...as, "ALLOC", "9"])).stdout.trim();
    expect(h).toMatch(/^[0-9a-f]+\.[0-9a-f]{32}$/);
    // -x: the last argument is stdin, bytes as they are (here with a newline and a NUL).
    expect((await cli([...as, "-x", "WRITE", h, "0"], "a\nb\u0000c")).stdout).toBe("5\n");
    expect((await cli([...as, "--raw", "READ", h, "0", "5"])).stdout).toBe("a\nb\u0000c\n");
    expect((await cli([...as, "SIZE", h])).stdout).toBe("9\n");
    const other = await cli(["-a", "s3cret", "READ", h, "0", "1"]);
    expect(other.stdout).toMatch(/^ERR invalid handle \(unknown, freed, or held by another identity\)\n/);
    expect((await cli([...as, "FREE", h])).stdout).toBe("OK\n");
  });

  it("without a password every command is NOAUTH; with a wrong one, WRONGPASS", async () => {
    expect((await cli(["ALLOC", "1"])).stdout).toMatch(/^NOAUTH Authentication required\./);
    const wrong = await cli(["--user", "alice", "--pass", "nope", "PING"]);
    expect(wrong.stdout + wrong.stderr).toMatch(/WRONGPASS/);
  });

  it("-3 (RESP3): HELLO 3 on connect, STATS and CONFIG GET as maps, INFO as text", async () => {
    const as = ["-3", "-a", "s3cret", "--no-raw"];
    const stats = (await cli([...as, "STATS"])).stdout;
    expect(stats).toMatch(/^ 1# "total" => \(integer\) \d+\n 2# "free" => \(integer\) \d+\n/);
    expect((await cli([...as, "CONFIG", "GET", "maxclients"])).stdout).toBe('1# "maxclients" => "10000"\n');
    expect((await cli([...as, "INFO", "server"])).stdout).toMatch(/# Server\r?\nredis_version:7\.0\.0/);
    expect((await cli([...as, "CLIENT", "INFO"])).stdout).toMatch(/resp=3 /);
  });

  it("--pipe: a mass of commands, errors counted, ECHO's bytes checked", async () => {
    const lines = ["AUTH s3cret"];
    for (let i = 0; i < 500; i++) lines.push(i % 50 === 0 ? "ALLOC 0" : `ALLOC ${i + 1}`);
    // redis-cli --pipe exits 1 when any reply was an error.
    const out = await cli(["--pipe"], `${lines.join("\r\n")}\r\n`).catch(
      (e: { code: number; stdout: string }) => e,
    );
    expect("code" in out && out.code).toBe(1);
    expect(out.stdout).toMatch(/errors: 10, replies: 501/);
  });

  it.skipIf(!hasProgram("stdbuf"))(
    "--stat: every column a number (INFO has the fields it reads)",
    async () => {
      // stdbuf: redis-cli --stat never ends and writes through stdio, which holds a pipe's lines.
      const child = spawn(
        "stdbuf",
        ["-oL", "redis-cli", "-p", String(server.port), "--no-auth-warning"].concat([
          "-a",
          "s3cret",
          "--stat",
          "-i",
          "0.1",
        ]),
      );
      let out = "";
      await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (d) => {
          out += d;
          if (out.split("\n").length > 4) resolve();
        });
        child.once("error", reject);
        child.once("exit", () => resolve());
      });
      child.kill();
      const row = out.split("\n")[2];
      // keys, mem, clients, blocked (a missing blocked_clients read as -9223372036854775808), requests, connections
      expect(row).toMatch(/^0\s+[\d.]+[KMG]?\s+\d+\s+0\s+\d+ \(\+\d+\)\s+\d+\s*$/);
    },
  );
});
