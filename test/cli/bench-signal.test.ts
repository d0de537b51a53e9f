/**
 * `mneme bench` runs each benchmark in a child process; a SIGTERM to mneme (a CI timeout, `kill`)
 * must stop that child too, not leave it running as an orphan. Starts `bench page --quick` and
 * stops it within about a second of the child's first line (run `npm run build` first).
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { cleanEnv } from "./helpers.js";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("mneme bench and signals", () => {
  it("SIGTERM stops the benchmark's process too, with a one-line error and exit 1", async () => {
    const mneme = spawn(process.execPath, ["dist/cli/main.js", "bench", "page", "--quick", "--runs", "5"], {
      env: cleanEnv(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    mneme.stderr.on("data", (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((resolve) => mneme.on("exit", (code) => resolve(code)));
    let children: number[] = [];
    try {
      // The child's first progress line comes through mneme's stderr.
      for (let i = 0; i < 200 && !stderr.includes("page:"); i++) await sleep(25);
      expect(stderr).toContain("page:");
      children = readFileSync(`/proc/${mneme.pid}/task/${mneme.pid}/children`, "utf8")
        .trim()
        .split(/\s+/)
        .filter((p) => p !== "")
        .map(Number);
      expect(children.length).toBeGreaterThan(0);
      mneme.kill("SIGTERM");
      expect(await exited).toBe(1);
      expect(stderr.trim().split("\n").at(-1)).toBe("mneme: bench stopped by SIGTERM");
      for (let i = 0; i < 100 && children.some(alive); i++) await sleep(20);
      expect(children.filter(alive)).toEqual([]);
    } finally {
      // Without the fix the benchmark runs on: end it here so the test leaves nothing behind.
      for (const pid of children) if (alive(pid)) process.kill(pid, "SIGKILL");
      mneme.kill("SIGKILL");
    }
  });
});
