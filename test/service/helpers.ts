import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ServiceConfig } from "../../src/service/config.js";
import { Service } from "../../src/service/server.js";

import { freePort } from "../helpers/net.js";

export { freePort };

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "mneme-svc-"));
}

/** An in-process server on a free loopback port. */
export async function startService(config: Partial<ServiceConfig> = {}): Promise<Service> {
  const svc = new Service({ port: 0, data: tempDir(), memory: 16 * 1024 * 1024, ...config });
  await svc.listen();
  return svc;
}

export interface ServerProcess {
  port: number;
  child: ChildProcess;
  output: () => string;
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/** A real `node dist/cli/main.js serve` process on a free port. */
export async function spawnServer(args: string[] = []): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    // Any free HTTP port, so that servers of parallel tests do not meet on 6390 (args may override).
    [
      "dist/cli/main.js",
      "serve",
      "--port",
      String(port),
      "--http-port",
      "0",
      "--data",
      tempDir(),
      "--memory",
      "32mb",
      ...args,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  child.stdout!.on("data", (d) => {
    out += d;
  });
  child.stderr!.on("data", (d) => {
    out += d;
  });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 15_000);
    const check = () => {
      if (out.includes("serving RESP")) {
        clearTimeout(t);
        resolve();
      }
    };
    child.stdout!.on("data", check);
    child.once("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`server exited ${code}: ${out}`));
    });
  });
  return {
    port,
    child,
    output: () => out,
    stop: (signal = "SIGTERM") =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once("exit", (code) => resolve(code));
        child.kill(signal);
      }),
  };
}

/** Sends raw bytes; resolves with everything received until `done(received)` or the close. */
export function raw(
  port: number,
  payload: string | Buffer | (string | Buffer)[],
  done: (got: string) => boolean = () => false,
  timeoutMs = 5000,
): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1");
    let text = "";
    const t = setTimeout(() => {
      s.destroy();
      resolve({ text, closed: false });
    }, timeoutMs);
    s.on("data", (d) => {
      text += d.toString("latin1");
      if (done(text)) {
        clearTimeout(t);
        s.destroy();
        resolve({ text, closed: false });
      }
    });
    s.on("close", () => {
      clearTimeout(t);
      resolve({ text, closed: true });
    });
    s.on("error", reject);
    const parts = Array.isArray(payload) ? payload : [payload];
    for (const p of parts) s.write(p);
  });
}

/** RESP2 request frame for the given words. */
export function frame(...words: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${words.length}\r\n`)];
  for (const w of words) {
    const b = typeof w === "string" ? Buffer.from(w) : w;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n"));
  }
  return Buffer.concat(parts);
}

export function hasProgram(name: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Whether a test needing `name` should run; loud when skipped, a failure under CI=true. */
export function requireProgram(name: string, pkg: string): boolean {
  if (hasProgram(name)) return true;
  if (process.env.CI === "true") throw new Error(`${name} is missing under CI (install ${pkg})`);
  console.warn(`\n!!! SKIPPING: ${name} not installed (apt-get install -y ${pkg}) !!!\n`);
  return false;
}
