/**
 * Shared helpers of the object-layer tests: typed-failure assertions, a seeded PRNG and ways to
 * drive the arena to exhaustion through the public API only.
 */
import { expect } from "vitest";
import { Heap, type HeapOptions, type MnemeError, OutOfMemoryError } from "../../src/index.js";
import { CLASS_SIZES, sizeClass } from "../../src/object/size-classes.js";

type ErrorClass<E> = abstract new (...args: never[]) => E;

/** The kmalloc slot a request of `size` bytes (at most 8 KiB) gets: its size class. */
export function slot(size: number): number {
  return CLASS_SIZES[sizeClass(size)];
}

/** Runs `fn`, which must throw an instance of `cls`, and returns the error. */
export function thrown<E extends Error>(cls: ErrorClass<E>, fn: () => unknown, label = ""): E {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error, `expected the call to throw ${cls.name}${label ? ` (${label})` : ""}`).toBeInstanceOf(cls);
  return error as E;
}

/** Index of the first differing byte, or -1 (cheap to report, unlike a toEqual diff of a MiB). */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/**
 * DESIGN.md principle 4: `fn` fails with `cls` and leaves no trace. stats() comes first because it
 * merges the page layer's hot pages into the buddy lists (free either way), so the bytes taken
 * after it are stable; afterwards every arena byte and every figure must be as before, and the
 * structural check must pass.
 */
export function expectCleanFailure<E extends MnemeError>(
  heap: Heap,
  cls: ErrorClass<E>,
  fn: () => unknown,
  label = fn.toString(),
): E {
  const stats = JSON.stringify(heap.stats());
  const bytes = heap.memory.slice();
  const error = thrown(cls, fn, label);
  expect(firstDifference(heap.memory, bytes), `first arena byte changed by the failed ${label}`).toBe(-1);
  expect(JSON.stringify(heap.stats()), `stats() after the failed ${label}`).toBe(stats);
  heap.check();
  return error;
}

export { rng } from "../helpers/rng.js";

/** An integer in [min, max] from `r`. */
export function between(r: () => number, min: number, max: number): number {
  return min + Math.floor(r() * (max - min + 1));
}

/**
 * Takes every free page of the page layer as a one-page heap allocation (alignedAlloc with the
 * page size as alignment is served by exactly one page), so afterwards nothing at all is free.
 * `{ wait: false }` keeps shrinkers out of it. Returns the pages taken, in address order.
 */
export function takeAllPages(heap: Heap): number[] {
  const ps = heap.pages.pageSize;
  const taken: number[] = [];
  for (;;) {
    try {
      taken.push(heap.alignedAlloc(ps, 1, { wait: false }));
    } catch (e) {
      if (!(e instanceof OutOfMemoryError)) throw e;
      break;
    }
  }
  expect(heap.stats().free).toBe(0);
  return taken.sort((a, b) => a - b);
}

/** What a heap with these options reports right after construction. */
export function freshHeapStats(options: HeapOptions): ReturnType<Heap["stats"]> {
  return new Heap(options).stats();
}

/**
 * Fills `heap` with blocks of `sizes` (each until it runs out, `{ wait: false }`) that a
 * registered shrinker, "hoard", gives all back when scanned; `asked` counts its scans.
 */
export function hoardEverything(heap: Heap, sizes = [4096, 64]): { hoard: number[]; asked: () => number } {
  const hoard: number[] = [];
  let asked = 0;
  heap.registerShrinker({
    name: "hoard",
    count: () => hoard.length * 4096,
    scan: () => {
      asked++;
      let n = 0;
      for (const a of hoard.splice(0)) {
        n += heap.usableSize(a);
        heap.free(a);
      }
      return n;
    },
  });
  for (const size of sizes) {
    try {
      for (;;) hoard.push(heap.malloc(size, { wait: false }));
    } catch (e) {
      expect(e).toBeInstanceOf(OutOfMemoryError);
    }
  }
  return { hoard, asked: () => asked };
}
