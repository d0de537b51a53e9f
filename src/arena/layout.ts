/**
 * The arena header: the first bytes of every arena, read by anyone who attaches the buffer.
 *
 * Glossary (used by every layer):
 * - arena:   the whole ArrayBuffer/SharedArrayBuffer; an *address* is a byte offset into it.
 * - page:    a pageSize-aligned unit of the arena; page i covers [i*pageSize, (i+1)*pageSize).
 * - header pages: pages 0..headerPages-1, holding this header and the page layer's metadata;
 *            never handed out, which is why address 0 can mean "none".
 * - block:   2^order contiguous pages starting at a page index that is a multiple of 2^order.
 *
 * Header layout (Int32 words at byte offset 0):
 *
 * | word | name          | meaning                                                        |
 * |------|---------------|----------------------------------------------------------------|
 * | 0    | MAGIC         | 0x454d4e4d ("MNME" little-endian)                              |
 * | 1    | VERSION       | layout version, bumped on any incompatible change              |
 * | 2    | PAGE_SIZE     | bytes per page, a power of two in [512, 65536]                 |
 * | 3    | PAGE_COUNT    | pages in the arena, header pages included                      |
 * | 4    | HEADER_PAGES  | pages reserved for this header and the page metadata           |
 * | 5    | FLAGS         | bit 0: created shared                                          |
 * | 6    | META_OFFSET   | byte offset of the page layer's metadata (page/layout.ts)      |
 * | 7    | META_BYTES    | bytes of that metadata                                         |
 * | 8-15 | LOCKS         | Atomics lock words of the layers (reserved, 0 = unlocked)      |
 * | 16-31| ROOTS         | page index of each upper layer's root structure, 0 = none     |
 */
export const MAGIC = 0x454d4e4d;
export const VERSION = 1;

export const H_MAGIC = 0;
export const H_VERSION = 1;
export const H_PAGE_SIZE = 2;
export const H_PAGE_COUNT = 3;
export const H_HEADER_PAGES = 4;
export const H_FLAGS = 5;
export const H_META_OFFSET = 6;
export const H_META_BYTES = 7;
export const H_LOCKS = 8;
export const H_ROOTS = 16;
export const SIZEOF_HEADER = 32 * 4;

export const FLAG_SHARED = 1;

/** Root slots, one per upper layer; each holds a page index inside the arena. */
export const ROOT_HEAP = 0;
export const ROOT_POOL = 1;
export const ROOT_COUNT = 16;

export const MIN_PAGE_SIZE = 512;
export const MAX_PAGE_SIZE = 65536;
export const DEFAULT_PAGE_SIZE = 4096;
/**
 * Addresses are below 2^32: the typed arrays over the buffer index at most 2^32 bytes, and the
 * page layer's free fast path finds a page with `>>>` (page indices, at most 2^23, fit an int32).
 */
export const MAX_ARENA_BYTES = 2 ** 32;
