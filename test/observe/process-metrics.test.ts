/**
 * prom-client's process metrics (mneme_process_*) come from one registry per process. Each
 * Metrics made its own with collectDefaultMetrics(), which starts a GC observer and an
 * event-loop-delay monitor that are never stopped: every service a process started (and closed)
 * left both running, one more set per service.
 */
import perfHooks from "node:perf_hooks";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Metrics } from "../../src/observe/metrics.js";
import { startService } from "../service/helpers.js";
import { sample } from "./helpers.js";

describe("process metrics", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("start one event-loop monitor for the process, however many Metrics there are, and are in each scrape", async () => {
    const monitors = vi.spyOn(perfHooks, "monitorEventLoopDelay");
    const svc = await startService();
    try {
      const all = Array.from({ length: 4 }, () => new Metrics(svc));
      expect(monitors.mock.calls.length).toBeLessThanOrEqual(1);
      for (const m of all) {
        const text = await m.text();
        expect(sample(text, "mneme_process_process_start_time_seconds")).toBeGreaterThan(0);
        expect(sample(text, "mneme_pool_bytes", { state: "total" })).toBe(svc.stats().pool.total);
      }
    } finally {
      await svc.close();
    }
  });
});
