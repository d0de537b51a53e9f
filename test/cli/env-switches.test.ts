/**
 * serve's help says every option also comes from the environment: that includes the negated
 * switches (--no-http as MNEME_HTTP, --no-replicate-vma as MNEME_REPLICATE_VMA), which were
 * silently ignored. Real `node dist/cli/main.js serve` processes (run `npm run build` first).
 */
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { tempDir } from "../service/helpers.js";
import { cleanEnv, mneme } from "./helpers.js";

/** Starts serve with `env`, waits for its start-up lines (the replication line is the last), stops it. */
function startUpLines(env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        "dist/cli/main.js",
        "serve",
        "--port",
        "0",
        "--http-port",
        "0",
        "--data",
        tempDir(),
        "--memory",
        "16mb",
      ],
      { env: cleanEnv(env), stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    const t = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`serve did not start: ${out}`));
    }, 10_000);
    const onData = (d: Buffer) => {
      out += d;
      if (out.includes("mneme: replicating to")) child.kill("SIGTERM");
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", () => {
      clearTimeout(t);
      resolve(out);
    });
  });
}

describe("negated switches from the environment", () => {
  it("MNEME_HTTP=false turns the dashboard off, MNEME_HTTP=1 leaves it on", async () => {
    const [off, on] = await Promise.all([
      startUpLines({ MNEME_HTTP: "false" }),
      startUpLines({ MNEME_HTTP: "1" }),
    ]);
    expect(off).toContain("serving RESP");
    expect(off).not.toContain("dashboard on");
    expect(on).toContain("dashboard on http://");
  });

  it("a value that is not a switch is a one-line error naming the variable", () => {
    // The bad --memory makes a serve that ignored the variable fail at once instead of running.
    const r = mneme(["serve", "--port", "0", "--memory", "12q", "--data", tempDir()], {
      MNEME_HTTP: "maybe",
    });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe("mneme: $MNEME_HTTP must be true or false");
  });

  it("serve --help names the variables of the negated switches", () => {
    const help = mneme(["serve", "--help"]).stdout.replace(/\s+/g, " ");
    expect(help).toMatch(/--no-http serve neither the dashboard nor \/metrics \(env: MNEME_HTTP\)/);
    expect(help).toMatch(/--no-replicate-vma .*\(env: MNEME_REPLICATE_VMA\)/);
  });
});
