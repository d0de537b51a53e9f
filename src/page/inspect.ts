/**
 * Reading the page layer without changing what it hands out: figures, a human dump and the
 * structural check that tests run after every operation.
 */
import { CorruptionError } from "../errors.js";
import { formatBytes } from "../util/validate.js";
import type { PageAllocator } from "./buddy.js";
import {
  L_NEXT,
  L_PREV,
  M_FREE_COUNT,
  M_FREE_HEAD,
  M_FREE_PAGES,
  M_HOT_HIGH,
  M_HOT_LIMIT,
  S_FREE_BASE,
  S_HEADER,
  S_HOT,
  S_NONE,
  S_SINGLE,
  S_USED,
} from "./layout.js";

export interface PageStats {
  /** Bytes per page. */
  pageSize: number;
  /** Usable bytes (header pages excluded). */
  total: number;
  /** Free bytes. */
  free: number;
  /** Bytes held by live allocations. */
  used: number;
  /** Largest free block, in bytes. */
  contiguous: number;
  /** Live allocations. */
  allocations: number;
  /** Free blocks on each order's list, index = order. */
  freeBlocksPerOrder: number[];
  /**
   * Unusable free space index for the largest order (Gorman's Fu(maxOrder)): the share of free
   * memory held in blocks smaller than a max-order block, from 0 (none) to 1 (all of it).
   */
  fragmentation: number;
  /** Tunables and geometry. */
  maxOrder: number;
  headerPages: number;
  hotCapacity: number;
}

/** Unusable free space index at `order`: free memory in blocks below that order / all free memory. */
export function fragmentationIndex(pages: PageAllocator, order: number): number {
  const w = pages.w;
  const free = w[pages.mb + M_FREE_PAGES];
  if (free === 0) return 0;
  let usable = 0;
  for (let o = order; o <= pages.maxOrder; o++) usable += w[pages.mb + M_FREE_COUNT + o] * 2 ** o;
  return (free - usable) / free;
}

export function pageStats(pages: PageAllocator): PageStats {
  pages.drainHot();
  const w = pages.w;
  const m = pages.mb;
  const freeBlocksPerOrder: number[] = [];
  for (let o = 0; o <= pages.maxOrder; o++) freeBlocksPerOrder.push(w[m + M_FREE_COUNT + o]);
  return {
    pageSize: pages.pageSize,
    total: pages.capacity,
    free: pages.freeBytes,
    used: pages.capacity - pages.freeBytes,
    contiguous: pages.largestFree,
    allocations: countAllocations(pages),
    freeBlocksPerOrder,
    fragmentation: fragmentationIndex(pages, pages.maxOrder),
    maxOrder: pages.maxOrder,
    headerPages: pages.firstPage,
    hotCapacity: pages.hot.length,
  };
}

/** Live allocations, by walking the blocks (not kept as a counter so that free stays short). */
function countAllocations(pages: PageAllocator): number {
  const { state, run, pageCount } = pages;
  let n = 0;
  let p = pages.firstPage;
  while (p < pageCount) {
    const s = state[p];
    if (s === S_USED) {
      n++;
      p += run[p];
    } else if (s === S_SINGLE) {
      n++;
      p++;
    } else {
      p += s === S_HOT ? 1 : 2 ** (s - S_FREE_BASE);
    }
  }
  return n;
}

/**
 * Live allocations by order: an allocation of n pages counts at order ceil(log2 n), the order of
 * the smallest block that could hold it. The counterpart of PageStats.freeBlocksPerOrder.
 */
export function usedBlocksPerOrder(pages: PageAllocator): number[] {
  const { state, run, pageCount } = pages;
  const out = new Array<number>(pages.maxOrder + 1).fill(0);
  let p = pages.firstPage;
  while (p < pageCount) {
    const s = state[p];
    if (s === S_USED || s === S_SINGLE) {
      const n = s === S_SINGLE ? 1 : Math.max(1, run[p]);
      const o = Math.ceil(Math.log2(n));
      while (out.length <= o) out.push(0);
      out[o]++;
      p += n;
    } else {
      p += s >= S_FREE_BASE && s < S_USED ? 2 ** (s - S_FREE_BASE) : 1;
    }
  }
  return out;
}

/** Map cell characters: what the pages a cell covers are. */
const CELL_FREE = ".";
const CELL_USED = "#";
const CELL_MIXED = "+";
const CELL_HEADER = "H";
const MAP_CELLS = 256;
const MAP_LINE = 64;

export function pageDebugInfo(pages: PageAllocator): string {
  const s = pageStats(pages);
  const lines = [
    `PageAllocator: ${formatBytes(s.total)} usable in ${s.total / s.pageSize} pages of ${formatBytes(s.pageSize)}` +
      ` (+${s.headerPages} header pages), maxOrder ${s.maxOrder}`,
    `free ${formatBytes(s.free)}, used ${formatBytes(s.used)} in ${s.allocations} allocations, ` +
      `largest free block ${formatBytes(s.contiguous)}, fragmentation ${s.fragmentation.toFixed(3)}`,
    "free blocks per order:",
  ];
  for (let o = 0; o <= s.maxOrder; o++) {
    lines.push(
      `  order ${String(o).padStart(2)} (${formatBytes(s.pageSize * 2 ** o)}): ${s.freeBlocksPerOrder[o]}`,
    );
  }
  const kinds = pageKinds(pages);
  const per = Math.max(1, Math.ceil(pages.pageCount / MAP_CELLS));
  lines.push(
    `map (${per} page${per > 1 ? "s" : ""} per cell; ${CELL_HEADER} header, ${CELL_USED} used, ` +
      `${CELL_FREE} free, ${CELL_MIXED} mixed):`,
  );
  let row = "";
  for (let start = 0; start < pages.pageCount; start += per) {
    let free = 0;
    let used = 0;
    let header = 0;
    const end = Math.min(pages.pageCount, start + per);
    for (let p = start; p < end; p++) {
      if (kinds[p] === KIND_FREE) free++;
      else if (kinds[p] === KIND_HEADER) header++;
      else used++;
    }
    const n = end - start;
    row += header > 0 ? CELL_HEADER : free === n ? CELL_FREE : used === n ? CELL_USED : CELL_MIXED;
    if (row.length === MAP_LINE) {
      lines.push(`  ${row}`);
      row = "";
    }
  }
  if (row) lines.push(`  ${row}`);
  return lines.join("\n");
}

const KIND_FREE = 0;
const KIND_USED = 1;
const KIND_HEADER = 2;

/** What each page is, by walking the blocks in address order. */
function pageKinds(pages: PageAllocator): Uint8Array {
  const kinds = new Uint8Array(pages.pageCount);
  let p = 0;
  while (p < pages.pageCount) {
    const s = pages.state[p];
    const used = s === S_USED || s === S_SINGLE;
    const n =
      s === S_HEADER || s === S_USED
        ? pages.run[p]
        : s === S_HOT || s === S_SINGLE
          ? 1
          : 2 ** (s - S_FREE_BASE);
    kinds.fill(s === S_HEADER ? KIND_HEADER : used ? KIND_USED : KIND_FREE, p, p + n);
    p += Math.max(1, n);
  }
  return kinds;
}

/**
 * Walks every structure and throws CorruptionError at the first broken invariant:
 * coverage (every page in exactly one block, hot page or allocation), alignment of free blocks,
 * complete coalescing, well-formed doubly linked free lists, and exact counters.
 */
export function pageCheck(pages: PageAllocator): void {
  const { state, run, w, mb, pageCount, firstPage, maxOrder } = pages;
  const fail = (what: string): never => {
    throw new CorruptionError(what);
  };
  if (state[0] !== S_HEADER || run[0] !== firstPage) fail("header pages are not marked");
  const freeCount = new Array<number>(maxOrder + 1).fill(0);
  let freePages = 0;
  let usedPages = 0;
  let hotSeen = 0;
  const checkInterior = (p: number, n: number) => {
    for (let i = p + 1; i < p + n; i++)
      if (state[i] !== S_NONE) fail(`page ${i} inside block ${p} has a state`);
  };
  checkInterior(0, firstPage);
  let p = firstPage;
  while (p < pageCount) {
    const s = state[p];
    if (s >= S_FREE_BASE && s <= S_FREE_BASE + maxOrder) {
      const o = s - S_FREE_BASE;
      const n = 2 ** o;
      if (p % n !== 0) fail(`free block ${p} of order ${o} is misaligned`);
      if (p + n > pageCount) fail(`free block ${p} of order ${o} runs past the arena`);
      if (o < maxOrder) {
        const buddy = p ^ n;
        if (buddy < pageCount && state[buddy] === s)
          fail(`free buddies ${p} and ${buddy} of order ${o} not merged`);
      }
      checkInterior(p, n);
      freeCount[o]++;
      freePages += n;
      p += n;
    } else if (s === S_USED) {
      const n = run[p];
      if (!(n >= 1 && p + n <= pageCount)) fail(`allocation at page ${p} has bad length ${n}`);
      checkInterior(p, n);
      usedPages += n;
      p += n;
    } else if (s === S_SINGLE) {
      usedPages++;
      p++;
    } else if (s === S_HOT) {
      hotSeen++;
      p++;
    } else {
      fail(`page ${p} is not covered by any block (state ${s})`);
    }
  }
  for (let o = 0; o <= maxOrder; o++) {
    const stored = w[mb + M_FREE_COUNT + o];
    if (stored !== freeCount[o]) fail(`order ${o}: ${freeCount[o]} free blocks but count says ${stored}`);
    let node = w[mb + M_FREE_HEAD + o];
    let prev = 0;
    let walked = 0;
    while (node !== 0) {
      if (++walked > stored) fail(`order ${o}: free list longer than its count (cycle?)`);
      if (node < firstPage || node >= pageCount || state[node] !== S_FREE_BASE + o) {
        fail(`order ${o}: list holds page ${node} which is not a free block of that order`);
      }
      const base = node * (pages.pageSize >> 2);
      if (w[base + L_PREV] !== prev) fail(`order ${o}: back link of page ${node} is wrong`);
      prev = node;
      node = w[base + L_NEXT];
    }
    if (walked !== stored) fail(`order ${o}: list has ${walked} blocks, count says ${stored}`);
  }
  const limit = w[mb + M_HOT_LIMIT];
  if (limit < 0 || limit > w[mb + M_HOT_HIGH]) fail(`hot limit ${limit} outside 0..${w[mb + M_HOT_HIGH]}`);
  let hotCount = 0;
  for (const stack of [pages.ownHotStack(), ...pages.otherHotStacks()]) {
    if (stack.count > stack.pages.length)
      fail(`a hot stack holds ${stack.count} of ${stack.pages.length} slots`);
    for (let i = 0; i < stack.count; i++) {
      if (state[stack.pages[i]] !== S_HOT)
        fail(`hot slot ${i} holds page ${stack.pages[i]} which is not hot`);
    }
    hotCount += stack.count;
  }
  if (hotSeen !== hotCount) fail(`hot stacks hold ${hotCount}, map shows ${hotSeen}`);
  if (w[mb + M_FREE_PAGES] !== freePages) fail(`free page counter ${w[mb + M_FREE_PAGES]} != ${freePages}`);
  if (freePages + hotCount + usedPages + firstPage !== pageCount) fail("pages are not all accounted for");
}
