/**
 * The pool's semantics (Netmcore_mempool's, plus the heap), as a suite that the single- and the
 * multi-segment test files both run: attach through workerData and through postMessage, the same
 * blocks and state on both sides, page rounding, views, sizes, out-of-pool errors, stats with
 * per-worker figures, debugInfo by worker, blocks and objects freed by the other thread, typed
 * errors from a worker, and bad input refused with nothing changed.
 */
import { describe, expect, it } from "vitest";
import {
  DoubleFreeError,
  InvalidAddressError,
  InvalidArgumentError,
  Mempool,
  type MempoolOptions,
  MnemeError,
  OutOfMemoryError,
  OutOfPoolMemoryError,
  PoolClosedError,
  reviveError,
} from "../../src/index.js";
import type { AttachReply, AttachRequest } from "./fixtures/attach-worker.js";
import { expectCleanFailure, fixture, start } from "./helpers.js";

const PS = 4096;

/** Everything but the worker's own figures, which depend on its caches. */
function seenFigures(pool: Mempool) {
  const st = pool.stats();
  return { total: st.total, free: st.free, contiguous: st.contiguous };
}

export function semanticsSuite(label: string, bytes: number, options?: MempoolOptions): void {
  describe(`${label}: create, attach and share`, () => {
    for (const via of ["workerData", "postMessage"] as const) {
      it(`a worker attached via ${via} sees and changes the same blocks, heap and caches`, async () => {
        const pool = Mempool.create(bytes, options);
        const fresh = pool.stats();
        const fill = 0xa5;
        const block = pool.alloc(2 * PS + 100);
        pool.view(block, 2 * PS + 100).fill(fill);
        const toFree = pool.alloc(PS);
        const cache = pool.heap.createCache("main-cache", 64);
        const objects = [pool.heap.malloc(64), pool.heap.malloc(64), cache.alloc(), cache.alloc()];
        for (const a of objects) pool.view(a, 64).fill(fill);
        // Last: a freed page stays free only until the next allocation that needs one.
        const freed = pool.alloc(PS);
        pool.free(freed);
        const req: AttachRequest = {
          handle: pool.handle,
          block,
          bytes: 2 * PS + 100,
          fill,
          objects,
          objectBytes: 64,
          toFree,
          freed,
          mine: 0x3b,
        };
        const before = seenFigures(pool);
        const w =
          via === "workerData"
            ? start<AttachReply | "closed">(fixture("attach-worker.ts"), req, pool)
            : start<AttachReply | "closed">(fixture("attach-worker.ts"), {}, pool);
        if (via === "postMessage") w.worker.postMessage(req);
        const reply = (await w.next()) as AttachReply;

        // The worker saw the main thread's pool exactly: figures, bytes, sizes.
        expect(reply.seen).toEqual(before);
        expect(reply.blockIntact).toBe(true);
        expect(reply.blockSize).toBe(3 * PS);
        expect(reply.objectsIntact).toBe(true);

        // The main thread sees the worker's blocks, view, objects and cache, written by it.
        expect(reply.blocks.map((b) => b.size)).toEqual([4 * PS, PS]);
        for (const b of reply.blocks) {
          expect(b.address % PS).toBe(0);
          expect(pool.size(b.address)).toBe(b.size);
          expect(pool.view(b.address, b.bytes).every((x) => x === 0x3b)).toBe(true);
        }
        expect(reply.viewBlock).toMatchObject({ bytes: 5000, size: 2 * PS, shared: true });
        expect(pool.view(reply.viewBlock.address, 5000).every((x) => x === 0x3b)).toBe(true);
        for (const [i, a] of reply.objects.entries()) {
          const n = [10, 300, 3000, 20000][i];
          expect(pool.heap.usableSize(a)).toBeGreaterThanOrEqual(n);
          expect(pool.view(a, n).every((x) => x === 0x3b)).toBe(true);
        }
        expect(reply.cacheName).toBe("worker-cache");
        const caches = pool.segments[0].heap.stats().caches;
        expect(caches.find((c) => c.name === "worker-cache")).toMatchObject({ inUse: 3, objectSize: 40 });
        expect(caches.find((c) => c.name === "main-cache")).toMatchObject({ inUse: 0 });
        for (const a of reply.cacheObjects) expect(pool.view(a, 40).every((x) => x === 0x3b)).toBe(true);

        // The worker freed the main thread's block and objects: they are free here too.
        expect(() => pool.free(toFree)).toThrow(DoubleFreeError);
        expect(() => pool.heap.free(objects[0])).toThrow(InvalidAddressError);

        // Its errors crossed the thread boundary as the same typed errors.
        const e = Object.fromEntries(Object.entries(reply.errors).map(([k, v]) => [k, reviveError(v)]));
        expect(e.doubleFree).toBeInstanceOf(DoubleFreeError);
        expect(e.doubleFree).toMatchObject({ code: "EDOUBLEFREE", address: freed });
        expect(e.outOfPool).toBeInstanceOf(OutOfPoolMemoryError);
        expect(e.outOfPool).toBeInstanceOf(OutOfMemoryError);
        expect(e.outOfPool).toMatchObject({ code: "ENOMEM", requested: fresh.total });
        expect((e.outOfPool as OutOfMemoryError).largestFree).toBeLessThan(fresh.total);
        expect(e.badSize).toBeInstanceOf(InvalidArgumentError);
        expect(e.foreign).toBeInstanceOf(InvalidAddressError);
        expect(e.badHandle).toBeInstanceOf(InvalidArgumentError);
        for (const x of Object.values(e)) {
          expect(x).toBeInstanceOf(MnemeError);
          expect((x as Error).message).toBe(
            (reply.errors[Object.keys(e).find((k) => e[k] === x)!] as { message: string }).message,
          );
        }

        // Per-worker figures and the dump: who allocated what, with sizes.
        const me = reply.stats.workers.find((f) => f.threadId === reply.threadId);
        expect(me).toMatchObject({ state: "alive", allocations: 3, bytes: 7 * PS });
        const fromMain = pool.stats().workers.find((f) => f.threadId === reply.threadId);
        expect(fromMain).toMatchObject({ state: "alive", allocations: 3, bytes: 7 * PS });
        expect(pool.stats().workers.find((f) => f.threadId === 0)).toMatchObject({
          allocations: 1,
          bytes: 3 * PS,
        });
        for (const dump of [reply.debug, pool.debugInfo()]) {
          const line = dump.split("\n").filter((l) => l.includes(`(thread ${reply.threadId}, alive)`));
          const text = line.join("\n");
          expect(text).toContain(`${reply.blocks[0].address} (16 KiB)`);
          expect(text).toContain(`${reply.blocks[1].address} (4 KiB)`);
          expect(text).toContain(`${reply.viewBlock.address} (8 KiB)`);
          expect(dump).toMatch(new RegExp(`\\(thread 0, alive\\): 1 block\\(s\\): ${block} \\(12 KiB\\)`));
        }

        // The main thread frees what the worker allocated; the worker detaches.
        for (const b of reply.blocks) pool.free(b.address);
        pool.free(pool.view(reply.viewBlock.address, 5000));
        for (const a of [...reply.objects, ...reply.cacheObjects]) pool.heap.free(a);
        pool.free(block);
        for (const a of objects.slice(2)) expect(() => cache.free(a)).toThrow(DoubleFreeError);
        w.worker.postMessage("close");
        expect(await w.next()).toBe("closed");
        await w.exited;
        pool.check();
        pool.heap.shrink();
        expect(pool.stats().free).toBe(fresh.free);
        expect(pool.stats().workers.map((f) => f.threadId)).toEqual([0]);
      });
    }
  });

  describe(`${label}: alloc, views, sizes, stats`, () => {
    it("rounds up to whole pages, returns page-aligned blocks and views on the shared buffer", () => {
      const pool = Mempool.create(bytes, options);
      const fresh = pool.stats();
      expect(pool.pageSize).toBe(PS);
      for (const [n, size] of [
        [1, PS],
        [PS - 1, PS],
        [PS, PS],
        [PS + 1, 2 * PS],
        [5 * PS + 3, 6 * PS],
      ]) {
        const a = pool.alloc(n);
        expect(a % PS).toBe(0);
        expect(pool.size(a)).toBe(size);
        pool.free(a);
      }
      const v = pool.allocView(10_000);
      expect(v).toBeInstanceOf(Uint8Array);
      expect(v.length).toBe(10_000);
      expect(v.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(pool.handle.buffers).toContain(v.buffer);
      expect(pool.size(v)).toBe(3 * PS);
      v.fill(7);
      const a = pool.segments.findIndex((s) => s.pages.arena.buffer === v.buffer) * 2 ** 32 + v.byteOffset;
      expect(pool.size(a)).toBe(3 * PS);
      expect(pool.view(a, 3).every((x) => x === 7)).toBe(true);
      expect(fresh.total - fresh.free).toBeGreaterThan(0); // the roots
      expect(pool.stats().free).toBeLessThanOrEqual(fresh.free - 3 * PS);
      pool.free(v);
      expect(() => pool.free(a)).toThrow(DoubleFreeError);
      pool.check();
      expect(pool.stats().free).toBe(fresh.free);
    });

    it("stats() gives total, free and contiguous, plus per-worker figures", () => {
      const pool = Mempool.create(bytes, options);
      const st = pool.stats();
      expect(st.total).toBeGreaterThan(0);
      expect(st.total % PS).toBe(0);
      expect(st.free).toBeLessThanOrEqual(st.total);
      expect(st.contiguous).toBeLessThanOrEqual(st.free);
      expect(st.segments).toBe(pool.segments.length);
      expect(st.workers).toEqual([
        { slot: 1, threadId: 0, state: "alive", allocations: 0, bytes: 0, cachedPages: 0 },
      ]);
      const a = pool.alloc(3 * PS);
      expect(pool.stats()).toMatchObject({ free: st.free - 3 * PS });
      expect(pool.stats().workers[0]).toMatchObject({ allocations: 1, bytes: 3 * PS });
      pool.free(a);
      expect(pool.stats().workers[0]).toMatchObject({ allocations: 0, bytes: 0 });
    });

    it("debugInfo() lists every block with its size, however many a worker holds", () => {
      const pool = Mempool.create(bytes, options);
      const blocks = Array.from({ length: 100 }, (_, i) => pool.alloc(((i % 3) + 1) * PS));
      // One line per segment the thread has blocks in: "… (thread 0, alive): N block(s): a (s), …".
      const listed = pool
        .debugInfo()
        .split("\n")
        .filter((l) => l.includes("(thread 0, alive)") && l.includes("block(s): "))
        .flatMap((l) => l.slice(l.indexOf("block(s): ") + 10).split(", "));
      const expected = blocks.map((a, i) => `${a} (${((i % 3) + 1) * 4} KiB)`);
      expect(listed.sort()).toEqual(expected.sort());
      for (const a of blocks) pool.free(a);
    });

    it("counts single pages exactly, whichever path (hot stack or lock) allocated and freed them", () => {
      const pool = Mempool.create(bytes, options);
      const free0 = pool.stats().free;
      // The first page refills the empty hot stack under the lock; the next ones pop it, and the
      // frees push onto it until it is full and the rest take the lock.
      const pages = Array.from({ length: 200 }, () => pool.alloc(PS));
      expect(new Set(pages).size).toBe(200);
      expect(pool.stats().workers[0]).toMatchObject({ allocations: 200, bytes: 200 * PS });
      expect(pool.stats().free).toBe(free0 - 200 * PS);
      for (const a of pages.slice(0, 150)) pool.free(a);
      expect(pool.stats().workers[0]).toMatchObject({ allocations: 50, bytes: 50 * PS });
      expect(() => pool.free(pages[0])).toThrow(DoubleFreeError);
      expect(() => pool.free(pages[199] + 8)).toThrow(InvalidAddressError);
      expect(pool.stats().workers[0]).toMatchObject({ allocations: 50, bytes: 50 * PS });
      for (const a of pages.slice(150)) pool.free(pool.view(a, PS));
      expect(pool.stats().workers[0]).toMatchObject({ allocations: 0, bytes: 0 });
      expect(pool.stats().free).toBe(free0);
      pool.check();
    });

    it("contiguous is the largest block alloc returns: that size succeeds, one page more fails", () => {
      const pool = Mempool.create(bytes, options);
      const exact = (when: string) => {
        const { contiguous } = pool.stats();
        expect(contiguous, when).toBeGreaterThan(0);
        const a = pool.alloc(contiguous);
        pool.free(a);
        expect(() => pool.alloc(contiguous + PS), `${when}: alloc(contiguous + one page)`).toThrow(
          OutOfPoolMemoryError,
        );
      };
      exact("fresh");
      // Holes between live blocks, pages on this thread's hot stack and blocks on its block cache.
      const blocks = Array.from({ length: 24 }, (_, i) => pool.alloc(((i % 5) + 1) * PS));
      for (let i = 0; i < blocks.length; i += 2) pool.free(blocks[i]);
      exact("fragmented");
      const big = pool.alloc(Math.floor(pool.stats().contiguous / 2 / PS) * PS);
      exact("half taken");
      pool.free(big);
      for (let i = 1; i < blocks.length; i += 2) pool.free(blocks[i]);
      exact("all freed");
      pool.check();
    });

    it("throws OutOfPoolMemoryError when no contiguous space is left, and recovers when freed", () => {
      const pool = Mempool.create(bytes, options);
      const fresh = pool.stats();
      const blocks: number[] = [];
      let error: unknown;
      for (;;) {
        try {
          blocks.push(pool.alloc(8 * PS));
        } catch (e) {
          error = e;
          break;
        }
      }
      expect(error).toBeInstanceOf(OutOfPoolMemoryError);
      expect(error).toBeInstanceOf(OutOfMemoryError);
      const oom = error as OutOfPoolMemoryError;
      expect(oom).toMatchObject({ code: "ENOMEM", requested: 8 * PS });
      expect(oom.largestFree).toBeLessThan(8 * PS);
      expect(oom.free).toBe(pool.stats().free);
      expect(pool.stats().contiguous).toBeLessThan(8 * PS);
      // The failure changed nothing; smaller blocks may still fit.
      expectCleanFailure(pool, OutOfPoolMemoryError, () => pool.alloc(8 * PS), "alloc(8 pages) when full");
      for (const b of blocks) pool.free(b);
      pool.check();
      expect(pool.stats().free).toBe(fresh.free);
      expect(pool.stats().contiguous).toBe(fresh.contiguous);
    });
  });

  describe(`${label}: bad input gets typed errors and changes nothing`, () => {
    it("a closed handle refuses every block call, and the pool stays sound for the others", () => {
      const pool = Mempool.create(bytes, options);
      const other = Mempool.attach(pool.handle);
      const kept = other.alloc(PS);
      const view = other.allocView(2 * PS);
      const object = other.heap.malloc(40);
      const large = other.heap.malloc(5 * PS);
      other.close();
      // Its slot is free again: a new attachment may take it, so no call may touch it any more.
      const next = Mempool.attach(pool.handle);
      const a = next.alloc(PS);
      const b = next.heap.malloc(40);
      for (const [what, call] of [
        ["heap or page call", () => other.heap.malloc(40)],
        ["heap or page call", () => other.heap.malloc(5 * PS)],
        ["heap or page call", () => other.heap.free(object)],
        ["heap or page call", () => other.heap.free(large)],
        ["alloc", () => other.alloc(PS)],
        ["alloc", () => other.alloc(3 * PS)],
        ["alloc", () => other.allocView(PS)],
        ["free", () => other.free(kept)],
        ["free", () => other.free(view)],
        ["view", () => other.view(kept, PS)],
        ["size", () => other.size(kept)],
      ] as const) {
        const e = expectCleanFailure(pool, PoolClosedError, call, `closed ${what}`);
        expect(e.code).toBe("ECLOSED");
        expect(e.message).toMatch(what);
      }
      pool.free(kept);
      pool.free(view);
      pool.heap.free(object);
      pool.heap.free(large);
      next.free(a);
      next.heap.free(b);
      next.close();
      pool.check();
    });

    it("sizes", () => {
      const pool = Mempool.create(bytes, options);
      const keep = pool.alloc(PS); // so the pool is not pristine
      for (const n of [
        0,
        -1,
        -PS,
        Number.NaN,
        1.5,
        Number.POSITIVE_INFINITY,
        2 ** 53,
        "4096",
        null,
        undefined,
      ]) {
        expectCleanFailure(pool, InvalidArgumentError, () => pool.alloc(n as number), `alloc(${String(n)})`);
        expectCleanFailure(
          pool,
          InvalidArgumentError,
          () => pool.allocView(n as number),
          `allocView(${String(n)})`,
        );
      }
      for (const n of [pool.stats().total, 2 ** 31, 2 ** 40]) {
        const e = expectCleanFailure(pool, OutOfPoolMemoryError, () => pool.alloc(n), `alloc(${n})`);
        expect(e.requested).toBe(n);
      }
      pool.free(keep);
    });

    it("addresses: foreign, interior, already freed, heap objects, not numbers", () => {
      const pool = Mempool.create(bytes, options);
      const a = pool.alloc(3 * PS);
      const object = pool.heap.malloc(100);
      const gone = pool.alloc(PS);
      pool.free(gone);
      const total = pool.segments.length * 2 ** 32;
      const cases: Array<[unknown, abstract new (...args: never[]) => Error]> = [
        [a + PS, InvalidAddressError], // interior page
        [a + 1, InvalidAddressError], // inside the first page
        [gone, DoubleFreeError],
        [object, InvalidAddressError],
        [0, InvalidAddressError],
        [-PS, InvalidAddressError],
        [total + PS, InvalidAddressError], // past the last segment
        [2 ** 53, InvalidAddressError],
        [Number.NaN, InvalidAddressError],
        ["4096", InvalidAddressError],
        [null, InvalidAddressError],
      ];
      for (const [x, cls] of cases) {
        expectCleanFailure(pool, cls, () => pool.free(x as number), `free(${String(x)})`);
        expectCleanFailure(pool, InvalidAddressError, () => pool.size(x as number), `size(${String(x)})`);
      }
      // The heap refuses pool blocks; the pool refuses views that are not its blocks.
      expectCleanFailure(pool, InvalidAddressError, () => pool.heap.free(a), "heap.free(pool block)");
      const other = new Uint8Array(new SharedArrayBuffer(4 * PS), PS, 10);
      expectCleanFailure(pool, InvalidAddressError, () => pool.free(other), "free(view of another buffer)");
      expectCleanFailure(pool, InvalidAddressError, () => pool.size(other), "size(view of another buffer)");
      const interior = pool.view(a + PS, 10);
      expectCleanFailure(pool, InvalidAddressError, () => pool.free(interior), "free(interior view)");
      expectCleanFailure(pool, InvalidArgumentError, () => pool.view(a, -1), "view(a, -1)");
      expectCleanFailure(pool, InvalidArgumentError, () => pool.view(a, 2 ** 40), "view(a, 2^40)");
      pool.free(a);
      pool.heap.free(object);
      expectCleanFailure(pool, DoubleFreeError, () => pool.free(a), "second free");
    });

    it("handles", () => {
      const pool = Mempool.create(bytes, options);
      const bad: unknown[] = [
        null,
        undefined,
        42,
        {},
        { kind: "mneme.mempool" },
        { kind: "mneme.mempool", buffers: [] },
        { kind: "other", buffers: pool.handle.buffers },
        { kind: "mneme.mempool", buffers: ["x"] },
        { kind: "mneme.mempool", buffers: [new SharedArrayBuffer(64 * 1024)] },
      ];
      for (const h of bad) {
        expectCleanFailure(
          pool,
          InvalidArgumentError,
          () => Mempool.attach(h as never),
          `attach(${JSON.stringify(h)})`,
        );
      }
    });

    it("options, workers and thread ids", () => {
      const pool = Mempool.create(bytes, options);
      for (const o of [null, 42, "big"])
        expectCleanFailure(
          pool,
          InvalidArgumentError,
          () => Mempool.create(bytes, o as never),
          `create(options ${o})`,
        );
      for (const w of [null, undefined, 7, {}, { threadId: 3 }])
        expectCleanFailure(
          pool,
          InvalidArgumentError,
          () => pool.watch(w as never),
          `watch(${JSON.stringify(w)})`,
        );
      for (const id of ["1", -1, 1.5, Number.NaN, null]) {
        expectCleanFailure(
          pool,
          InvalidArgumentError,
          () => pool.reapThread(id as never),
          `reapThread(${id})`,
        );
        expectCleanFailure(
          pool,
          InvalidArgumentError,
          () => pool.freeOwnedWhenReaped(id as never),
          `freeOwnedWhenReaped(${id})`,
        );
      }
    });
  });
}
