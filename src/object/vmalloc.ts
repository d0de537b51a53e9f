/**
 * vmalloc: virtually contiguous buffers over single pages that need not be contiguous (Linux's
 * vmalloc). Useful when a large buffer is wanted but the arena is too fragmented for one block.
 *
 *     virtual:  VMALLOC_BASE + slot * 2^32 + [0 ................................ bytes)
 *                                            │ page 0 │ page 1 │ page 2 │ … │
 *     page table (metadata, arena page):     [  17   ,  4093  ,   250  , … ]  arena page indices
 *
 * Virtual addresses live far above any arena address (2^48 and up), so they cannot be confused
 * with arena addresses: free() refuses them and vfree() refuses arena addresses. Each area has a
 * slot in a fixed directory; its page table is heap metadata, taken from the reserve for tables of
 * one page or an order-2 block, so building it can neither fail half-way nor recurse. Larger
 * tables are two-level (vmalloc-table.ts), single pages from the page layer under a small
 * directory, taken before any data page, all or nothing.
 *
 * Translation costs one table read per page crossed; vread/vwrite copy page-sized runs.
 */
import { DoubleFreeError, InvalidAddressError, InvalidArgumentError, OutOfMemoryError } from "../errors.js";
import type { PageAllocator } from "../page/buddy.js";
import { copyBytes } from "../util/shared-bytes.js";
import {
  OWNER_META,
  OWNER_VMALLOC,
  R_PEAK,
  R_VM_CAPACITY,
  R_VM_COUNT,
  R_VM_HINT,
  V_BYTES,
  V_PAGES,
  V_TABLE,
  V_TABLE_PAGES,
  VM_WORDS,
  VMALLOC_AREA_SPAN,
  VMALLOC_BASE,
} from "./layout.js";
import type { Reserve, ReserveOrder } from "./reserve.js";
import { entryWord, tableShape } from "./vmalloc-table.js";

/** One area holds less than 2 GiB (its byte length is an Int32 in the directory). */
export const MAX_VMALLOC_BYTES = 2 ** 31 - 1;

export class Vmalloc {
  private readonly pages: PageAllocator;
  private readonly w: Int32Array;
  private readonly mem: Uint8Array;
  private readonly owner: Int32Array;
  private readonly reserve: Reserve;
  private readonly rw: number;
  private readonly vw: number;
  private readonly ps: number;
  private readonly account: (pages: number) => void;

  constructor(
    pages: PageAllocator,
    rootWord: number,
    vmOffset: number,
    owner: Int32Array,
    reserve: Reserve,
    account: (pages: number) => void,
  ) {
    this.pages = pages;
    this.w = pages.w;
    this.mem = pages.memory;
    this.owner = owner;
    this.reserve = reserve;
    this.rw = rootWord;
    this.vw = vmOffset >> 2;
    this.ps = pages.pageSize;
    this.account = account;
  }

  alloc(bytes: number): number {
    if (typeof bytes !== "number" || !Number.isSafeInteger(bytes) || bytes <= 0) {
      throw new InvalidArgumentError("size", bytes, "must be a positive integer number of bytes");
    }
    if (bytes > Math.min(MAX_VMALLOC_BYTES, this.pages.capacity)) {
      throw new InvalidArgumentError("size", bytes, "exceeds what one vmalloc area can map");
    }
    const w = this.w;
    const slot = this.freeSlot();
    if (slot < 0) {
      throw new OutOfMemoryError(
        bytes,
        this.pages.largestFree,
        this.pages.freeBytes,
        "quota",
        "vmalloc directory full",
      );
    }
    const n = Math.ceil(bytes / this.ps);
    const entriesPerPage = this.ps >> 2;
    const tableNeed = Math.ceil(n / entriesPerPage);
    // Tables of one page or up to four come from the reserve; larger ones from the page layer,
    // all or nothing. Nothing is taken before the data pages are known to fit.
    const fromReserve: ReserveOrder | -1 = tableNeed === 1 ? 0 : tableNeed <= 4 ? 2 : -1;
    if (n > this.pages.freePages)
      throw new OutOfMemoryError(bytes, this.pages.largestFree, this.pages.freeBytes);
    // A failure after this point undoes what was taken, the footprint's peak included.
    const peak = w[this.rw + R_PEAK];
    let table: number;
    let tablePages: number;
    // A reserve that ran short (its refill found the page layer empty) lends a table it borrows
    // now from the page layer: then the data pages must fit beside it, or the failed call would
    // leave that page in the reserve.
    let borrowed = false;
    if (fromReserve >= 0) {
      tablePages = 2 ** fromReserve;
      borrowed = !this.reserve.holds(fromReserve as ReserveOrder);
      if (borrowed && n + tablePages > this.pages.freePages) {
        throw new OutOfMemoryError(
          bytes,
          this.pages.largestFree,
          this.pages.freeBytes,
          "exhausted",
          "vmalloc data pages and a page table",
        );
      }
      table = this.reserve.take(fromReserve as ReserveOrder);
      if (table === 0) {
        throw new OutOfMemoryError(
          bytes,
          this.pages.largestFree,
          this.pages.freeBytes,
          "reserve",
          "metadata reserve empty",
        );
      }
    } else {
      const { leaves, dir } = tableShape(n, entriesPerPage);
      tablePages = dir + leaves;
      if (n + tablePages > this.pages.freePages) {
        // Not "fragmented" although the free bytes cover the request's: its table needs pages too.
        throw new OutOfMemoryError(
          bytes,
          this.pages.largestFree,
          this.pages.freeBytes,
          "exhausted",
          `${n} data pages and a ${tablePages}-page table`,
        );
      }
      table = this.takeTable(bytes, n, leaves, dir);
    }
    let data: number[];
    try {
      data = this.pages.allocBulk(n);
    } catch (e) {
      if (borrowed) this.reserve.giveBack(table, fromReserve as ReserveOrder);
      else this.putTable(table, fromReserve >= 0 ? -(fromReserve + 1) : tablePages, n);
      w[this.rw + R_PEAK] = peak;
      throw e instanceof OutOfMemoryError
        ? new OutOfMemoryError(bytes, e.largestFree, e.free, e.reason, "vmalloc data pages")
        : e;
    }
    const tp = fromReserve >= 0 ? -(fromReserve + 1) : tablePages;
    for (let i = 0; i < n; i++) {
      const page = data[i] / this.ps;
      w[entryWord(w, entriesPerPage, table, tp, i)] = page;
      this.owner[page] = OWNER_VMALLOC;
    }
    this.account(n);
    const d = this.vw + slot * VM_WORDS;
    w[d + V_TABLE] = table;
    w[d + V_PAGES] = n;
    w[d + V_BYTES] = bytes;
    w[d + V_TABLE_PAGES] = tp;
    w[this.rw + R_VM_COUNT]++;
    w[this.rw + R_VM_HINT] = slot + 1;
    this.reserve.refill();
    return VMALLOC_BASE + slot * VMALLOC_AREA_SPAN;
  }

  free(vaddress: number): void {
    const slot = this.slotOf(vaddress, true);
    const w = this.w;
    const d = this.vw + slot * VM_WORDS;
    const table = w[d + V_TABLE];
    const n = w[d + V_PAGES];
    const tp = w[d + V_TABLE_PAGES];
    const epp = this.ps >> 2;
    for (let i = 0; i < n; i++) {
      const page = w[entryWord(w, epp, table, tp, i)];
      this.owner[page] = 0;
      this.pages.free(page * this.ps);
    }
    this.account(-n);
    this.putTable(table, tp, n);
    w[d + V_TABLE] = 0;
    w[d + V_PAGES] = 0;
    w[d + V_BYTES] = 0;
    w[this.rw + R_VM_COUNT]--;
    // The hint stays where it is: slots are taken round robin, so a freed area's address is not
    // handed out again while other slots are free, and a stale vread/vwrite/vfree of it is
    // refused instead of reaching the area that took its slot.
    this.reserve.refill();
  }

  /** Bytes the area at `vaddress` was created with. */
  sizeOf(vaddress: number): number {
    return this.w[this.vw + this.slotOf(vaddress, true) * VM_WORDS + V_BYTES];
  }

  /** The arena address backing virtual address `v` (any byte of a live area). */
  translate(v: number): number {
    const { slot, offset } = this.locate(v, 1);
    const d = this.vw + slot * VM_WORDS;
    const i = Math.floor(offset / this.ps);
    const page = this.w[entryWord(this.w, this.ps >> 2, this.w[d + V_TABLE], this.w[d + V_TABLE_PAGES], i)];
    return page * this.ps + (offset % this.ps);
  }

  read(v: number, length: number): Uint8Array {
    // The range first: a length past the area must be a typed error, not the RangeError of a
    // buffer too large to make.
    const at = this.locate(v, this.checkLength(length));
    const out = new Uint8Array(length);
    this.copy(at, length, out, false);
    return out;
  }

  write(v: number, bytes: Uint8Array): number {
    if (!(bytes instanceof Uint8Array))
      throw new InvalidArgumentError("bytes", bytes, "must be a Uint8Array");
    // A view of the arena may be the area's own pages, which the copy overwrites page by page
    // before it has read all of them: copy it out first (memmove semantics).
    const at = this.locate(v, bytes.length);
    const source = bytes.buffer === this.mem.buffer ? bytes.slice() : bytes;
    this.copy(at, source.length, source, true);
    return source.length;
  }

  /** Live areas: virtual address, bytes, pages, for stats and the dashboard. */
  areas(): Array<{ vaddress: number; bytes: number; pages: number; table: number; tablePages: number }> {
    const w = this.w;
    const out = [];
    for (let s = 0; s < w[this.rw + R_VM_CAPACITY]; s++) {
      const d = this.vw + s * VM_WORDS;
      if (w[d + V_TABLE] === 0) continue;
      const tp = w[d + V_TABLE_PAGES];
      out.push({
        vaddress: VMALLOC_BASE + s * VMALLOC_AREA_SPAN,
        bytes: w[d + V_BYTES],
        pages: w[d + V_PAGES],
        table: w[d + V_TABLE],
        tablePages: tp < 0 ? 2 ** (-tp - 1) : tp,
      });
    }
    return out;
  }

  /** The arena page backing page `i` of the area at `vaddress` (for the checker). */
  pageOf(vaddress: number, i: number): number {
    const d = this.vw + this.slotOf(vaddress, true) * VM_WORDS;
    return this.w[entryWord(this.w, this.ps >> 2, this.w[d + V_TABLE], this.w[d + V_TABLE_PAGES], i)];
  }

  /** Copies `length` bytes between `buf` and the area bytes at `at` (located by locate). */
  private copy(
    at: { slot: number; offset: number },
    length: number,
    buf: Uint8Array,
    toArena: boolean,
  ): void {
    const { slot, offset } = at;
    const w = this.w;
    const d = this.vw + slot * VM_WORDS;
    const table = w[d + V_TABLE];
    const tp = w[d + V_TABLE_PAGES];
    const epp = this.ps >> 2;
    const ps = this.ps;
    let done = 0;
    let off = offset;
    while (done < length) {
      const pi = Math.floor(off / ps);
      const within = off - pi * ps;
      const run = Math.min(ps - within, length - done);
      const a = w[entryWord(w, epp, table, tp, pi)] * ps + within;
      if (toArena) copyBytes(this.mem, a, buf.subarray(done, done + run));
      else copyBytes(buf, done, this.mem.subarray(a, a + run));
      done += run;
      off += run;
    }
  }

  private checkLength(length: number): number {
    if (typeof length !== "number" || !Number.isSafeInteger(length) || length < 0) {
      throw new InvalidArgumentError("length", length, "must be a non-negative integer");
    }
    return length;
  }

  /** Slot and offset of [v, v+length) inside one live area, or a typed error. */
  private locate(v: number, length: number): { slot: number; offset: number } {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < VMALLOC_BASE) {
      throw new InvalidAddressError(v, "not a vmalloc address");
    }
    const slot = Math.floor((v - VMALLOC_BASE) / VMALLOC_AREA_SPAN);
    const offset = v - VMALLOC_BASE - slot * VMALLOC_AREA_SPAN;
    this.liveSlot(v, slot);
    const bytes = this.w[this.vw + slot * VM_WORDS + V_BYTES];
    if (offset + length > bytes) {
      throw new InvalidArgumentError(
        "range",
        `${offset}+${length}`,
        `outside the ${bytes}-byte vmalloc area`,
      );
    }
    return { slot, offset };
  }

  private slotOf(v: number, start: boolean): number {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < VMALLOC_BASE) {
      throw new InvalidAddressError(v, "not a vmalloc address");
    }
    const rel = v - VMALLOC_BASE;
    const slot = Math.floor(rel / VMALLOC_AREA_SPAN);
    if (start && rel !== slot * VMALLOC_AREA_SPAN)
      throw new InvalidAddressError(v, "not the start of a vmalloc area");
    this.liveSlot(v, slot);
    return slot;
  }

  private liveSlot(v: number, slot: number): void {
    if (slot >= this.w[this.rw + R_VM_CAPACITY]) throw new InvalidAddressError(v, "not a vmalloc address");
    if (this.w[this.vw + slot * VM_WORDS + V_TABLE] === 0)
      throw new DoubleFreeError(v, "vmalloc area is not live");
  }

  private freeSlot(): number {
    const w = this.w;
    const cap = w[this.rw + R_VM_CAPACITY];
    if (w[this.rw + R_VM_COUNT] >= cap) return -1;
    const hint = w[this.rw + R_VM_HINT];
    for (let i = 0; i < cap; i++) {
      const s = (hint + i) % cap;
      if (w[this.vw + s * VM_WORDS + V_TABLE] === 0) return s;
    }
    return -1;
  }

  /**
   * A two-level table for `n` data pages (vmalloc-table.ts): `leaves` single pages and a `dir`-page
   * directory listing them, marked as metadata; returns the directory's first page. All or nothing.
   */
  private takeTable(bytes: number, n: number, leaves: number, dir: number): number {
    const epp = this.ps >> 2;
    let table = 0;
    let single: number[];
    try {
      // One directory page (every area with pages of 4 KiB or more) is a single page like the leaves.
      if (dir > 1) table = this.pages.alloc(dir * this.ps) / this.ps;
      single = this.pages.allocBulk(leaves + (dir > 1 ? 0 : 1));
    } catch (e) {
      if (table !== 0) this.pages.free(table * this.ps);
      // The error is the caller's request, not the table's bytes.
      if (!(e instanceof OutOfMemoryError)) throw e;
      const why =
        dir > 1 && table === 0 ? `its page-table directory needs ${dir} contiguous pages` : "its page table";
      throw new OutOfMemoryError(bytes, e.largestFree, e.free, e.reason, `${why} (${n} data pages)`);
    }
    const first = dir > 1 ? 0 : 1;
    if (dir === 1) table = single[0] / this.ps;
    this.owner.fill(OWNER_META, table, table + dir);
    for (let j = 0; j < leaves; j++) {
      const leaf = single[first + j] / this.ps;
      this.w[table * epp + j] = leaf;
      this.owner[leaf] = OWNER_META;
    }
    this.account(dir + leaves);
    return table;
  }

  /** Gives back the table at `table` (TABLE_PAGES word `tp`) of an area of `n` pages. */
  private putTable(table: number, tp: number, n: number): void {
    if (tp < 0) {
      this.reserve.give(table, (-tp - 1) as ReserveOrder);
      return;
    }
    const { leaves, dir } = tableShape(n, this.ps >> 2);
    const epp = this.ps >> 2;
    for (let j = 0; j < leaves; j++) {
      const leaf = this.w[table * epp + j];
      this.owner[leaf] = 0;
      this.pages.free(leaf * this.ps);
    }
    this.owner.fill(0, table, table + dir);
    this.pages.free(table * this.ps);
    this.account(-(dir + leaves));
  }
}
