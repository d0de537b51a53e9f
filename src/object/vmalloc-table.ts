/**
 * vmalloc page tables: where the arena page backing page i of an area is written.
 *
 * A table of up to 4 pages of entries (up to 4096 pages mapped with 4 KiB pages) is one block
 * lent by the metadata reserve (reserve.ts), entries in a row. A larger one is two-level, so that
 * an area never needs more contiguous memory than its directory: vmalloc is what a caller uses when
 * the arena is too fragmented for one block, and a one-block table of 5 pages or more failed there.
 *
 *     directory (DIR pages, one block)        leaf tables (single pages, anywhere)
 *     [ leaf 0 | leaf 1 | … ]  ───────────>   leaf 0: [ page of 0 | page of 1 | … ]   E entries each
 *
 * E = pageSize / 4 entries per page; LEAVES = ceil(pages / E); DIR = ceil(LEAVES / E): one page
 * for every area with pages of 4 KiB or more (areas are below 2 GiB), more only for large areas on
 * 512 B to 2 KiB pages. The area's directory entry (layout.ts V_TABLE, V_TABLE_PAGES) holds the
 * block's first page and, for a reserve block, -(order + 1), else DIR + LEAVES (every page the
 * table holds, as the heap's footprint and check() count them).
 */

/** Pages of a two-level table for `pages` mapped pages: its leaves and its directory. */
export function tableShape(pages: number, entriesPerPage: number): { leaves: number; dir: number } {
  const leaves = Math.ceil(pages / entriesPerPage);
  return { leaves, dir: Math.ceil(leaves / entriesPerPage) };
}

/**
 * Word index (in the arena's Int32 words) of entry `i` of the table at page `table` whose
 * TABLE_PAGES word is `tp` (negative: one reserve block; positive: two-level).
 */
export function entryWord(
  w: Int32Array,
  entriesPerPage: number,
  table: number,
  tp: number,
  i: number,
): number {
  if (tp < 0) return table * entriesPerPage + i;
  const leaf = w[table * entriesPerPage + Math.floor(i / entriesPerPage)];
  return leaf * entriesPerPage + (i % entriesPerPage);
}
