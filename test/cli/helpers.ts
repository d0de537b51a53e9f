import { type SpawnSyncReturns, spawn, spawnSync } from "node:child_process";
import { expect } from "vitest";

/** Environment without any MNEME_* variable of the caller, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith("MNEME_") && k !== "NO_COLOR") env[k] = v;
  return { ...env, ...extra };
}

/**
 * Runs `node dist/cli/main.js ...args` to the end (run `npm run build` first). A run still going
 * after `timeoutMs` is killed (`signal` is then set): below the test's own timeout, so that a hang
 * fails as a hang.
 */
export function mneme(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 100_000,
): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ["dist/cli/main.js", ...args], {
    encoding: "utf8",
    env: cleanEnv(env),
    timeout: timeoutMs,
  });
}

/** The same, asynchronously (for commands that talk to a server this process also runs). */
export function mnemeAsync(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["dist/cli/main.js", ...args], { env: cleanEnv(env) });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

/** Runs a shell command line under a pseudo-terminal (util-linux `script`), output as the terminal saw it. */
export function inTerminal(command: string, env: Record<string, string> = {}): string {
  const r = spawnSync("script", ["-qec", command, "/dev/null"], {
    encoding: "utf8",
    env: cleanEnv(env),
    timeout: 120_000,
  });
  return r.stdout;
}

/** ESC, the start of every colour code. */
export const ESC = "\u001b[";

/** A failure: exit code 1, nothing on stdout, exactly one line on stderr starting with "mneme: ". */
export function expectOneLineError(r: ReturnType<typeof mneme>, pattern: RegExp): void {
  expect(r.status, r.stderr).toBe(1);
  expect(r.stdout).toBe("");
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^mneme: /);
  expect(lines[0]).toMatch(pattern);
  expect(lines[0]).not.toContain(ESC);
}
