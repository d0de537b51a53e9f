import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../src/errors.js";
import { type ArenaMap, OWNER_NONE, RUN_FIELDS, runAt, type Snapshot } from "../../src/observe/feed.js";
import { ObserveServer } from "../../src/observe/http.js";
import { Service } from "../../src/service/server.js";
import { freePort, raw, startService, tempDir } from "../service/helpers.js";
import { startObserved, subscribe } from "./helpers.js";

type Observed = Awaited<ReturnType<typeof startObserved>>;

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

/** The run holding an address of the pool (one segment), as kind name, owner name and bytes. */
function blockAt(map: ArenaMap, address: number) {
  const seg = map.segments[0];
  const r = runAt(seg.runs, Math.floor(address / seg.pageSize));
  const o = r * RUN_FIELDS;
  const owner = seg.runs[o + 4];
  return {
    kind: map.kinds[seg.runs[o + 2]],
    address: seg.runs[o] * seg.pageSize,
    bytes: seg.runs[o + 1] * seg.pageSize,
    owner: owner === OWNER_NONE ? null : owner === -2 ? "several" : map.owners[owner],
  };
}

const addressOf = (handle: string) => Number.parseInt(handle.split(".")[0], 16);

describe("the HTTP side", () => {
  let o: Observed | undefined;
  afterEach(async () => {
    await o?.stop();
    o = undefined;
  });

  it("serves the dashboard's static files, 404 for anything else, 405 for other methods", async () => {
    o = await startObserved();
    const page = await fetch(`${o.base}/`);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain('<canvas id="arena"');
    expect(html).toContain('src="/app.js"');
    for (const f of ["/app.js", "/arena.js", "/chart.js"]) {
      const r = await fetch(`${o.base}${f}`);
      expect(r.status, f).toBe(200);
      expect(r.headers.get("content-type")).toMatch(/^text\/javascript/);
    }
    expect((await fetch(`${o.base}/dashboard.css`)).headers.get("content-type")).toMatch(/^text\/css/);
    expect((await fetch(`${o.base}/nope.js`)).status).toBe(404);
    // Not a path into the file system: only the files listed at start are served.
    const traversal = await raw(
      o.svc.httpPort,
      "GET /../package.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    expect(traversal.text).toMatch(/^HTTP\/1\.1 404/);
    const post = await fetch(`${o.base}/metrics`, { method: "POST", body: "x" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
  });

  it("INFO reports the HTTP port and that it is active", async () => {
    o = await startObserved();
    const info = String(await o.redis.call("INFO", "mneme"));
    expect(info).toContain(`http_port:${o.svc.httpPort}`);
    expect(info).toContain("http_active:1");
  });

  it("/api/map: a block per run covering the arena; ALLOC shows with its owner, FREE takes it away", async () => {
    o = await startObserved({ users: { alice: "pw" } });
    await o.redis.call("AUTH", "alice", "pw");
    const h = String(await o.redis.call("ALLOC", String(1 << 20)));
    const map = await getJson<ArenaMap>(`${o.base}/api/map`);
    const seg = map.segments[0];
    let next = 0;
    for (let i = 0; i < seg.runs.length; i += RUN_FIELDS) {
      expect(seg.runs[i]).toBe(next);
      next += seg.runs[i + 1];
    }
    expect(next).toBe(seg.pageCount);
    expect(blockAt(map, addressOf(h))).toEqual({
      kind: "large",
      address: addressOf(h),
      bytes: 1 << 20,
      owner: "alice",
    });
    await o.redis.call("FREE", h);
    const after = await getJson<ArenaMap>(`${o.base}/api/map`);
    expect(blockAt(after, addressOf(h)).kind).toBe("free");
    expect(after.owners).not.toContain("alice");
  });

  it("a slab shared by two identities says so", async () => {
    o = await startObserved({ users: { bob: "pw" } });
    const a = String(await o.redis.call("ALLOC", "40"));
    await o.redis.call("AUTH", "bob", "pw");
    const b = String(await o.redis.call("ALLOC", "40"));
    // Both come from the first slab of the 40-byte class (one page holds about a hundred).
    expect(Math.floor(addressOf(b) / 4096)).toBe(Math.floor(addressOf(a) / 4096));
    const map = await getJson<ArenaMap>(`${o.base}/api/map`);
    expect(blockAt(map, addressOf(a))).toMatchObject({ kind: "kmalloc", owner: "several" });
    await o.redis.call("FREE", b);
    const after = await getJson<ArenaMap>(`${o.base}/api/map`);
    expect(blockAt(after, addressOf(a))).toMatchObject({ kind: "kmalloc", owner: "default" });
  });

  it("/api/stats: every layer's figures, identities with quotas, clients", async () => {
    o = await startObserved({ quotaBytes: 1 << 22 });
    await o.redis.call("CLIENT", "SETNAME", "dash-test");
    const h = String(await o.redis.call("ALLOC", "5000"));
    const s = await getJson<Snapshot>(`${o.base}/api/stats`);
    expect(s.stats.pool.free).toBe(o.svc.stats().pool.free);
    expect(s.stats.handles).toBe(1);
    expect(s.identities).toEqual([
      expect.objectContaining({ identity: "default", handles: 1, connections: 1, quotaBytes: 1 << 22 }),
    ]);
    expect(s.identities[0].bytes).toBeGreaterThanOrEqual(5000);
    expect(s.clients).toEqual([expect.objectContaining({ identity: "default", name: "dash-test" })]);
    expect(s.http.intervalMs).toBeLessThanOrEqual(1000);
    await o.redis.call("FREE", h);
  });

  it("/events: hello, map and stats at once, stats again every period, a new map after ALLOC, events as they happen", async () => {
    o = await startObserved();
    const sse = await subscribe(`${o.base}/events`);
    try {
      const hello = await sse.next((m) => m.event === "stats");
      expect(sse.seen.map((m) => m.event).slice(0, 3)).toEqual(["hello", "map", "stats"]);
      expect(JSON.parse(sse.seen[0].data).intervalMs).toBe(500);
      const first = JSON.parse(hello.data) as Snapshot;
      // Two more periods: pushed without being asked.
      await sse.next((m) => m.event === "stats");
      const third = JSON.parse((await sse.next((m) => m.event === "stats")).data) as Snapshot;
      expect(third.time).toBeGreaterThan(first.time);
      const h = String(await o.redis.call("ALLOC", String(1 << 20)));
      const map = JSON.parse((await sse.next((m) => m.event === "map")).data) as ArenaMap;
      expect(blockAt(map, addressOf(h)).kind).toBe("large");
      const stats = JSON.parse((await sse.next((m) => m.event === "stats")).data) as Snapshot;
      expect(stats.stats.counters.allocs).toBe(1);
      o.svc.events.emitEvent("throttle", "writer throttled above the high dirty ratio", { dirty: 90 });
      const e = JSON.parse((await sse.next((m) => m.event === "event")).data);
      expect(e).toMatchObject({ kind: "throttle", detail: { dirty: 90 } });
    } finally {
      sse.close();
    }
  });

  it("a late dashboard gets the recent events in its hello", async () => {
    o = await startObserved();
    o.svc.events.emitEvent("recovery", "recovered 3 records", {});
    const sse = await subscribe(`${o.base}/events`);
    try {
      const hello = await sse.next((m) => m.event === "stats");
      expect(JSON.parse(sse.seen[0].data).events).toEqual([expect.objectContaining({ kind: "recovery" })]);
      expect(hello.event).toBe("stats");
    } finally {
      sse.close();
    }
  });
});

describe("HTTP configuration", () => {
  it("is off by default for an embedded Service, and its figures say so", async () => {
    const svc = await startService();
    try {
      expect(svc.observer).toBeNull();
      const r = await raw(svc.port, "INFO mneme\r\n", (t) => t.includes("http_active"));
      expect(r.text).toContain("http_active:0");
    } finally {
      await svc.close();
    }
  });

  it("a taken HTTP port fails listen() with the port's error and releases the RESP port", async () => {
    const blocker = createServer();
    const port = await freePort();
    await new Promise<void>((r) => blocker.listen(port, "127.0.0.1", () => r()));
    const svc = new Service({ port: 0, http: true, httpPort: port, data: tempDir(), memory: 16 << 20 });
    try {
      await expect(svc.listen()).rejects.toThrow(/EADDRINUSE/);
      const again = await raw(svc.port, "PING\r\n", () => true, 500).catch((e: Error) => e);
      expect(again).toBeInstanceOf(Error);
    } finally {
      blocker.close();
      await svc.close();
    }
  });

  it("rejects a bad http or httpPort with a typed error, before anything listens", () => {
    expect(() => new Service({ http: "yes" as unknown as boolean })).toThrow(InvalidArgumentError);
    expect(() => new Service({ http: true, httpPort: 70000 })).toThrow(/httpPort/);
    expect(() => new Service({ http: true, httpPort: -1 })).toThrow(InvalidArgumentError);
  });

  it("rejects an update period outside 50..1000 ms with a typed error", async () => {
    const svc = new Service({ port: 0, data: tempDir(), memory: 16 << 20 });
    expect(() => new ObserveServer(svc, { intervalMs: 5000 })).toThrow(InvalidArgumentError);
    expect(() => new ObserveServer(svc, { intervalMs: 10 })).toThrow(InvalidArgumentError);
    await svc.close();
  });
});
