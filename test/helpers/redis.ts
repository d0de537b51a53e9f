/**
 * A real redis-server for tests: started on a free loopback port with persistence off, stopped
 * after. Where redis-server is not installed the caller's tests skip with a loud message, except
 * under CI=true, where a missing server is a failure (.ci/run installs it: programs=(redis-server:...)).
 *
 *     const redis = await startRedis();          // undefined (skip) or { url, port, stop }
 *     describe.skipIf(!redis)("...", () => { ... }); afterAll(() => redis?.stop());
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createConnection, createServer } from "node:net";

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly process: ChildProcess;
  /** Kills the server and waits for it to exit. */
  stop(): Promise<void>;
}

/** Whether redis-server is on the PATH. */
export function redisInstalled(): boolean {
  return spawnSync("redis-server", ["--version"], { stdio: "ignore" }).status === 0;
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Sends PING and resolves true on +PONG. */
export function ping(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on("error", () => done(false));
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (d) => done(d.toString().startsWith("+PONG")));
  });
}

/**
 * Starts redis-server on a free loopback port and waits until it answers PING. Returns undefined
 * (after a loud warning) when redis-server is missing, unless CI=true, where it throws.
 */
export async function startRedis(): Promise<RedisServer | undefined> {
  if (!redisInstalled()) {
    const message =
      "redis-server is not installed: the Redis tests are SKIPPED (apt-get install redis-server; .ci/run installs it)";
    if (process.env.CI === "true") throw new Error(`${message} — under CI=true this is a failure`);
    console.warn(`\n*** ${message} ***\n`);
    return undefined;
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const child = spawn(
      "redis-server",
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--loglevel",
        "warning",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let exited = false;
    child.on("exit", () => {
      exited = true;
    });
    const deadline = Date.now() + 10_000;
    while (!exited && Date.now() < deadline) {
      if (await ping(port)) {
        return {
          port,
          url: `redis://127.0.0.1:${port}`,
          process: child,
          stop: () =>
            new Promise<void>((resolve) => {
              if (exited) return resolve();
              child.once("exit", () => resolve());
              child.kill("SIGKILL");
            }),
        };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGKILL");
    // The port was taken between freePort() and the bind, or the server was slow: try another.
  }
  throw new Error("could not start redis-server on a free loopback port after 5 attempts");
}
