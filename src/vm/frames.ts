/**
 * The frame table: what the address space knows about each of its `frames` frames. Glossary of
 * the vm layer:
 *
 * - *page*: a page-sized, page-aligned piece of a store, named by its *key*
 *   (store id * 2^32 + page index in the store); the unit of faults and eviction.
 * - *frame*: a page of the arena (from the page layer) that holds one page while it is resident.
 *   Frame slots are numbered 0..frames-1; a slot holds an arena page only while in use (busy or
 *   resident): it takes one when filled and gives it back to the page layer when freed.
 * - *mapping*: a range of virtual addresses that shows a range of a store (mappings.ts).
 * - *resident*: a page whose data is in a frame and in the index; *pending*: a page being read in
 *   or written out (accesses wait for it, fault.ts).
 *
 * Layout (parallel typed arrays, one entry per slot; no magic offsets elsewhere):
 *
 * | array    | type    | meaning                                                              |
 * |----------|---------|----------------------------------------------------------------------|
 * | addr     | Float64 | byte offset of the frame in the arena; 0 = none (a free slot)        |
 * | key      | Float64 | page key held, or -1 when the slot is free                           |
 * | state    | Uint8   | FREE, BUSY (being filled or emptied), RESIDENT                       |
 * | dirtyEnd | Int32   | 0 = clean; else every modified byte lies in [0, dirtyEnd)           |
 * | pins     | Int32   | user pins (pin()); a pinned frame is never evicted                   |
 * | refs     | Int32   | transient references held across a copy by read/write/gather         |
 * | flags    | Uint8   | F_READAHEAD: read ahead, not referenced yet                          |
 *
 * Invariants (check()): resident frames = index size = policy size; dirty = #(dirtyEnd > 0)
 * among resident frames; a free slot holds key -1, no arena page, no pins, no refs; every resident
 * page lies inside a mapping of its store (none outlives its mappings).
 *
 * State per page lives here and not in the arena (DESIGN.md principle 2 is about allocator state
 * shared between workers): an address space owns JS objects (stores, file handles, promises) that
 * no other thread could use, so it is a per-thread structure over arena frames.
 */
/** Page keys: store id * KEY_STRIDE + page index in the store. */
export const KEY_STRIDE = 2 ** 32;

export const FREE = 0;
export const BUSY = 1;
export const RESIDENT = 2;

export const F_READAHEAD = 1;

export class FrameTable {
  readonly limit: number;
  readonly addr: Float64Array;
  readonly key: Float64Array;
  readonly state: Uint8Array;
  readonly dirtyEnd: Int32Array;
  /** When a clean frame last became dirty (the pager's clock), for oldest-first writeback. */
  readonly dirtiedAt: Float64Array;
  readonly pins: Int32Array;
  readonly refs: Int32Array;
  readonly flags: Uint8Array;
  /** Slots never used yet start at `fresh`; released slots go on `freeSlots`. */
  private fresh = 0;
  private readonly freeSlots: number[] = [];

  constructor(limit: number) {
    this.limit = limit;
    this.addr = new Float64Array(limit);
    this.key = new Float64Array(limit).fill(-1);
    this.state = new Uint8Array(limit);
    this.dirtyEnd = new Int32Array(limit);
    this.dirtiedAt = new Float64Array(limit);
    this.pins = new Int32Array(limit);
    this.refs = new Int32Array(limit);
    this.flags = new Uint8Array(limit);
  }

  /** A free slot (state BUSY from now on), or -1 when all `limit` slots are in use. */
  take(): number {
    let f: number;
    if (this.freeSlots.length > 0) f = this.freeSlots.pop()!;
    else if (this.fresh < this.limit) f = this.fresh++;
    else return -1;
    this.state[f] = BUSY;
    return f;
  }

  /** Whether take() would succeed. */
  get hasFree(): boolean {
    return this.freeSlots.length > 0 || this.fresh < this.limit;
  }

  /** Slots in use (busy or resident). */
  get used(): number {
    return this.fresh - this.freeSlots.length;
  }

  /** Puts slot `f` back; its arena page stays attached unless the caller freed it. */
  release(f: number): void {
    this.key[f] = -1;
    this.state[f] = FREE;
    this.dirtyEnd[f] = 0;
    this.pins[f] = 0;
    this.refs[f] = 0;
    this.flags[f] = 0;
    this.freeSlots.push(f);
  }

  /** Slots ever used (0..touched-1), for iteration. */
  get touched(): number {
    return this.fresh;
  }
}
