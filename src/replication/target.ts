/**
 * `--replicate` targets, parsed once (config validation) and turned into a backend once (start):
 *
 * | target                               | backend                                               |
 * |--------------------------------------|-------------------------------------------------------|
 * | `file`                               | segment files in the data directory                   |
 * | `file:DIR`                           | segment files in DIR                                  |
 * | `redis://HOST:PORT[/NAME]`           | a Redis stream and keys under `mneme:{NAME}:` (NAME defaults to "mneme") |
 * | `redis://HOST:PORT[/NAME]?cluster=1` | the same through an ioredis Cluster (the hash tag keeps every key in one slot) |
 *
 * `redis://[USER]:PASSWORD@HOST:PORT…` logs in as that ACL user (the default user without USER).
 */
import { InvalidArgumentError } from "../errors.js";

export type Target =
  | { kind: "file"; dir: string }
  | {
      kind: "redis";
      host: string;
      port: number;
      name: string;
      cluster: boolean;
      /** A Redis 6+ ACL user (redis://USER:PASSWORD@…), or null for the default user. */
      username: string | null;
      password: string | null;
    };

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export function parseTarget(spec: string, dataDir: string): Target {
  const bad = (why: string) => new InvalidArgumentError("replicate", spec, why);
  if (spec === "file") return { kind: "file", dir: dataDir };
  if (spec.startsWith("file:")) {
    const dir = spec.slice(5);
    if (dir.length === 0) throw bad("file: needs a directory (file:DIR)");
    return { kind: "file", dir };
  }
  if (spec.startsWith("redis://")) {
    let url: URL;
    try {
      url = new URL(spec);
    } catch {
      throw bad("not a valid redis:// URL");
    }
    const port = Number(url.port || "6379");
    if (url.hostname === "" || !Number.isInteger(port) || port < 1 || port > 65535)
      throw bad("expected redis://HOST:PORT");
    const name = url.pathname.replace(/^\//, "") || "mneme";
    if (!NAME.test(name)) throw bad("the name after the port is 1-64 of A-Z a-z 0-9 _ . -");
    for (const k of url.searchParams.keys()) if (k !== "cluster") throw bad(`unknown parameter ${k}`);
    // Another value (cluster=yes) taken silently as "no cluster" would give a single-node client
    // that meets a cluster's MOVED replies, not a clear error at start.
    const cluster = url.searchParams.get("cluster") ?? "0";
    if (!["0", "1", "false", "true"].includes(cluster)) throw bad("cluster= takes 1 or 0");
    const username = url.username === "" ? null : decodeURIComponent(url.username);
    const password = url.password === "" ? null : decodeURIComponent(url.password);
    return {
      kind: "redis",
      // An IPv6 address comes bracketed ([::1]), which no resolver takes.
      host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
      port,
      name,
      cluster: cluster === "1" || cluster === "true",
      username,
      password,
    };
  }
  throw bad("expected file, file:DIR or redis://HOST:PORT");
}

/** The target as INFO shows it (no password). */
export function describeTarget(t: Target): string {
  return t.kind === "file"
    ? `file:${t.dir}`
    : `redis://${t.host.includes(":") ? `[${t.host}]` : t.host}:${t.port}/${t.name}${t.cluster ? "?cluster=1" : ""}`;
}
