/**
 * The pool's root, in pages taken from the page layer of each segment (the arena header's ROOT_POOL
 * slot holds its first page). Glossary: a *segment* is one SharedArrayBuffer arena of a pool; a
 * *slot* is a worker's entry in the registry (slot ids start at 1; 0 means "nobody"); a *region* is
 * a slot's private part of the root: its hot-page stack and its array caches.
 *
 * Pool root (Int32 words):
 *
 * | word | name          | meaning                                                      |
 * |------|---------------|--------------------------------------------------------------|
 * | 0    | MAGIC         | POOL_MAGIC                                                   |
 * | 1    | MAX_SLOTS     | workers that can be attached at once (slots 1..MAX_SLOTS)     |
 * | 2    | HOT_PAGES     | capacity of each slot's hot-page stack                       |
 * | 3    | REGION_WORDS  | words of one slot's region                                   |
 * | 4    | REGIONS       | word index (in the arena) of slot 1's region                 |
 * | 5    | SEGMENT       | index of this segment in its pool                            |
 * | 6    | SEGMENTS      | segments of the pool                                         |
 * | 7    | OWNERS        | byte offset of the allocation-owner map (Uint8 per page)     |
 * | 8    | POOL_ID       | a random number, the same in every segment of one pool       |
 * | 11   | RECOVERIES    | dead workers recovered so far                                |
 * | 12   | CACHE_ENTRIES | entries of each of a slot's block-cache stacks (0: no cache) |
 * | 13   | CACHE_BUDGET  | pages a slot may park (block cache plus remote-free list), or |
 * |      |               | with CACHE_SHARE the most it may park                        |
 * | 14   | BLOCKS_AT     | word offset of the block cache in a region                   |
 * | 15   | AC_AT         | word offset of the array caches in a region (even)           |
 * | 16   | AC_ENTRIES    | objects a worker's array cache can hold (object/layout.ts)   |
 * | 17   | AC_BYTES      | bytes a worker's array cache of one size class may hold      |
 * | 18   | ALIVE         | slots claimed and not yet freed (Atomics.add/sub)            |
 * | 19   | CACHE_SHARE   | 1: a slot's budget is also at most 1/(8 x ALIVE) of the pages |
 * | 20   | PARKED_AT     | word offset of the parked map in a region (0: no block cache) |
 * | 32-34| MUTEX         | the segment's lock (arena/mutex.ts), on a cache line of its own |
 * | 64.. | SLOTS         | SLOT_WORDS per slot, slot 1 first                            |
 *
 * Slot (Int32 words, SLOT_WORDS = 64 so that slots and the two halves of a slot sit on pairs of
 * cache lines of their own, page/layout.ts PAIR_BYTES): STATE (FREE, CLAIMING, ALIVE, DEAD),
 * THREAD (threadId of the worker; written while CLAIMING, so a slot seen ALIVE names its own
 * thread, never the one that held it before), FREE_OWNED (1: whoever recovers the slot frees its
 * pool.alloc blocks too, Mempool.freeOwnedWhenReaped; 0 from the claim on), word 3 unused,
 * PARKED (pages on its block cache, plain stores by its thread), INFLIGHT_CUR and INFLIGHT_NEXT
 * (the remote-free list being drained under the lock, for recovery: block-cache.ts). From word 32,
 * the half other workers write: words 32-33 unused, REMOTE_HEAD (the remote-free list: page of its
 * newest block, 0 when empty) and REMOTE_PENDING (pages on that list).
 *
 * The blocks charged to a slot are not counted as they come and go: the owner map below is the
 * record, and Segment.census() reads it when figures are asked for. Counters cost every
 * pool.alloc and pool.free a store or an atomic add (a quarter of a one-page alloc/free pair,
 * BENCHMARKS.md), and a worker killed between the owner entry and its counter left them wrong.
 *
 * Region of a slot (Int32 words from its start): word 0 the hot stack's count, words 1-3 unused,
 * words 4.. its HOT_PAGES entries; from BLOCKS_AT the block cache (block-cache.ts); from AC_AT the
 * array caches: MAX_CACHES x acSlotWords(AC_ENTRIES) (object/layout.ts); from PARKED_AT the parked
 * map, one bit per page of the segment, set for the first page of each block on the slot's block
 * cache.
 *
 * Allocation-owner map (Uint8 per page, at OWNERS): for the first page of every pool.alloc block,
 * the slot that allocated it (also while the block is parked on that slot's block cache), or
 * OWNER_PARKED for a freed block on a remote-free list; 0 for every other page.
 */
export const POOL_MAGIC = 0x4c4f4f50; // "POOL"

export const P_MAGIC = 0;
export const P_MAX_SLOTS = 1;
export const P_HOT_PAGES = 2;
export const P_REGION_WORDS = 3;
export const P_REGIONS = 4;
export const P_SEGMENT = 5;
export const P_SEGMENTS = 6;
export const P_OWNERS = 7;
export const P_POOL_ID = 8;
export const P_RECOVERIES = 11;
export const P_CACHE_ENTRIES = 12;
export const P_CACHE_BUDGET = 13;
export const P_BLOCKS_AT = 14;
export const P_AC_AT = 15;
export const P_AC_ENTRIES = 16;
export const P_AC_BYTES = 17;
export const P_ALIVE = 18;
export const P_CACHE_SHARE = 19;
export const P_PARKED_AT = 20;
export const P_MUTEX = 32;
export const P_SLOTS = 64;

export const SLOT_WORDS = 64;
export const SL_STATE = 0;
export const SL_THREAD = 1;
export const SL_FREE_OWNED = 2;
export const SL_PARKED = 4;
export const SL_INFLIGHT_CUR = 5;
export const SL_INFLIGHT_NEXT = 6;
export const SL_REMOTE_HEAD = 34;
export const SL_REMOTE_PENDING = 35;

export const OWNER_PARKED = 255;

export const SLOT_FREE = 0;
export const SLOT_ALIVE = 1;
export const SLOT_DEAD = 2;
export const SLOT_CLAIMING = 3;

export const REGION_HOT = 4;

export const DEFAULT_MAX_WORKERS = 16;
/** 128: a hot stack that holds a whole run of 2^7 pages (page/buddy.ts HOT_RUN_ORDER). */
export const DEFAULT_WORKER_HOT_PAGES = 128;
/** Blocks of 2..MAX_CACHED_PAGES pages have a per-worker cache (single pages: the hot stack). */
export const MAX_CACHED_PAGES = 8;
/** Entries of each block-cache stack: count + entries fill one 64-byte cache line. */
export const BLOCK_CACHE_ENTRIES = 15;
/**
 * Pages a worker may park by default: at most this, and at most its share of an eighth of the
 * segment among the workers attached at the moment.
 */
export const DEFAULT_WORKER_CACHE_PAGES = 512;
/** Objects and bytes a worker's array cache of one size class may hold by default. */
export const DEFAULT_WORKER_CACHE_OBJECTS = 64;
export const DEFAULT_WORKER_CACHE_BYTES = 32 * 1024;
/** Each segment is at most 1 GiB: engines refuse larger SharedArrayBuffers in practice. */
export const DEFAULT_SEGMENT_BYTES = 2 ** 30;
/** Addresses of segment i are i * SEGMENT_SPAN + offset: plain numbers, exact up to 2^53. */
export const SEGMENT_SPAN = 2 ** 32;
/** Calls a thread whose home segment was full makes elsewhere before it tries home again. */
export const RETRY_HOME = 256;
