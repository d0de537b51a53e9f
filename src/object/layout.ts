/**
 * The object layer's structures inside the arena.
 *
 * Glossary: a *cache* hands out objects of one size; it owns *slabs*, each 2^slabOrder pages from
 * the page layer with a header at its start; an *object* is a slot in a slab. kmalloc is a set of
 * caches, one per size class; requests above the largest class are *large* and go to the page
 * layer whole. A *vmalloc area* is a virtually contiguous buffer over single pages.
 *
 * Heap root (Int32 words at the root pages, whose index the arena header keeps in ROOT_HEAP):
 *
 * | word | name            | meaning                                                        |
 * |------|-----------------|----------------------------------------------------------------|
 * | 0    | MAGIC           | HEAP_MAGIC                                                     |
 * | 1    | ROOT_PAGES      | pages the root occupies (this struct and the tables after it)  |
 * | 2    | CACHE_COUNT     | caches in the directory (kmalloc classes first)                |
 * | 3    | MAX_CACHES      | directory capacity                                             |
 * | 4    | CLASS_COUNT     | kmalloc size classes (caches 0..CLASS_COUNT-1)                 |
 * | 5    | FOOTPRINT       | pages the heap holds from the page layer right now             |
 * | 6    | PEAK            | high-water mark of FOOTPRINT                                   |
 * | 7    | FLAGS           | bit 0: debug (red zones and poisoning)                         |
 * | 8    | OWNER_OFFSET    | byte offset of the page-owner map                              |
 * | 9    | DIR_OFFSET      | byte offset of the cache directory                             |
 * | 10   | VM_OFFSET       | byte offset of the vmalloc area directory                      |
 * | 11   | VM_CAPACITY     | vmalloc areas the directory holds                              |
 * | 12   | VM_COUNT        | live vmalloc areas                                             |
 * | 13   | VM_HINT         | slot after the last one taken: the next search starts there    |
 * | 14   | RESERVE_OFFSET  | byte offset of the metadata reserve                            |
 * | 15   | LARGE_COUNT     | live large allocations                                         |
 * | 16   | LARGE_PAGES     | pages held by live large allocations                           |
 * | 17   | MAX_EMPTY       | empty slabs a cache keeps before returning them                |
 * | 18   | TRIM_GROWN      | pages the high-water mark grew by since the last trim          |
 * | 19   | TRIMS           | trims so far (slab.ts Slabs.trim)                              |
 * | 20   | RUN_PAGES       | pages held by the large-run cache (large-runs.ts)              |
 * | 32+n | RUN_HEAD[n]     | first cached large run of n pages, 0 = none (n <= RUN_CACHE_PAGES) |
 *
 * After it: the page-owner map (Int32 per arena page, see slabOwner below; OWNER_LARGE for the
 * first page of a large allocation, OWNER_META for heap metadata (root, reserve, vmalloc page
 * tables), OWNER_VMALLOC for pages backing vmalloc areas, cachedOwner(next) for the first page of
 * a freed large run the heap keeps for reuse, 0 for pages the heap does not own), the cache
 * directory (MAX_CACHES descriptors), the vmalloc directory and the reserve.
 */
export const HEAP_MAGIC = 0x50414548; // "HEAP"

export const R_MAGIC = 0;
export const R_ROOT_PAGES = 1;
export const R_CACHE_COUNT = 2;
export const R_MAX_CACHES = 3;
export const R_CLASS_COUNT = 4;
export const R_FOOTPRINT = 5;
export const R_PEAK = 6;
export const R_FLAGS = 7;
export const R_OWNER_OFFSET = 8;
export const R_DIR_OFFSET = 9;
export const R_VM_OFFSET = 10;
export const R_VM_CAPACITY = 11;
export const R_VM_COUNT = 12;
export const R_VM_HINT = 13;
export const R_RESERVE_OFFSET = 14;
export const R_LARGE_COUNT = 15;
export const R_LARGE_PAGES = 16;
export const R_MAX_EMPTY = 17;
export const R_TRIM_GROWN = 18;
export const R_TRIMS = 19;
export const R_RUN_PAGES = 20;
export const R_RUN_HEAD = 32;
/** Freed large runs of up to this many pages are kept for reuse (large-runs.ts). */
export const RUN_CACHE_PAGES = 16;
/**
 * Before the footprint sets a new high-water mark, the heap trims its idle memory (array caches,
 * empty slabs) if the mark grew by at least 1/2^TRIM_SHIFT of itself since the last trim: every
 * page of growth on a small heap, a trim per 1/64 of growth on a large one, so trims stay rare.
 */
export const TRIM_SHIFT = 6;
export const SIZEOF_ROOT = 64 * 4;

export const FLAG_DEBUG = 1;

export const OWNER_NONE = 0;
export const OWNER_LARGE = -1;
export const OWNER_META = -2;
export const OWNER_VMALLOC = -3;
/**
 * Owner-map entries at or below OWNER_CACHED_END mark the first page of a cached large run and
 * link its list (large-runs.ts): cachedOwner(next), where next is the next run's first page, or 0
 * at the end of the list.
 */
export const OWNER_CACHED_END = -8;
export function cachedOwner(next: number): number {
  return OWNER_CACHED_END - next;
}
export function cachedNext(owner: number): number {
  return OWNER_CACHED_END - owner;
}

/**
 * Owner-map entry of a page that belongs to a slab: the cache and the slab's order in the high
 * bits, and the page's distance from the slab's first page (plus one, so the entry is never 0) in
 * the low 6 bits:
 *
 *     | cache (bits 9..30) | order (bits 6..8) | back + 1 (bits 0..5) |
 *     \_______ geometry: entry >> 6 = cache * 8 + order _______/
 *
 * So free() finds the cache, the slab and the slab's geometry (objects per slab, data offset:
 * a cache's slabs grow in order as it grows, slab.ts) of any address with one read of a small map,
 * without touching the slab itself. Slabs have at most 2^5 pages (size-classes.ts), so the
 * distance fits.
 */
export function slabOwner(cache: number, order: number, back: number): number {
  return ((cache * ORDERS_PER_CACHE + order) << 6) + back + 1;
}
/** Slab orders a cache can have: the geometry index of (cache, order) is cache * 8 + order. */
export const ORDERS_PER_CACHE = 8;
export function ownerCache(owner: number): number {
  return owner >> 9;
}
/** Geometry index (cache * ORDERS_PER_CACHE + order) of a slab page's owner-map entry. */
export function ownerGeometry(owner: number): number {
  return owner >> 6;
}
export function ownerOrder(owner: number): number {
  return (owner >> 6) & 7;
}
export function ownerSlab(page: number, owner: number): number {
  return page - (owner & 63) + 1;
}

/**
 * Cache descriptor (Int32 words, CACHE_WORDS per cache in the directory):
 *
 * | word | name          | meaning                                                         |
 * |------|---------------|-----------------------------------------------------------------|
 * | 0    | SIZE          | object size the caller asked for                                |
 * | 1    | STRIDE        | bytes between objects (size, red zone and alignment included)   |
 * | 2    | ALIGN         | object alignment                                                |
 * | 3    | SLAB_ORDER    | the cache's first slabs are 2^SLAB_ORDER pages                  |
 * | 4    | PER_SLAB      | objects per first slab                                          |
 * | 5    | DATA_OFFSET   | bytes from a first slab's start to its first object             |
 * | 6    | BITMAP_WORDS  | Int32 words of a first slab's bitmap                            |
 * | 7    | PARTIAL       | first slab with free and used objects (page index, 0 = none)    |
 * | 8    | (reserved)    | full slabs are on no list (slab.ts)                             |
 * | 9    | EMPTY         | first slab with no used object                                  |
 * | 10   | SLABS         | slabs the cache holds                                           |
 * | 11   | EMPTY_COUNT   | slabs on the EMPTY list                                         |
 * | 12   | FLAGS         | bit 0 live, bit 1 kmalloc class, bit 2 debug, bit 3 internal,   |
 * |      |               | bit 4 constructed (made with a ctor: free objects keep its work)|
 * | 13   | INUSE         | objects in use (kept off the hot path: updated per slab move)   |
 * | 14   | MAX_ORDER     | order the cache's slabs grow to as it grows (slab.ts slabOrder) |
 * | 15   | PAGES         | pages in the cache's slabs                                      |
 * | 16-31| NAME          | up to 63 bytes of UTF-8, NUL-padded                             |
 * | 32   | AC_AVAIL      | objects on the array cache                                      |
 * | 33   | AC_LIMIT      | array cache capacity (0: no array cache, e.g. debug caches)     |
 * | 34   | AC_BATCH      | objects returned to their slabs when the array cache is full    |
 * | 36-63| AC_ENTRIES    | AC_LIMIT object addresses as Float64 (8-byte aligned)           |
 *
 * A slab of order k between SLAB_ORDER and MAX_ORDER holds the objects fitObjects(2^k pages)
 * gives (size-classes.ts): the geometry of every order follows from STRIDE and ALIGN.
 *
 * The array cache (Linux SLAB's array_cache, Bonwick's magazine) is a LIFO of objects freed
 * recently. They stay marked used in their slab's bitmap; free() pushes and alloc() pops without
 * touching any slab header, so the common alloc/free costs no cache miss beyond the object itself.
 * Every free object of a cache with an array cache carries FREE_TAG in its first bytes: objects of
 * a new slab are tagged, a free tags the object, and handing one out clears the tag. So free() can
 * tell a live object from a free one by its first word, without reading the slab's bitmap, and a
 * second free is caught at once (a user's data that happens to equal the tag only sends that free
 * down the slow, exact path). check() verifies the tags.
 */
export const CACHE_WORDS = 64;
export const C_SIZE = 0;
export const C_STRIDE = 1;
export const C_ALIGN = 2;
export const C_SLAB_ORDER = 3;
export const C_PER_SLAB = 4;
export const C_DATA_OFFSET = 5;
export const C_BITMAP_WORDS = 6;
export const C_PARTIAL = 7;
export const C_EMPTY = 9;
export const C_SLABS = 10;
export const C_EMPTY_COUNT = 11;
export const C_FLAGS = 12;
export const C_MAX_ORDER = 14;
export const C_PAGES = 15;
export const C_NAME = 16;
export const NAME_BYTES = 64;
export const C_AC_AVAIL = 32;
export const C_AC_LIMIT = 33;
export const C_AC_BATCH = 34;
export const C_AC_ENTRIES = 36;
export const AC_MAX_LIMIT = (CACHE_WORDS - C_AC_ENTRIES) / 2;
/** First bytes of an object on an array cache: "FREE" in ASCII. */
export const FREE_TAG = [0x46, 0x52, 0x45, 0x45];
/**
 * A pool gives every worker its own array caches, in a region of acSlotWords(entries) words per
 * cache: word 0 the count, word AC_SLOT_HELD the worker's current slab of that cache (page
 * index, 0 = none; slab.ts heldSlab), entries (Float64) from word AC_SLOT_ENTRIES. The pool chooses `entries`
 * (larger than a descriptor's AC_MAX_LIMIT: a worker's refills and flushes take the pool's lock);
 * each cache's capacity in a region is regionAcLimit(), the same for every worker.
 */
export const AC_SLOT_HELD = 1;
export const AC_SLOT_ENTRIES = 4;
export function acSlotWords(entries: number): number {
  return AC_SLOT_ENTRIES + 2 * entries;
}
/**
 * Capacity of a region's array cache for a cache whose descriptor allows `descriptorLimit` (0: no
 * array cache): at most `entries` objects and `bytes` bytes, never below the descriptor's.
 */
export function regionAcLimit(
  descriptorLimit: number,
  stride: number,
  entries: number,
  bytes: number,
): number {
  if (descriptorLimit === 0) return 0;
  return Math.min(entries, Math.max(descriptorLimit, Math.floor(bytes / stride)));
}
/** Objects smaller than the tag get no array cache. */
export const MIN_AC_OBJECT = 4;

export const CF_LIVE = 1;
export const CF_KMALLOC = 2;
export const CF_DEBUG = 4;
/**
 * The cache has a constructor. Its function lives only in the creating thread (Slabs.ctors), so
 * another thread freeing one of its objects learns from this bit not to poison it.
 */
export const CF_CTOR = 16;

/**
 * Slab header, at the start of every slab (Int32 words); the bitmap follows it directly, one bit
 * per object, 0 free and 1 used, as in the classic design. Bits past PER_SLAB in the last word
 * are kept at 1 so a scan never hands them out.
 *
 * | word | name     | meaning                                                              |
 * |------|----------|----------------------------------------------------------------------|
 * | 0    | CACHE    | index of the owning cache in the directory                           |
 * | 1    | INUSE    | objects in use                                                       |
 * | 2    | NEXT     | next slab on the same list (page index, 0 = end)                     |
 * | 3    | PREV     | previous slab on the same list (page index, 0 = head)                |
 * | 4    | HINT     | bitmap word where the search for a free bit starts (no free bit below) |
 * | 5    | LIST     | bits 0-1: LIST_PARTIAL or LIST_EMPTY (linked), or LIST_FULL (on no   |
 * |      |          | list); in a pool, bits 4..: the slot of the worker holding the slab  |
 * |      |          | (partial or full, 0: none) and bit 3, LIST_CURRENT: the slab it       |
 * |      |          | refills from, which stays on the partial list when it empties        |
 * | 6..  | BITMAP   | BITMAP_WORDS words                                                   |
 *
 * For 117-byte objects on one 4096-byte page: 24 header bytes + 8 bitmap bytes = 32, and
 * (4096 - 32) / 117 = 34 objects, as in the seed's hand-laid slab (its 118 header bytes are an
 * upper bound: 34 objects leave 118 bytes).
 */
export const S_CACHE = 0;
export const S_INUSE = 1;
export const S_NEXT = 2;
export const S_PREV = 3;
export const S_HINT = 4;
export const S_LIST = 5;
export const S_BITMAP = 6;
export const SIZEOF_SLAB_HEADER = S_BITMAP * 4;

export const LIST_PARTIAL = 0;
export const LIST_FULL = 1;
export const LIST_EMPTY = 2;
export const LIST_MASK = 3;
/** A pool worker's current slab of its cache (slab.ts heldSlab). */
export const LIST_CURRENT = 8;
/** The slot of the pool worker holding a slab, in the LIST word from this bit (slab.ts heldSlab). */
export const HOLDER_SHIFT = 4;

/** Virtual addresses of vmalloc areas: far above any arena address, exact as doubles. */
export const VMALLOC_BASE = 2 ** 48;
export const VMALLOC_AREA_SPAN = 2 ** 32;

/**
 * vmalloc directory entry (Int32 words, VM_WORDS per area):
 *
 * | word | name    | meaning                                                    |
 * |------|---------|------------------------------------------------------------|
 * | 0    | TABLE   | first page of the area's page table or directory (0 = slot free) |
 * | 1    | PAGES   | pages mapped                                               |
 * | 2    | BYTES   | bytes the caller asked for                                 |
 * | 3    | TABLE_PAGES | pages of a two-level table (directory and leaves), or -(order+1) for a reserve block |
 *
 * The page table holds one Int32 per mapped page, the arena page index that backs it: in a row in
 * a reserve block, or in leaf pages listed by a directory (vmalloc-table.ts).
 */
export const VM_WORDS = 4;
export const V_TABLE = 0;
export const V_PAGES = 1;
export const V_BYTES = 2;
export const V_TABLE_PAGES = 3;

/** Reads a NUL-padded UTF-8 name from the directory. */
export function readName(mem: Uint8Array, offset: number): string {
  let end = offset;
  while (end < offset + NAME_BYTES && mem[end] !== 0) end++;
  return new TextDecoder().decode(mem.subarray(offset, end));
}

/** Writes a name, truncated to fit, NUL-padded. */
export function writeName(mem: Uint8Array, offset: number, name: string): void {
  const bytes = new TextEncoder().encode(name).subarray(0, NAME_BYTES - 1);
  mem.fill(0, offset, offset + NAME_BYTES);
  mem.set(bytes, offset);
}
