/**
 * A real redis-server for tests: started on a free loopback port with persistence off, stopped
 * after. Where redis-server is not installed the caller's tests skip with a loud message, except
 * under CI=true, where a missing server is a failure (.ci/run installs it: programs=(redis-server:...)).
 *
 *     const redis = await startRedis();          // undefined (skip) or { url, port, stop }
 *     describe.skipIf(!redis)("...", () => { ... }); afterAll(() => redis?.stop());
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createConnection } from "node:net";
import { Redis } from "ioredis";
import { afterAll } from "vitest";
import { freePort } from "./net.js";

export { freePort };

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
 * Starts redis-server on `port` (persistence off, `extra` arguments after the defaults) and waits
 * until it answers PING; throws if it exits or does not answer within 10 s. For a test that must
 * start a server again on the same port (an outage); others use startRedis().
 */
export async function startRedisOn(port: number, extra: string[] = []): Promise<RedisServer> {
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
  const child = spawn("redis-server", [...args, ...extra, "--loglevel", "warning"], { stdio: "ignore" });
  let exited = false;
  child.on("exit", () => {
    exited = true;
  });
  const server: RedisServer = {
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
  const deadline = Date.now() + 10_000;
  while (!(await ping(port))) {
    if (exited || Date.now() > deadline) {
      await server.stop();
      throw new Error(`redis-server on port ${port} did not start`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return server;
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
    try {
      return await startRedisOn(await freePort());
    } catch {
      // The port was taken between freePort() and the bind, or the server was slow: try another.
    }
  }
  throw new Error("could not start redis-server on a free loopback port after 5 attempts");
}

/**
 * For a test file: startRedis() at its top level and an ioredis client of it, both ended after
 * the file's tests. Both are undefined where redis-server is missing (see startRedis).
 */
export async function redisForTests(): Promise<{
  redis: RedisServer | undefined;
  client: Redis | undefined;
}> {
  const redis = await startRedis();
  const client = redis ? new Redis(redis.url) : undefined;
  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
  });
  return { redis, client };
}

export interface RedisCluster {
  readonly nodes: RedisServer[];
  /** Seed nodes for ioredis's Cluster. */
  readonly seeds: { host: string; port: number }[];
  stop(): Promise<void>;
}

/**
 * A Redis Cluster of `masters` loopback nodes (no replicas) in `dir`, slots spread by
 * `redis-cli --cluster create`; waits for cluster_state:ok. Same skip/fail rules as startRedis().
 */
export async function startRedisCluster(dir: string, masters = 3): Promise<RedisCluster | undefined> {
  if (!redisInstalled()) return startRedis() as Promise<undefined>;
  const nodes: RedisServer[] = [];
  const stop = async () => {
    for (const n of nodes) await n.stop();
  };
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      nodes.push(
        await startRedisOn(port, [
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          `nodes-${port}.conf`,
          "--cluster-node-timeout",
          "5000",
          "--dir",
          dir,
        ]),
      );
    }
    const create = spawnSync(
      "redis-cli",
      [
        "--cluster",
        "create",
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        "--cluster-replicas",
        "0",
        "--cluster-yes",
      ],
      { encoding: "utf8", timeout: 30_000 },
    );
    if (create.status !== 0)
      throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const ok = nodes.every((n) => {
        const info = spawnSync("redis-cli", ["-p", String(n.port), "cluster", "info"], { encoding: "utf8" });
        return info.stdout.includes("cluster_state:ok");
      });
      if (ok) break;
      if (Date.now() > deadline) throw new Error("the cluster did not reach cluster_state:ok");
      await new Promise((r) => setTimeout(r, 100));
    }
    return { nodes, seeds: nodes.map((n) => ({ host: "127.0.0.1", port: n.port })), stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
