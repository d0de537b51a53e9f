import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { PageAllocator } from "../../src/index.js";
import { freshStats } from "../page/helpers.js";
import type { AttachReply, AttachRequest } from "./fixtures/attach-worker.js";

const boot = new URL("./fixtures/ts-worker.mjs", import.meta.url);
const entry = new URL("./fixtures/attach-worker.ts", import.meta.url).href;

/** Starts the fixture in a real worker thread and resolves with its one reply. */
function runWorker(request: AttachRequest): Promise<AttachReply> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(boot, { workerData: request });
    let reply: AttachReply | undefined;
    worker.once("message", (m: AttachReply) => {
      reply = m;
    });
    worker.once("error", reject);
    worker.once("exit", (code) => {
      if (reply) resolve(reply);
      else reject(new Error(`worker exited with code ${code} without replying`));
    });
  });
}

describe("a shared arena attached in a worker thread", () => {
  const options = { bytes: 256 * 4096 + 4096 * 37, shared: true, maxOrder: 6 };

  it("sees the main thread's allocations, and the main thread sees the worker's", async () => {
    const pages = new PageAllocator(options);
    const ps = 4096;
    const addresses = [
      pages.alloc(3 * ps),
      pages.allocPages(2),
      pages.alloc(ps, 8 * ps),
      ...pages.allocBulk(3),
    ];
    const sizes = [3 * ps, 4 * ps, ps, ps, ps, ps];
    const freed = pages.alloc(2 * ps);
    pages.free(freed);
    const toFree = addresses.pop()!;
    sizes.pop();
    const before = JSON.parse(JSON.stringify(pages.stats()));
    expect(before.hotCapacity).toBeGreaterThan(0);
    // Leaves a page on the hot-page stack: the worker must find that stack in the arena too.
    pages.free(pages.alloc(1));

    expect(pages.arena.buffer).toBeInstanceOf(SharedArrayBuffer);
    const reply = await runWorker({
      entry,
      buffer: pages.arena.buffer as SharedArrayBuffer,
      addresses: [...addresses, toFree],
      freed,
      toFree,
      fill: 0xa5,
    });

    // The worker saw exactly the main thread's state.
    expect(reply.seen).toEqual(before);
    expect(reply.sizes).toEqual([...sizes, ps]);
    expect(reply.doubleFree).toEqual({ name: "DoubleFreeError", code: "EDOUBLEFREE" });

    // The main thread sees the worker's allocations, its free and its writes.
    for (const { address, bytes } of reply.allocated) {
      expect(pages.sizeOf(address)).toBe(bytes);
      expect(address % ps).toBe(0);
      expect(pages.memory.subarray(address, address + bytes).every((b) => b === 0xa5)).toBe(true);
    }
    expect(reply.allocated.map((a) => a.bytes)).toEqual([5 * ps, ps, 8 * ps, ps, ps, ps, ps]);
    expect(reply.allocated[1].address % (16 * ps)).toBe(0);
    expect(() => pages.sizeOf(toFree)).toThrow();
    expect(pages.stats()).toEqual(reply.after);
    const workerBytes = reply.allocated.reduce((sum, a) => sum + a.bytes, 0);
    expect(reply.after.free).toBe(before.free - workerBytes + ps);
    expect(reply.after.allocations).toBe(before.allocations + reply.allocated.length - 1);
    pages.check();

    // Both threads' allocations come back through the main thread's allocator.
    for (const a of addresses) pages.free(a);
    for (const { address } of reply.allocated) pages.free(address);
    pages.check();
    expect(pages.stats()).toEqual(freshStats(options));
  });

  it("a second worker sees what the first one left, through the same buffer", async () => {
    const pages = new PageAllocator(options);
    const buffer = pages.arena.buffer as SharedArrayBuffer;
    const keep = pages.alloc(7 * 4096);
    const freed = pages.allocPages(0);
    pages.free(freed);
    const first = await runWorker({
      entry,
      buffer,
      addresses: [keep],
      freed,
      toFree: pages.allocPages(1),
      fill: 1,
    });

    // The main thread frees one of the first worker's allocations; the second must see that too.
    const gone = first.allocated[0].address;
    pages.free(gone);
    const afterMain = JSON.parse(JSON.stringify(pages.stats()));
    const theirs = first.allocated.slice(2).map((a) => a.address);
    const second = await runWorker({
      entry,
      buffer,
      addresses: [keep, ...theirs],
      freed: gone,
      toFree: first.allocated[1].address,
      fill: 2,
    });
    expect(second.seen).toEqual(afterMain);
    expect(second.sizes).toEqual([7 * 4096, ...first.allocated.slice(2).map((a) => a.bytes)]);
    expect(second.doubleFree.name).toBe("DoubleFreeError");
    expect(pages.stats()).toEqual(second.after);
    pages.check();
  });
});
