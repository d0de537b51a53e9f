/**
 * The HTTP side of a real `mneme serve` process (--requirepass and an ACL user): the dashboard's
 * files, /metrics, /api/stats, /api/map and /events as a browser or Prometheus sees them, and
 * that none of them shows a handle's secret part (the capability a client holds).
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServerProcess, spawnServer } from "../service/helpers.js";
import { sample } from "./helpers.js";

let server: ServerProcess;
let base: string;
let alice: Redis;
let handle: string;

beforeAll(async () => {
  server = await spawnServer(["--requirepass", "s3cret", "--user", "alice:pw1"]);
  // The dashboard's line may arrive after the one spawnServer waits for.
  const dashboard = /dashboard on http:\/\/127\.0\.0\.1:(\d+)\//;
  for (let i = 0; i < 600 && !dashboard.test(server.output()); i++)
    await new Promise((r) => setTimeout(r, 25));
  const port = dashboard.exec(server.output())?.[1];
  expect(port, server.output()).toBeDefined();
  base = `http://127.0.0.1:${port}`;
  alice = new Redis({ port: server.port, username: "alice", password: "pw1", maxRetriesPerRequest: 0 });
  handle = String(await alice.call("ALLOC", 5000));
  await alice.call("WRITE", handle, 4999, "x");
  await alice.call("READ", handle, 0, 10);
});

afterAll(async () => {
  alice.disconnect();
  await server.stop();
});

describe("the HTTP side of mneme serve", () => {
  it("serves the dashboard's files; 404 for anything else; 405 for other methods; HEAD without a body", async () => {
    const index = await fetch(`${base}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await index.text()).toMatch(/<html/i);
    for (const path of ["/nope", "/..%2fpackage.json", "/static/../package.json", "/api"]) {
      expect((await fetch(`${base}${path}`)).status, path).toBe(404);
    }
    const post = await fetch(`${base}/metrics`, { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    const head = await fetch(`${base}/metrics`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
  });

  it("/metrics follows the commands of an identity that logged in with a password", async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(sample(text, "mneme_identity_handles", { identity: "alice" })).toBe(1);
    expect(sample(text, "mneme_identity_bytes", { identity: "alice" })).toBeGreaterThanOrEqual(5000);
    expect(sample(text, "mneme_service_allocs_total")).toBeGreaterThanOrEqual(1);
    expect(sample(text, "mneme_service_written_bytes_total")).toBeGreaterThanOrEqual(1);
    expect(sample(text, "mneme_command_calls_total", { command: "alloc" })).toBeGreaterThanOrEqual(1);
    expect(sample(text, "mneme_command_calls_total", { command: "read" })).toBeGreaterThanOrEqual(1);
  });

  it("/api/stats and /api/map are JSON with alice's block and its owner", async () => {
    const stats = await (await fetch(`${base}/api/stats`)).json();
    expect(JSON.stringify(stats)).toContain('"alice"');
    const map = await fetch(`${base}/api/map`);
    expect(map.headers.get("content-type")).toBe("application/json");
    expect(JSON.stringify(await map.json())).toContain("alice");
  });

  it("no endpoint shows a handle's random part (nor the passwords)", async () => {
    const secret = handle.split(".")[1];
    const texts = await Promise.all(
      ["/metrics", "/api/stats", "/api/map"].map(async (p) => (await fetch(`${base}${p}`)).text()),
    );
    const events = new AbortController();
    const stream = await fetch(`${base}/events`, { signal: events.signal });
    const reader = stream.body!.getReader();
    let got = "";
    while (!got.includes("event: stats")) got += new TextDecoder().decode((await reader.read()).value);
    events.abort();
    for (const t of [...texts, got]) {
      expect(t).not.toContain(secret);
      expect(t).not.toContain("s3cret");
      expect(t).not.toContain("pw1");
    }
    expect(got).toMatch(/^retry: 1000\n\nevent: hello\n/);
  });
});
