/**
 * A heap in a shared arena, attached from a real worker thread (Heap.attach): all allocator state
 * lives in the buffer (DESIGN.md principle 2), so the worker sees the main thread's objects,
 * caches and vmalloc areas, and the main thread sees the worker's. The threads take turns; this
 * is about shared state, not about concurrent access.
 */
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { DoubleFreeError, Heap, InvalidArgumentError, PageAllocator } from "../../src/index.js";
import type { HeapAttachReply, HeapAttachRequest } from "./fixtures/heap-worker.js";
import { slot, thrown } from "./helpers.js";

const boot = new URL("./fixtures/ts-worker.mjs", import.meta.url);
const entry = new URL("./fixtures/heap-worker.ts", import.meta.url).href;
const PS = 4096;

/** Starts the fixture in a real worker thread and resolves with its one reply. */
function runWorker(request: HeapAttachRequest): Promise<HeapAttachReply> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(boot, { workerData: request });
    let reply: HeapAttachReply | undefined;
    worker.once("message", (m: HeapAttachReply) => {
      reply = m;
    });
    worker.once("error", reject);
    worker.once("exit", (code) => {
      if (reply) resolve(reply);
      else reject(new Error(`worker exited with code ${code} without replying`));
    });
  });
}

describe("Heap.attach from a worker thread", () => {
  it("shares objects, caches and vmalloc areas both ways", async () => {
    const options = { bytes: 2 << 20, pageSize: PS, shared: true };
    const heap = new Heap(options);
    const fresh = heap.stats();
    const buffer = heap.pages.arena.buffer;
    expect(buffer).toBeInstanceOf(SharedArrayBuffer);

    const fill = 0xa7;
    const cache = heap.createCache("main-objects", 117);
    const objects = [cache.alloc(), cache.alloc(), cache.alloc()];
    const small = heap.malloc(100);
    const large = heap.malloc(5 * PS);
    for (const a of objects) heap.memory.fill(fill, a, a + 117);
    heap.memory.fill(fill, small, small + heap.usableSize(small));
    heap.memory.fill(fill, large, large + 5 * PS);
    const areaBytes = 3 * PS + 5;
    const area = heap.vmalloc(areaBytes);
    heap.vwrite(area, new Uint8Array(areaBytes).fill(fill));
    const before = JSON.parse(JSON.stringify(heap.stats()));

    const mine = 0x5b;
    const reply = await runWorker({
      entry,
      buffer: buffer as SharedArrayBuffer,
      objects,
      small,
      large,
      area,
      areaBytes,
      cacheName: "main-objects",
      fill,
      mine,
    });

    // The worker saw exactly the main thread's heap: figures, the cache by name, sizes, bytes.
    expect(reply.seen).toEqual(before);
    expect(reply.seen.caches.map((c) => c.name)).toContain("main-objects");
    expect(reply.seen.caches.find((c) => c.name === "main-objects")).toMatchObject({
      inUse: 3,
      objectSize: 117,
    });
    expect(reply.sizes).toEqual({ objects: [117, 117, 117], small: slot(100), large: 5 * PS });
    expect(reply.contents).toEqual({ objects: [true, true, true], small: true, large: true, area: true });
    expect(reply.doubleFree).toEqual({ name: "DoubleFreeError", code: "EDOUBLEFREE" });

    // The main thread sees the worker's allocations, its cache, its writes and its free.
    const got = reply.allocated;
    expect(heap.usableSize(got.small)).toBe(slot(200));
    expect(heap.usableSize(got.large)).toBe(5 * PS);
    expect(heap.usableSize(got.object)).toBe(48);
    expect(heap.memory.subarray(got.small, got.small + 200).every((b) => b === mine)).toBe(true);
    expect(heap.memory.subarray(got.large, got.large + 20_000).every((b) => b === mine)).toBe(true);
    expect(heap.memory.subarray(got.object, got.object + 48).every((b) => b === mine)).toBe(true);
    expect(heap.vread(got.area, got.areaBytes).every((b) => b === mine)).toBe(true);
    const now = heap.stats();
    expect(now).toEqual(reply.after);
    expect(now.caches.find((c) => c.name === "worker-objects")).toMatchObject({ inUse: 1, objectSize: 48 });
    expect(now.caches.find((c) => c.name === "main-objects")?.inUse).toBe(2);
    expect(now.vmalloc.areas).toBe(2);
    thrown(DoubleFreeError, () => heap.free(objects[0]));
    thrown(DoubleFreeError, () => cache.free(objects[0]));
    heap.check();

    // Everything comes back through the main thread's heap, the worker's allocations included.
    for (const a of [objects[1], objects[2], small, large, got.small, got.large, got.object]) heap.free(a);
    heap.vfree(area);
    heap.vfree(got.area);
    heap.shrink();
    heap.check();
    const end = heap.stats();
    expect(end.objects).toBe(0);
    expect(end.footprint).toBe(fresh.footprint);
    expect(end.free).toBe(fresh.free);
  });

  it("a second attach sees what the first worker left", async () => {
    const heap = new Heap({ bytes: 2 << 20, pageSize: PS, shared: true });
    const buffer = heap.pages.arena.buffer as SharedArrayBuffer;
    const cache = heap.createCache("main-objects", 117);
    const objects = [cache.alloc(), cache.alloc()];
    const small = heap.malloc(64);
    const large = heap.malloc(3 * PS);
    const area = heap.vmalloc(10);
    const request = { entry, buffer, small, large, area, areaBytes: 10, cacheName: "main-objects", fill: 0 };
    for (const a of [...objects, small, large]) heap.memory.fill(0, a, a + heap.usableSize(a));
    heap.vwrite(area, new Uint8Array(10));
    const first = await runWorker({ ...request, objects, mine: 1 });
    // The second worker gets the first worker's objects to look at (and frees one of them).
    const second = await runWorker({
      ...request,
      objects: [first.allocated.small, objects[1]],
      small: first.allocated.object,
      large: first.allocated.large,
      area: first.allocated.area,
      areaBytes: first.allocated.areaBytes,
      fill: 1,
      mine: 2,
    });
    expect(second.seen).toEqual(first.after);
    // What the first worker wrote (objects[1] is the main thread's, filled with 0, not 1).
    expect(second.contents).toEqual({ objects: [true, false], small: true, large: true, area: true });
    expect(second.sizes).toEqual({ objects: [slot(200), 117], small: 48, large: 5 * PS });
    // Both workers created a cache called "worker-objects": names need not be unique.
    expect(heap.stats().caches.filter((c) => c.name === "worker-objects")).toHaveLength(2);
    expect(heap.stats()).toEqual(second.after);
    heap.check();
  });

  it("refuses a buffer that holds no heap", () => {
    const heap = new Heap({ bytes: 1 << 20, shared: true });
    thrown(InvalidArgumentError, () => Heap.attach(new SharedArrayBuffer(1 << 20)));
    // A page allocator's arena: a valid arena, but no heap root in it.
    const bare = new PageAllocator({ bytes: 1 << 20, shared: true }).arena.buffer;
    expect(thrown(InvalidArgumentError, () => Heap.attach(bare)).message).toContain("no heap");
    // The heap's own buffer attaches fine, also as a plain copy.
    expect(Heap.attach(heap.pages.arena.buffer).stats()).toEqual(heap.stats());
  });
});
