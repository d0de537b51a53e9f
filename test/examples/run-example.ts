/**
 * Runs an example as its own process, the way its README says (`node --import tsx FILE`), with
 * "mneme" mapped to src/ (a tsconfig given to tsx through TSX_TSCONFIG_PATH, which its worker
 * threads inherit), so the tests exercise the sources rather than whatever dist/ holds.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

export const root = new URL("../../", import.meta.url).pathname;

export async function runExample(
  file: string,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<{ stdout: string; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), "mneme-example-"));
  try {
    const tsconfig = join(dir, "tsconfig.json");
    writeFileSync(
      tsconfig,
      JSON.stringify({ compilerOptions: { baseUrl: root, paths: { mneme: ["src/index.ts"] } } }),
    );
    return await promisify(execFile)(process.execPath, ["--import", "tsx", join(root, file), ...args], {
      cwd: root,
      env: { ...process.env, ...env, TSX_TSCONFIG_PATH: tsconfig },
      encoding: "utf8",
      maxBuffer: 16 << 20,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The last stdout line, parsed as JSON (the examples end with a one-line summary). */
export function lastJson<T>(stdout: string): T {
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as T;
}
