/**
 * The metadata reserve (issue 3): the heap's own metadata — here the page tables of vmalloc areas —
 * comes from a reserve that is refilled after regular requests, so serving one request can always
 * finish. The test from the issue: drive the arena to exhaustion with a seeded random mix of
 * malloc (small and large), cache allocs and vmalloc; the only failures allowed are clean
 * OutOfMemoryErrors on user requests, check() passes throughout, and freeing everything returns
 * the arena to its initial state.
 */
import { describe, expect, it } from "vitest";
import { Heap, type HeapOptions, OutOfMemoryError, type SlabCache } from "../../src/index.js";
import { between, expectCleanFailure, rng, takeAllPages } from "./helpers.js";

interface Held {
  kind: "heap" | "cache" | "v";
  address: number;
  length: number;
  tag: number;
}

interface DriveResult {
  steps: number;
  ooms: number;
  firstOom: number;
  peakLive: number;
  /** OutOfMemoryError reasons seen, with counts. */
  reasons: Record<string, number>;
  /** Requests served after the first OutOfMemoryError. */
  servedAfterOom: number;
  vmallocsAfterOom: number;
  /** Fewest reserve pages seen after a step: below the target means a table came from it. */
  minReserve: number;
}

/**
 * Phase 1 allocates only, until the first OutOfMemoryError; phase 2 goes on for `after` steps
 * mixing frees in; phase 3 frees everything. Every step runs check(); every OutOfMemoryError is
 * followed by check(), and one with { wait: false } must leave stats() exactly as it was.
 */
function drive(heap: Heap, seed: number, after: number, bigAreaPages: number): DriveResult {
  const ps = heap.pages.pageSize;
  const r = rng(seed);
  const caches: SlabCache[] = [
    heap.createCache("r-32", 32),
    heap.createCache("r-117", 117),
    heap.createCache("r-2000", 2000),
  ];
  const held: Held[] = [];
  const result: DriveResult = {
    steps: 0,
    ooms: 0,
    firstOom: -1,
    peakLive: 0,
    reasons: {},
    servedAfterOom: 0,
    vmallocsAfterOom: 0,
    minReserve: heap.stats().reserve.pages,
  };
  let tagSeq = 0;

  // A one-byte block has one byte for both tags: its tail tag is its head tag.
  const tagOf = (h: Held): [number, number] => [h.tag, h.length === 1 ? h.tag : (h.tag * 7 + 3) & 0xff];
  const mark = (h: Held) => {
    const [a, b] = tagOf(h);
    if (h.kind === "v") {
      heap.vwrite(h.address, Uint8Array.of(a));
      heap.vwrite(h.address + h.length - 1, Uint8Array.of(b));
    } else {
      heap.memory[h.address] = a;
      heap.memory[h.address + h.length - 1] = b;
    }
  };
  const verify = (h: Held) => {
    const [a, b] = tagOf(h);
    if (h.kind === "v") {
      expect(heap.vread(h.address, 1)[0]).toBe(a);
      expect(heap.vread(h.address + h.length - 1, 1)[0]).toBe(b);
    } else {
      expect(heap.memory[h.address], `head of ${h.kind} ${h.address}`).toBe(a);
      expect(heap.memory[h.address + h.length - 1], `tail of ${h.kind} ${h.address}`).toBe(b);
    }
  };
  const release = (i: number) => {
    const h = held[i];
    verify(h);
    if (h.kind === "v") heap.vfree(h.address);
    else heap.free(h.address);
    held[i] = held[held.length - 1];
    held.pop();
  };

  /** One random user request; returns what it got, or throws what the heap threw. */
  const request = (wait: boolean): Held => {
    const flags = { wait };
    const x = r();
    let h: Omit<Held, "tag">;
    if (x < 0.3) {
      const size = between(r, 1, 8192);
      const a = heap.malloc(size, flags);
      h = { kind: "heap", address: a, length: size };
    } else if (x < 0.45) {
      const size = between(r, 8193, 16 * ps);
      const a = heap.malloc(size, flags);
      h = { kind: "heap", address: a, length: size };
    } else if (x < 0.7) {
      const cache = caches[between(r, 0, caches.length - 1)];
      h = { kind: "cache", address: cache.alloc(flags), length: cache.objectSize };
    } else if (x < 0.95) {
      // Small areas: a one-page table from the reserve.
      const bytes = between(r, 1, 8 * ps);
      h = { kind: "v", address: heap.vmalloc(bytes, flags), length: bytes };
    } else {
      // Larger areas: with 512-byte pages, a 2..4-page table from the reserve's order-2 block.
      const bytes = between(r, 1, bigAreaPages * ps);
      h = { kind: "v", address: heap.vmalloc(bytes, flags), length: bytes };
    }
    const full = { ...h, tag: (tagSeq++ % 255) + 1 };
    mark(full);
    return full;
  };

  const attempt = () => {
    const wait = r() < 0.7;
    const before = wait ? "" : JSON.stringify(heap.stats());
    try {
      held.push(request(wait));
      if (result.firstOom >= 0) {
        result.servedAfterOom++;
        if (held[held.length - 1].kind === "v") result.vmallocsAfterOom++;
      }
    } catch (e) {
      // Any other error fails the test right here, with its own stack.
      if (!(e instanceof OutOfMemoryError)) throw e;
      result.ooms++;
      result.reasons[e.reason] = (result.reasons[e.reason] ?? 0) + 1;
      if (result.firstOom < 0) result.firstOom = result.steps;
      expect(e.requested).toBeGreaterThan(0);
      expect(e.largestFree).toBeLessThanOrEqual(e.free);
      heap.check();
      if (!wait)
        expect(JSON.stringify(heap.stats()), "a { wait: false } failure changes nothing").toBe(before);
    }
  };

  // Phase 1: allocate until the arena is exhausted.
  while (result.firstOom < 0) {
    attempt();
    result.steps++;
    heap.check();
    expect(result.steps).toBeLessThan(1_000_000);
  }
  // Phase 2: keep going near exhaustion, frees mixed in.
  for (let i = 0; i < after; i++) {
    if (held.length > 0 && r() < 0.45) release(between(r, 0, held.length - 1));
    else attempt();
    result.steps++;
    result.peakLive = Math.max(result.peakLive, held.length);
    result.minReserve = Math.min(result.minReserve, heap.stats().reserve.pages);
    heap.check();
  }
  // Phase 3: free everything, in random order.
  while (held.length > 0) {
    release(between(r, 0, held.length - 1));
    heap.check();
  }
  heap.shrink();
  heap.check();
  return result;
}

function exhaustion(
  options: HeapOptions,
  seed: number,
  after: number,
  bigAreaPages: number,
  reserveRunsLow: boolean,
): void {
  const heap = new Heap(options);
  const initial = heap.stats();
  const result = drive(heap, seed, after, bigAreaPages);
  // The drive did reach exhaustion and kept serving requests after it.
  expect(result.ooms).toBeGreaterThan(10);
  expect(result.servedAfterOom).toBeGreaterThan(10);
  expect(result.vmallocsAfterOom).toBeGreaterThan(0);
  // At some point the page layer could not refill the reserve: the reserve really served a table
  // that the page layer could not have given (seen with these seeds on 4 KiB pages).
  if (reserveRunsLow) expect(result.minReserve).toBeLessThan(initial.reserve.pages);
  const end = heap.stats();
  expect(end.footprint, "footprint back to root + reserve").toBe(initial.footprint);
  expect(end.free).toBe(initial.free);
  expect(end.reserve).toEqual(initial.reserve);
  expect(end.objects).toBe(0);
  expect(end.large).toEqual({ count: 0, bytes: 0 });
  expect(end.vmalloc).toEqual({ areas: 0, bytes: 0, pages: 0 });
  // Regression (fixed; see vmalloc.test.ts): the reserve ends up holding other pages than right after
  // construction, so the page layer's free blocks differ although nothing is live. Compared last,
  // after everything else above has been established.
  expect(end.pageLayer, "page layer as right after construction").toEqual(initial.pageLayer);
}

describe("the metadata reserve under exhaustion", () => {
  it("4096-byte pages: only clean OutOfMemoryErrors, check() throughout, initial state at the end", () => {
    exhaustion({ bytes: 1 << 20, pageSize: 4096 }, 0x7e5e7e, 4000, 16, true);
  });

  it("512-byte pages (order-2 page tables): the same", () => {
    exhaustion({ bytes: 1 << 20, pageSize: 512 }, 0x512512, 3000, 400, false);
  });

  it("a shared arena: the same", () => {
    exhaustion({ bytes: 1 << 20, pageSize: 4096, shared: true }, 0x5aa5, 2000, 16, true);
  });
});

describe("vmalloc after exhaustion", () => {
  const PS = 4096;

  it("completes from the reserve when its data pages fit, and gives the table back", () => {
    const heap = new Heap({ bytes: 1 << 20, pageSize: PS });
    const reserve = heap.stats().reserve.pages;
    expect(reserve).toBeGreaterThan(0);
    const pages = takeAllPages(heap);
    // Nothing is free: no data page, so the request fails cleanly (before touching the reserve).
    expectCleanFailure(heap, OutOfMemoryError, () => heap.vmalloc(1));
    // Three pages come free: exactly the data pages of a 3-page area. Its table is metadata and
    // comes from the reserve, so the request completes although the page layer has nothing more.
    for (const a of pages.slice(0, 3)) heap.free(a);
    const v = heap.vmalloc(3 * PS - 1);
    const s = heap.stats();
    expect(s.free).toBe(0);
    expect(s.reserve.pages).toBeLessThan(reserve);
    const data = Uint8Array.from({ length: 3 * PS - 1 }, (_, i) => (i * 31) & 0xff);
    heap.vwrite(v, data);
    expect(Buffer.from(heap.vread(v, data.length)).equals(Buffer.from(data))).toBe(true);
    heap.check();
    // vfree puts the table back into the reserve and the data pages back into the page layer.
    heap.vfree(v);
    expect(heap.stats().reserve.pages).toBe(reserve);
    expect(heap.stats().free).toBe(3 * PS);
    heap.check();
  });

  it("a vmalloc that fails for lack of data pages leaves the state as it was, reserve included", () => {
    // Regression (fixed): vmalloc refills the reserve BEFORE checking that its data pages fit. With the
    // reserve short after an earlier vmalloc, a request that cannot be served takes the one free
    // page into the reserve and then throws OutOfMemoryError: the failed call changed stats()
    // (reserve.pages, free, footprint) and the arena.
    const heap = new Heap({ bytes: 1 << 20, pageSize: PS });
    const pages = takeAllPages(heap);
    heap.free(pages[0]);
    heap.vmalloc(PS); // its table came from the reserve, which could not be refilled
    heap.free(pages[1]);
    expectCleanFailure(heap, OutOfMemoryError, () => heap.vmalloc(2 * PS));
  });

  it("a second vmalloc completes while the reserve still holds a table page and its data page is free", () => {
    // Regression (fixed), the same cause seen from the caller: the reserve is refilled after each
    // request, not before it, so a request whose table is in the reserve and whose data pages are
    // free must complete. Here the refill takes the free data page first and the request fails.
    const heap = new Heap({ bytes: 1 << 20, pageSize: PS });
    const pages = takeAllPages(heap);
    heap.free(pages[0]);
    const v1 = heap.vmalloc(PS);
    heap.free(pages[1]);
    const v2 = heap.vmalloc(PS);
    expect(v2).not.toBe(v1);
    heap.check();
  });

  it("a vmalloc whose table the short reserve must borrow fails cleanly when its data would not fit beside it", () => {
    // Regression (fixed): with the reserve's single pages all lent out (its refills found nothing
    // free), the table was borrowed from the page layer first, taking the last free page; the data
    // pages then failed and the borrowed page stayed in the reserve: stats() and the arena changed.
    const heap = new Heap({ bytes: 1 << 20, pageSize: PS });
    const pages = takeAllPages(heap);
    heap.free(pages[0]);
    heap.vmalloc(1);
    heap.free(pages[1]);
    heap.vmalloc(1);
    expect(heap.stats().reserve.pages).toBe(4); // the order-2 block only: no single page left
    heap.free(pages[2]);
    expectCleanFailure(heap, OutOfMemoryError, () => heap.vmalloc(1, { wait: false }));
    expectCleanFailure(heap, OutOfMemoryError, () => heap.vmalloc(1));
    // With a second page free, the borrowed table and the data page both fit.
    heap.free(pages[3]);
    const v = heap.vmalloc(PS);
    heap.vwrite(v, new Uint8Array(PS).fill(7));
    expect(heap.vread(v, PS).every((b) => b === 7)).toBe(true);
    heap.check();
  });

  it("a borrowed table goes back to the page layer when the data pages then fail (another thread's hot pages)", () => {
    // In a pool, pages on other threads' hot stacks count as free but only they hand them out, so
    // the data pages can fail after the table was borrowed. Simulated here through the hook a pool
    // sets: two pages that look free and are not this thread's.
    const heap = new Heap({ bytes: 1 << 20, pageSize: PS });
    const pages = takeAllPages(heap);
    heap.free(pages[0]);
    heap.vmalloc(1);
    heap.free(pages[1]);
    heap.vmalloc(1);
    heap.free(pages[2]);
    const stats = JSON.stringify(heap.stats());
    heap.pages.otherHotStacks = () => [{ pages: new Int32Array(0), count: 2, countWord: 0 }];
    expect(() => heap.vmalloc(2 * PS, { wait: false })).toThrow(OutOfMemoryError);
    heap.pages.otherHotStacks = () => [];
    // Figures only: the arena's bytes keep a trace of the borrow in the page layer's hot-stack
    // heuristics (a single-page allocation that missed the stack), which no figure shows.
    expect(JSON.stringify(heap.stats())).toBe(stats);
    heap.check();
  });
});
