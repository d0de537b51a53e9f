/**
 * The page layer's metadata, kept in the header pages right after the arena header
 * (at byte offset META_OFFSET of arena/layout.ts).
 *
 * Page-meta struct (Int32 words from META_OFFSET):
 *
 * | word  | name          | meaning                                                           |
 * |-------|---------------|-------------------------------------------------------------------|
 * | 0     | FREE_PAGES    | pages on the buddy free lists                                     |
 * | 1-2   | (reserved)    | used pages and allocations are derived (free path stays short)    |
 * | 3     | MAX_ORDER     | largest block order the lists hold                                |
 * | 4     | STATE_OFFSET  | byte offset of the state map                                      |
 * | 5     | RUN_OFFSET    | byte offset of the run-length map                                 |
 * | 6     | HOT_OFFSET    | byte offset of the hot-page stack                                 |
 * | 7     | HOT_COUNT     | pages on the hot-page stack                                       |
 * | 8     | HOT_HIGH      | capacity of the hot-page stack (0 disables it)                    |
 * | 9     | HOT_BATCH     | pages returned to the buddy lists when the stack overflows        |
 * | 10    | HOT_LIMIT     | pages the stack holds before it overflows (<= HOT_HIGH, adaptive) |
 * | 11    | HOT_MISSES    | single-page allocations that found the stack empty since it last  |
 * |       |               | overflowed                                                        |
 * | 16+o  | FREE_HEAD[o]  | first free block of order o (page index), 0 = empty list          |
 * | 48+o  | FREE_COUNT[o] | free blocks of order o                                            |
 *
 * After it, in order:
 * - state map, Uint8 per page: what starts at that page (values below). Only the first page of a
 *   block or allocation carries a state; every other page is NONE, so split, coalesce and free
 *   touch O(1) entries, and free(address) of an interior page is caught at once.
 * - run-length map, Int32 per page: for a USED or HEADER first page, the pages of the allocation
 *   (a SINGLE page is a one-page allocation whose length is implied);
 *   meaningless for any other page (it is not cleared on free).
 * - hot-page stack, Int32 per slot: single pages freed recently, handed out again before the
 *   buddy lists are touched (Linux's per-cpu page lists). They count as free.
 *
 * Free blocks are linked through their own first bytes (intrusive, doubly linked so a buddy is
 * unlinked in O(1) when it coalesces):
 *
 * | offset in block | size | meaning                          |
 * |-----------------|------|----------------------------------|
 * | 0               | 4    | next free block of the same order (page index, 0 = end) |
 * | 4               | 4    | previous free block (page index, 0 = this is the head)  |
 *
 * Page 0 is a header page and never free, so 0 is a safe "none" for links and heads.
 */
export const M_FREE_PAGES = 0;
export const M_MAX_ORDER = 3;
export const M_STATE_OFFSET = 4;
export const M_RUN_OFFSET = 5;
export const M_HOT_OFFSET = 6;
export const M_HOT_COUNT = 7;
export const M_HOT_HIGH = 8;
export const M_HOT_BATCH = 9;
export const M_HOT_LIMIT = 10;
export const M_HOT_MISSES = 11;
export const M_FREE_HEAD = 16;
export const M_FREE_COUNT = 48;
export const SIZEOF_PAGE_META = 80 * 4;

/** Orders are stored in a byte next to flags and in 32-slot arrays. */
export const MAX_SUPPORTED_ORDER = 30;
export const DEFAULT_MAX_ORDER = 10;

/** State map values. FREE_BASE + o marks the first page of a free block of order o. */
export const S_NONE = 0;
export const S_FREE_BASE = 1;
export const S_USED = 0x40;
export const S_HOT = 0x41;
export const S_HEADER = 0x42;
/** A one-page allocation: its length is implied, so the hot path never touches the run map. */
export const S_SINGLE = 0x43;

/** Link words inside a free block. */
export const L_NEXT = 0;
export const L_PREV = 1;

/**
 * The hot-page stack's starting limit: 1/16 of the pages, at most 1024 (4 MiB of 4 KiB pages);
 * none for tiny arenas. It is also the limit the stack falls back to when a larger request had to
 * merge the hot pages back (buddy.ts, "lazy coalescing").
 */
export function defaultHotHigh(pageCount: number): number {
  const high = Math.min(1024, Math.floor(pageCount / 16));
  return high < 4 ? 0 : high;
}

/** The limit a stack of `capacity` slots starts at and falls back to. */
export function hotBaseLimit(pageCount: number, capacity: number): number {
  return Math.min(capacity, Math.max(defaultHotHigh(pageCount), 4));
}

/**
 * The hot-page stack's capacity: room for every usable page (4 bytes a page), so that the limit
 * can follow the program's bursts of frees and allocations as far as they go (the header pages'
 * slots are never used: the stack never holds more than the free pages); none when the starting
 * limit is none.
 */
export function defaultHotCapacity(pageCount: number): number {
  return defaultHotHigh(pageCount) === 0 ? 0 : pageCount;
}

export interface PageMetaGeometry {
  stateOffset: number;
  runOffset: number;
  hotOffset: number;
  bytes: number;
}

/**
 * Cores fetch memory in pairs of 64-byte lines (the adjacent-line prefetcher), and a write to
 * either line of a pair slows a core that works on the other: measured, two pool workers whose
 * 64-page runs had their state bytes in one pair ran at half speed (BENCHMARKS.md, pool). A shared
 * arena's state map starts on a pair, so that an aligned run of 128 pages (HOT_RUN_ORDER) owns one;
 * an unshared one is not padded (the smallest 512-byte-page arena keeps a single header page).
 */
export const PAIR_BYTES = 128;

/** Where each metadata array sits, given where the struct starts. */
export function pageMetaGeometry(
  metaOffset: number,
  pageCount: number,
  hotHigh: number,
  shared: boolean,
): PageMetaGeometry {
  const structEnd = metaOffset + SIZEOF_PAGE_META;
  const stateOffset = shared ? alignTo(structEnd, PAIR_BYTES) : structEnd;
  const runOffset = alignTo(stateOffset + pageCount, 4);
  const hotOffset = runOffset + pageCount * 4;
  const end = hotOffset + hotHigh * 4;
  return { stateOffset, runOffset, hotOffset, bytes: end - metaOffset };
}

export function alignTo(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}
