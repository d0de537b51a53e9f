/**
 * Reference computations shared by the page-layer tests. They derive what the allocator must
 * report from first principles (which pages are free), never from the allocator's own structures,
 * so a test that compares the two catches bookkeeping the allocator got wrong consistently.
 */
import { expect } from "vitest";
import {
  type MnemeError,
  PageAllocator,
  type PageAllocatorOptions,
  type PageStats,
} from "../../src/index.js";

/**
 * The free blocks a fully coalesced buddy system must hold for a given set of free pages: every
 * free page belongs to the largest aligned block (order <= maxOrder, inside the arena) whose pages
 * are all free. That decomposition is unique, so it pins freeBlocksPerOrder down exactly.
 */
export function coalescedBlocks(
  isFree: (page: number) => boolean,
  pageCount: number,
  maxOrder: number,
): number[] {
  const perOrder = new Array<number>(maxOrder + 1).fill(0);
  let p = 0;
  while (p < pageCount) {
    if (!isFree(p)) {
      p++;
      continue;
    }
    let o = 0;
    while (o < maxOrder) {
      const size = 2 ** (o + 1);
      if (p % size !== 0 || p + size > pageCount) break;
      let all = true;
      for (let i = p + 2 ** o; i < p + size; i++) {
        if (!isFree(i)) {
          all = false;
          break;
        }
      }
      if (!all) break;
      o++;
    }
    perOrder[o]++;
    p += 2 ** o;
  }
  return perOrder;
}

/** Gorman's unusable free space index at maxOrder, computed from the per-order counts. */
export function fragmentationOf(perOrder: number[]): number {
  const maxOrder = perOrder.length - 1;
  let free = 0;
  for (let o = 0; o <= maxOrder; o++) free += perOrder[o] * 2 ** o;
  if (free === 0) return 0;
  return (free - perOrder[maxOrder] * 2 ** maxOrder) / free;
}

/** Largest block in pages given per-order counts (0 when nothing is free). */
export function largestBlockPages(perOrder: number[]): number {
  for (let o = perOrder.length - 1; o >= 0; o--) if (perOrder[o] > 0) return 2 ** o;
  return 0;
}

/** Index of the first differing byte, or -1; much cheaper to report than a full toEqual diff. */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

type ErrorClass<E> = abstract new (...args: never[]) => E;

/** Runs `fn`, which must throw an instance of `cls`, and returns the error. */
export function thrown<E extends MnemeError>(cls: ErrorClass<E>, fn: () => unknown): E {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error, "expected the call to throw").toBeInstanceOf(cls);
  return error as E;
}

/**
 * Asserts that `fn` fails with `cls` and leaves no trace, two ways:
 * 1. the protocol of DESIGN.md principle 4: stats() first (it merges the hot-page cache, so the
 *    bytes are stable), then a copy of every arena byte, and both must be identical afterwards;
 * 2. when the caller keeps hot pages live (`keepHot`), a twin attached to a copy of the buffer
 *    stands for "before": after the failure, both must report the same stats and, once both have
 *    merged their hot pages, hold the same bytes. A failure may merge hot pages (they are free
 *    either way) but may not change anything else.
 */
export function expectCleanFailure<E extends MnemeError>(
  pages: PageAllocator,
  cls: ErrorClass<E>,
  fn: () => unknown,
  keepHot = false,
): E {
  if (keepHot) {
    const twin = PageAllocator.attach(pages.arena.buffer.slice(0));
    const error = thrown(cls, fn);
    expect(JSON.stringify(pages.stats())).toBe(JSON.stringify(twin.stats()));
    expect(firstDifference(pages.memory, twin.memory)).toBe(-1);
    pages.check();
    return error;
  }
  const stats = JSON.stringify(pages.stats());
  const bytes = pages.memory.slice();
  const error = thrown(cls, fn);
  expect(firstDifference(pages.memory, bytes)).toBe(-1);
  expect(JSON.stringify(pages.stats())).toBe(stats);
  pages.check();
  return error;
}

/** Usable pages and header pages of an allocator, from its public figures. */
export function geometry(pages: PageAllocator): { ps: number; first: number; usable: number; count: number } {
  const s: PageStats = pages.stats();
  const usable = s.total / s.pageSize;
  return { ps: s.pageSize, first: s.headerPages, usable, count: s.headerPages + usable };
}

/** A fresh allocator's stats, the reference for "everything freed and coalesced". */
export function freshStats(options: PageAllocatorOptions): PageStats {
  return new PageAllocator(options).stats();
}
