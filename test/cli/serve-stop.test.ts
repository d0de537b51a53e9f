/**
 * `mneme serve` stopping on SIGTERM when something cannot be written at the end: a MAP region
 * whose file is /dev/full holds a dirty page that no writeback can store. The exit code was 1
 * with nothing said; now the reason is one line on stderr.
 */
import { mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { spawnServer, tempDir } from "../service/helpers.js";

describe("serve stopping", () => {
  it("a failed stop says why, in one line, and exits 1", async () => {
    const data = tempDir();
    mkdirSync(join(data, "maps"));
    symlinkSync("/dev/full", join(data, "maps", "full"));
    const server = await spawnServer(["--data", data]);
    const r = new Redis({ port: server.port, maxRetriesPerRequest: 0 });
    try {
      const h = String(await r.call("MAP", 4096, "STORE", "file", "full"));
      expect(await r.call("WRITE", h, 0, "lost")).toBe(4);
    } finally {
      r.disconnect();
    }
    expect(await server.stop("SIGTERM")).toBe(1);
    const lines = server
      .output()
      .split("\n")
      .filter((l) => l !== "");
    expect(lines.at(-2)).toBe("mneme: SIGTERM, stopping");
    expect(lines.at(-1)).toMatch(/^mneme: stopping failed: .*ENOSPC/);
  });

  it("a clean stop exits 0 with nothing after 'stopping'", async () => {
    const server = await spawnServer();
    expect(await server.stop("SIGINT")).toBe(0);
    expect(server.output().trimEnd().split("\n").at(-1)).toBe("mneme: SIGINT, stopping");
  });
});
