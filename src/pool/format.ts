/**
 * Formatting a pool segment: a shared arena with a heap, and the pool root (layout.ts) that the
 * segment's workers find through the arena header: the worker slots, each slot's region (hot-page
 * stack, block cache, array caches, parked-page bitmap) and the allocation-owner map. Run once per
 * segment by Mempool.create, before any worker attaches; Segment.attach reads what it wrote.
 *
 *   pool root: | fields P_* and slots (maxWorkers × SLOT_WORDS) | region of slot 1 | … | owner map |
 *
 * (layout.ts has the fields; the owner map is one byte per page, on its own pair of cache lines.)
 */
import { ROOT_POOL } from "../arena/layout.js";
import { InvalidArgumentError, MnemeError } from "../errors.js";
import { Heap, type HeapOptions } from "../object/heap.js";
import { AC_MAX_LIMIT, acSlotWords, R_MAX_CACHES } from "../object/layout.js";
import { alignTo, PAIR_BYTES } from "../page/layout.js";
import { fillBytes } from "../util/shared-bytes.js";
import { blockCacheWords } from "./block-cache.js";
import * as P from "./layout.js";

export interface SegmentOptions extends Omit<HeapOptions, "bytes" | "shared" | "hotPages"> {
  /** Workers (the creator included) that can be attached at once. Default 16. */
  maxWorkers?: number;
  /** Capacity of each worker's hot-page stack. Default 128, at most 1/(8 x maxWorkers) of the pages. */
  workerHotPages?: number;
  /**
   * Pages of freed 2-8 page blocks each worker may keep for itself (its block cache and the
   * blocks other workers freed for it). Default: 512, and at most the worker's share of an eighth
   * of the segment among the workers attached at the moment; a number given here is a fixed budget.
   * 0 turns the block caches and remote-free lists off.
   */
  workerCachePages?: number;
  /** Objects each worker's array cache of one size class may hold. Default 64, less in small segments. */
  workerCacheObjects?: number;
}

/**
 * A segment of `bytes` cannot hold its own structures (page and object layers, worker slots and
 * regions, owner map) for `maxWorkers` workers. Mempool.create grows a pool's last segment past
 * it, and reports it for a pool or segment size the caller chose too small.
 */
export class SegmentTooSmallError extends InvalidArgumentError {
  /** The reason, without the argument: Mempool.create names the size the caller chose. */
  readonly why: string;
  constructor(bytes: number, maxWorkers: number, needs: number) {
    const why = `too small for a pool segment of ${maxWorkers} worker slots (its own structures need more than ${needs} bytes)`;
    super("bytes", bytes, why);
    this.why = why;
  }
}

/** Formats `bytes` of shared memory as segment `index` of `count`; returns its heap. */
export function formatSegment(
  bytes: number,
  options: SegmentOptions,
  index: number,
  count: number,
  poolId: number,
): Heap {
  const maxWorkers = options.maxWorkers ?? P.DEFAULT_MAX_WORKERS;
  if (!Number.isInteger(maxWorkers) || maxWorkers < 1 || maxWorkers > 250) {
    throw new InvalidArgumentError("maxWorkers", maxWorkers, "must be an integer from 1 to 250");
  }
  // By default all hot stacks together hold at most an eighth of the segment: pages cached for
  // one worker are free memory that no other worker can take.
  const pageCount = Math.floor(bytes / (options.pageSize ?? 4096));
  const hotPages =
    options.workerHotPages ??
    Math.min(P.DEFAULT_WORKER_HOT_PAGES, Math.max(1, Math.floor(pageCount / (8 * maxWorkers))));
  if (!Number.isInteger(hotPages) || hotPages < 0 || hotPages > 4096) {
    throw new InvalidArgumentError("workerHotPages", hotPages, "must be an integer from 0 to 4096");
  }
  const cachePages = options.workerCachePages ?? P.DEFAULT_WORKER_CACHE_PAGES;
  if (!Number.isInteger(cachePages) || cachePages < 0 || cachePages > 1 << 20) {
    throw new InvalidArgumentError("workerCachePages", cachePages, "must be an integer from 0 to 2^20");
  }
  const acOption = options.workerCacheObjects;
  if (acOption !== undefined && (!Number.isInteger(acOption) || acOption < AC_MAX_LIMIT || acOption > 1024)) {
    throw new InvalidArgumentError(
      "workerCacheObjects",
      acOption,
      `must be an integer from ${AC_MAX_LIMIT} to 1024`,
    );
  }
  // Every thread of a pool binds its own worker stack (workerHotPages), so the arena's own stack
  // has no slots: its count word stays 0, which release() relies on (zeroWord).
  const heap = new Heap({ ...options, hotPages: 0, bytes, shared: true });
  const pages = heap.pages;
  const maxCaches = pages.w[heap.rw + R_MAX_CACHES];
  // By default the array caches of all workers take at most 1/64 of the segment's bytes.
  const acEntries =
    acOption ??
    Math.max(
      AC_MAX_LIMIT,
      Math.min(
        P.DEFAULT_WORKER_CACHE_OBJECTS,
        Math.floor((bytes / (64 * 4 * maxCaches * maxWorkers) - 4) / 2),
      ),
    );
  const cacheEntries = cachePages >= 2 ? P.BLOCK_CACHE_ENTRIES : 0;
  // Region: hot count + 3 spare words, the hot entries, the block cache, then the array caches
  // (8-byte aligned: their entries are Float64).
  const blocksAt = P.REGION_HOT + hotPages;
  const acAt = (blocksAt + blockCacheWords(cacheEntries) + 1) & ~1;
  const parkedAt = cacheEntries === 0 ? 0 : acAt + maxCaches * acSlotWords(acEntries);
  const parkedWords = cacheEntries === 0 ? 0 : Math.ceil(pages.pageCount / 32);
  // Whole pairs of cache lines (page/layout.ts PAIR_BYTES), so that no two workers' regions share one.
  const regionWords = alignTo(acAt + maxCaches * acSlotWords(acEntries) + parkedWords, PAIR_BYTES / 4);
  const slotsWords = P.P_SLOTS + maxWorkers * P.SLOT_WORDS;
  // The owner map on a pair too: a run of 128 pages (a worker's hot-stack refill) owns one.
  const ownersAt = alignTo((slotsWords + regionWords * maxWorkers) * 4, PAIR_BYTES);
  const rootBytes = ownersAt + pages.pageCount;
  let rootAddress: number;
  try {
    rootAddress = pages.alloc(rootBytes);
  } catch (e) {
    if (!(e instanceof MnemeError)) throw e;
    // What the page and object layers took, plus the pool's own root: a lower bound to report.
    throw new SegmentTooSmallError(bytes, maxWorkers, bytes - pages.stats().free + rootBytes);
  }
  const root = rootAddress / pages.pageSize;
  fillBytes(pages.memory, 0, rootAddress, rootAddress + pages.sizeOf(rootAddress));
  const w = pages.w;
  const rw = rootAddress >> 2;
  w[rw + P.P_MAX_SLOTS] = maxWorkers;
  w[rw + P.P_HOT_PAGES] = hotPages;
  w[rw + P.P_REGION_WORDS] = regionWords;
  w[rw + P.P_REGIONS] = rw + slotsWords;
  w[rw + P.P_SEGMENT] = index;
  w[rw + P.P_SEGMENTS] = count;
  w[rw + P.P_OWNERS] = rootAddress + ownersAt;
  w[rw + P.P_POOL_ID] = poolId;
  w[rw + P.P_CACHE_ENTRIES] = cacheEntries;
  w[rw + P.P_CACHE_BUDGET] = cacheEntries === 0 ? 0 : cachePages;
  w[rw + P.P_CACHE_SHARE] = options.workerCachePages === undefined ? 1 : 0;
  w[rw + P.P_BLOCKS_AT] = blocksAt;
  w[rw + P.P_AC_AT] = acAt;
  w[rw + P.P_PARKED_AT] = parkedAt;
  w[rw + P.P_AC_ENTRIES] = acEntries;
  w[rw + P.P_AC_BYTES] = P.DEFAULT_WORKER_CACHE_BYTES;
  w[rw + P.P_MAGIC] = P.POOL_MAGIC;
  pages.arena.setRoot(ROOT_POOL, root);
  return heap;
}
