/**
 * examples/service-redis-cli/demo.sh runs against a real `mneme serve` process (dist/:
 * `npm run build` first) on a free port. The script checks every reply itself and exits non-zero
 * at the first unexpected one. Without redis-cli the test is skipped loudly, and fails under
 * CI=true.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireProgram, type ServerProcess, spawnServer } from "../service/helpers.js";
import { root } from "./run-example.js";

const haveCli = requireProgram("redis-cli", "redis-tools");

describe.skipIf(!haveCli)("service-redis-cli example", () => {
  let srv: ServerProcess;
  beforeAll(async () => {
    srv = await spawnServer();
  });
  afterAll(async () => {
    expect(await srv.stop("SIGTERM")).toBe(0);
  });

  it("uses the memory service from redis-cli in a shell script", async () => {
    const { stdout } = await promisify(execFile)(
      "sh",
      ["examples/service-redis-cli/demo.sh", String(srv.port)],
      {
        cwd: root,
        encoding: "utf8",
      },
    );
    expect(stdout).toMatch(/^ok {2}ALLOC 4096: [0-9a-f]+\.[0-9a-f]{32}$/m);
    expect(stdout).toContain("ok  READ binary: 41 00 ff 0d 0a 5a 0a");
    expect(stdout).toContain("ok  READ 1 GiB in: far");
    expect(stdout).toContain("ok  STATS handles: 2");
    expect(stdout).toContain("ok  STATS handles after: 0");
    expect(stdout.trim().split("\n").at(-1)).toBe("done");
    expect(stdout).not.toContain("FAILED");
  });

  it("the script stops with a message when a reply is not the expected one", async () => {
    // Against a server whose default user needs a password, the first command is refused.
    const locked = await spawnServer(["--requirepass", "secret"]);
    try {
      const run = promisify(execFile)("sh", ["examples/service-redis-cli/demo.sh", String(locked.port)], {
        cwd: root,
        encoding: "utf8",
      });
      await expect(run).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining("FAILED: PING") });
    } finally {
      await locked.stop("SIGTERM");
    }
  });
});
