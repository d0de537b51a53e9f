import { afterEach, describe, expect, it } from "vitest";
import { CommandTimings, LATENCY_BUCKETS, SAMPLE_EVERY } from "../../src/observe/timings.js";
import { sample, startObserved } from "./helpers.js";

type Observed = Awaited<ReturnType<typeof startObserved>>;

async function scrape(base: string): Promise<{ text: string; type: string }> {
  const res = await fetch(`${base}/metrics`);
  expect(res.status).toBe(200);
  return { text: await res.text(), type: res.headers.get("content-type") ?? "" };
}

describe("GET /metrics", () => {
  let o: Observed | undefined;
  afterEach(async () => {
    await o?.stop();
    o = undefined;
  });

  it("is Prometheus text: every sample line parses, every family has HELP and TYPE", async () => {
    o = await startObserved();
    const { text, type } = await scrape(o.base);
    expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = new Set<string>();
    for (const line of text.split("\n")) {
      if (line === "") continue;
      if (line.startsWith("# TYPE ")) families.add(line.split(" ")[2]);
      else if (!line.startsWith("# HELP ")) {
        expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? (?:-?[0-9.e+-]+|NaN|[+-]Inf)$/);
      }
    }
    for (const f of [
      "mneme_pool_bytes",
      "mneme_page_free_blocks",
      "mneme_slab_objects_in_use",
      "mneme_events_total",
    ]) {
      expect(families).toContain(f);
    }
  });

  it("pool, page, slab and service figures follow an ALLOC and a FREE as stats() reports them", async () => {
    o = await startObserved();
    const small = String(await o.redis.call("ALLOC", "100"));
    const large = String(await o.redis.call("ALLOC", String(1 << 20)));
    const s = o.svc.stats();
    const heap = "segments" in s.heap ? s.heap.segments[0] : s.heap;
    const { text } = await scrape(o.base);
    expect(sample(text, "mneme_pool_bytes", { state: "free" })).toBe(s.pool.free);
    expect(sample(text, "mneme_pool_bytes", { state: "used" })).toBe(s.pool.total - s.pool.free);
    expect(sample(text, "mneme_service_allocs_total")).toBe(2);
    expect(sample(text, "mneme_service_handles")).toBe(2);
    heap.pageLayer.freeBlocksPerOrder.forEach((n, order) => {
      expect(sample(text, "mneme_page_free_blocks", { segment: "0", order: String(order) })).toBe(n);
    });
    expect(sample(text, "mneme_page_fragmentation", { segment: "0" })).toBeCloseTo(
      heap.pageLayer.fragmentation,
      10,
    );
    // 1 MiB is 256 pages: an order-8 block among the used ones.
    expect(sample(text, "mneme_page_used_blocks", { order: "8" })).toBeGreaterThanOrEqual(1);
    expect(sample(text, "mneme_heap_large_allocations")).toBe(1);
    expect(sample(text, "mneme_heap_large_bytes")).toBe(1 << 20);
    const cls = heap.caches.find((c) => c.kmalloc && c.inUse === 1);
    expect(cls).toBeDefined();
    expect(sample(text, "mneme_slab_objects_in_use", { cache: cls!.name })).toBe(1);
    expect(sample(text, "mneme_identity_handles", { identity: "default" })).toBe(2);
    await o.redis.call("FREE", small);
    await o.redis.call("FREE", large);
    const after = await scrape(o.base);
    expect(sample(after.text, "mneme_service_frees_total")).toBe(2);
    expect(sample(after.text, "mneme_heap_large_allocations")).toBe(0);
    expect(sample(after.text, "mneme_pool_bytes", { state: "free" })).toBe(o.svc.stats().pool.free);
  });

  it("counts every command and times a sample of them: a histogram per command, +Inf = count", async () => {
    o = await startObserved();
    const h = String(await o.redis.call("ALLOC", "64"));
    for (let i = 0; i < 100; i++) await o.redis.call("WRITE", h, "0", "abcd");
    await o.redis.call("READ", h, "0", "4");
    const { text } = await scrape(o.base);
    expect(sample(text, "mneme_command_calls_total", { command: "write" })).toBe(100);
    expect(sample(text, "mneme_command_calls_total", { command: "read" })).toBe(1);
    expect(sample(text, "mneme_command_calls_total", { command: "alloc" })).toBe(1);
    // One command in SAMPLE_EVERY is timed, counted over all commands (ioredis's own included).
    let calls = 0;
    let timed = 0;
    for (const line of text.split("\n")) {
      if (line.startsWith("mneme_command_calls_total{")) calls += Number(line.split(" ")[1]);
      if (line.startsWith("mneme_command_duration_seconds_count{")) timed += Number(line.split(" ")[1]);
    }
    expect(timed).toBe(Math.floor(calls / SAMPLE_EVERY));
    const writes = sample(text, "mneme_command_duration_seconds_count", { command: "write" })!;
    expect(writes).toBeGreaterThanOrEqual(2);
    let prev = 0;
    for (const le of LATENCY_BUCKETS) {
      const v = sample(text, "mneme_command_duration_seconds_bucket", { command: "write", le: String(le) })!;
      expect(v).toBeGreaterThanOrEqual(prev);
      prev = v;
    }
    expect(sample(text, "mneme_command_duration_seconds_bucket", { command: "write", le: "+Inf" })).toBe(
      writes,
    );
    expect(sample(text, "mneme_command_duration_seconds_sum", { command: "write" })).toBeGreaterThan(0);
  });

  it("CommandTimings: exact calls, one timed in SAMPLE_EVERY, buckets by upper bound", () => {
    const t = new CommandTimings(["a", "b"]);
    let timed = 0;
    for (let i = 0; i < 3 * SAMPLE_EVERY; i++) {
      if (t.begin(i % 2)) {
        timed++;
        t.record(i % 2, 0.0015); // 1.5 µs: the 2.5 µs bucket
      }
    }
    expect(timed).toBe(3);
    const [[, a], [, b]] = t.entries();
    expect(a.calls + b.calls).toBe(3 * SAMPLE_EVERY);
    expect(a.count + b.count).toBe(3);
    const both = a.buckets.map((n, i) => n + b.buckets[i]);
    expect(both[LATENCY_BUCKETS.indexOf(0.0000025)]).toBe(3);
    expect(both.reduce((x, y) => x + y, 0)).toBe(3);
    expect(new CommandTimings(["a"]).entries()).toEqual([]);
  });

  it("page cache: every numeric figure of stats().maps, including ones a layer adds later", async () => {
    o = await startObserved();
    const h = String(await o.redis.call("MAP", String(64 * 1024)));
    await o.redis.call("WRITE", h, "0", "x".repeat(9000));
    let { text } = await scrape(o.base);
    const maps = o.svc.stats().maps;
    expect(maps.resident).toBeGreaterThan(0);
    expect(sample(text, "mneme_pagecache_resident")).toBe(maps.resident);
    expect(sample(text, "mneme_pagecache_dirty")).toBe(maps.dirty);
    expect(sample(text, "mneme_pagecache_faults_total")).toBe(maps.faults);
    // The reclaim layer reports watermarks through the same object: they show up as they appear.
    const real = o.svc.maps.stats.bind(o.svc.maps);
    o.svc.maps.stats = () => ({ ...real(), wmarkLow: 12, oomKills: 3 });
    ({ text } = await scrape(o.base));
    expect(sample(text, "mneme_pagecache_wmark_low")).toBe(12);
    expect(sample(text, "mneme_pagecache_oom_kills_total")).toBe(3);
    expect(text).toContain("# TYPE mneme_pagecache_oom_kills_total counter");
  });

  it("events by kind, replication figures and quotas", async () => {
    o = await startObserved({ quotaHandles: 77 });
    o.svc.events.emitEvent("oom", "killed the grower", { victim: 3 });
    o.svc.events.emitEvent("reclaim", "round", {});
    o.svc.events.emitEvent("reclaim", "round", {});
    const { text } = await scrape(o.base);
    expect(sample(text, "mneme_events_total", { kind: "oom" })).toBe(1);
    expect(sample(text, "mneme_events_total", { kind: "reclaim" })).toBe(2);
    expect(sample(text, "mneme_events_total", { kind: "throttle" })).toBe(0);
    expect(sample(text, "mneme_replication_info", { backend: "off" })).toBe(0);
    expect(sample(text, "mneme_replication_failed")).toBe(0);
    expect(sample(text, "mneme_replication_batch_size")).toBe(32);
    expect(sample(text, "mneme_replication_lag_records")).toBe(0);
    expect(sample(text, "mneme_quota_handles")).toBe(77);
  });
});

describe("timing hook", () => {
  it("costs nothing while HTTP is off: no timings object, commands still run", async () => {
    const { startService } = await import("../service/helpers.js");
    const { raw, frame } = await import("../service/helpers.js");
    const svc = await startService();
    try {
      expect(svc.timings).toBeNull();
      expect(svc.observer).toBeNull();
      const r = await raw(svc.port, frame("PING"), (t) => t.includes("PONG"));
      expect(r.text).toBe("+PONG\r\n");
    } finally {
      await svc.close();
    }
  });
});
