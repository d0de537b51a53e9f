/**
 * reapThread of a thread that detached cleanly, while another worker attaches and claims the slot
 * it left (a worker's exit is heard through watch() whenever the creator's event loop gets to it,
 * so a reap may come late). The slot still names the gone thread until the new worker writes its
 * own id; a reap that looked at it in between took the new worker's live slot for the dead one's
 * and recovered it under it. Exactly nothing may be reaped.
 */
import { describe, expect, it } from "vitest";
import { Mempool } from "../../src/index.js";
import { fixture, start } from "./helpers.js";

describe("reapThread of a detached thread racing a new worker's attach", () => {
  it("never reaps the slot the new worker is claiming", async () => {
    const pool = Mempool.create(4 << 20, { maxWorkers: 2 });
    const once = new SharedArrayBuffer(4);
    const gone = start(fixture("reattach-worker.ts"), { handle: pool.handle, control: once, count: 1 });
    const goneId = gone.worker.threadId;
    expect(await gone.exited).toBe(0);
    const control = new SharedArrayBuffer(4);
    const c = new Int32Array(control);
    const churn = start(fixture("reattach-worker.ts"), { handle: pool.handle, control, count: 6000 });
    let reaped = 0;
    let calls = 0;
    // The main thread is the late exit handler, reaping over and over while the worker attaches.
    while (Atomics.load(c, 0) === 0) {
      reaped += pool.reapThread(goneId);
      calls++;
    }
    expect(await churn.exited).toBe(0);
    expect(calls).toBeGreaterThan(0);
    expect(reaped, "slots reaped for a thread that had detached").toBe(0);
    expect(pool.stats().recoveries).toBe(0);
    pool.check();
  });
});
