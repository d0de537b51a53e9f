/**
 * Recovery of a dead worker, state by state. A second and third attachment of the pool in this
 * thread stand for workers (each gets its own slot); the states a worker killed in the middle of an
 * operation leaves behind are written directly, in the order the code writes them, and the
 * recovery (what pool.watch() runs when a worker exits) must leave a consistent pool with nothing
 * lost. The real-thread versions are in termination.test.ts; these replay the instants exactly.
 */
import { describe, expect, it } from "vitest";
import { Mempool } from "../../src/index.js";
import { ownerSlab, S_BITMAP } from "../../src/object/layout.js";
import { S_SINGLE } from "../../src/page/layout.js";
import type { Segment } from "../../src/pool/segment.js";

const PS = 4096;

/** The creator's pool, a victim attached as another "worker", and a recovery of the victim. */
function setup() {
  const pool = Mempool.create(4 << 20);
  const fresh = pool.stats().free;
  const victim = Mempool.attach(pool.handle);
  const seg = pool.segments[0];
  const vseg = victim.segments[0];
  const recover = () => {
    seg.markDead(vseg.slot);
    expect(seg.recover(vseg.slot)).toBe(true);
  };
  return { pool, fresh, victim, seg, vseg, recover };
}

/** Pages on the victim's hot stack: single pages allocated and given back. */
function cachePages(victim: Mempool, n: number): number[] {
  const pages = Array.from({ length: n }, () => victim.alloc(PS));
  for (const p of pages) victim.free(p);
  return pages;
}

function hotCount(seg: Segment): number {
  return seg.cachedPages(seg.slot);
}

describe("recovery of a dead worker", () => {
  it("returns its hot pages, the one of a pop cut short included (S_SINGLE inside the stack)", () => {
    const { pool, fresh, victim, vseg, recover } = setup();
    cachePages(victim, 5);
    expect(hotCount(vseg)).toBeGreaterThan(0);
    // Killed inside the alloc fast path: the page is marked S_SINGLE, the count not yet lowered.
    const count = hotCount(vseg);
    const top = vseg.pages.hot[count - 1];
    vseg.pages.state[top] = S_SINGLE;
    recover();
    pool.check();
    expect(pool.stats().free).toBe(fresh);
    expect(pool.stats().recoveries).toBe(1);
  });

  it("keeps the hot pages of live workers (their stacks are not read, their pages not freed)", () => {
    const { pool, fresh, victim, recover } = setup();
    const live = Mempool.attach(pool.handle);
    const lseg = live.segments[0];
    cachePages(victim, 4);
    const mine = cachePages(live, 6);
    const before = hotCount(lseg);
    expect(before).toBeGreaterThan(0);
    recover();
    pool.check();
    expect(hotCount(lseg)).toBe(before);
    // The live worker's cached pages are still its own: taking them again hands out each once.
    const again = Array.from({ length: before }, () => live.alloc(PS));
    expect(new Set(again).size).toBe(before);
    for (const a of again) expect(mine).toContain(a);
    pool.check();
    for (const a of again) live.free(a);
    live.close();
    pool.heap.shrink();
    expect(pool.stats().free).toBe(fresh);
  });

  it("survives a death inside an array-cache flush (objects already back in their slabs)", () => {
    const { pool, fresh, victim, vseg, recover } = setup();
    const objects = Array.from({ length: 20 }, () => victim.heap.malloc(48));
    for (const a of objects) victim.heap.free(a);
    const slabs = vseg.heap.slabs;
    const c = [...Array(slabs.cacheCount).keys()].find((k) => slabs.cached(k) > 0)!;
    expect(slabs.cached(c)).toBeGreaterThan(2);
    // Killed in flush() holding the lock: the first two entries went back to their slab (bits
    // cleared), the count was not lowered yet.
    for (let i = 0; i < 2; i++) {
      const address = slabs.cachedAt(c, i);
      const page = Math.floor(address / PS);
      const slab = ownerSlab(page, slabs.owner[page]);
      const idx = Math.round((address - slab * PS - slabs.dataOffset[c]) / slabs.stride[c]);
      slabs.w[slab * (PS >> 2) + S_BITMAP + (idx >> 5)] &= ~(1 << (idx & 31));
    }
    recover();
    pool.check();
    pool.heap.shrink();
    expect(pool.stats().free).toBe(fresh);
  });

  it("charges it the blocks its owner entries name, and drops an entry left on a freed page", () => {
    const { pool, victim, seg, vseg, recover, fresh } = setup();
    const a = victim.alloc(3 * PS);
    const b = victim.alloc(PS);
    const slot = vseg.slot;
    const charged = () => {
      const c = seg.census();
      return [c.blocks[slot], c.pages[slot]];
    };
    expect(charged()).toEqual([2, 4]);
    // Killed inside pool.free of b: the page is back on the hot stack, its owner entry not yet
    // cleared. The entry is on a page that starts no allocation, so it is not charged.
    const bPage = b / PS;
    victim.free(b);
    vseg.owners[bPage] = slot;
    expect(charged()).toEqual([1, 3]);
    recover();
    expect(vseg.owners[bPage]).toBe(0);
    expect(charged()).toEqual([1, 3]);
    pool.free(a);
    expect(charged()).toEqual([0, 0]);
    pool.heap.shrink();
    expect(pool.stats().free).toBe(fresh);
    pool.check();
  });

  it("gives a new worker a slot with nothing charged to it, so a gone worker's blocks keep its name", () => {
    const { pool, victim, vseg, recover } = setup();
    const a = victim.alloc(2 * PS);
    const slot = vseg.slot;
    recover();
    const next = Mempool.attach(pool.handle);
    expect(next.segments[0].slot).not.toBe(slot);
    expect(pool.debugInfo()).toMatch(
      new RegExp(`slot ${slot} \\(thread \\d+, gone\\): 1 block\\(s\\): ${a} \\(8 KiB\\)`),
    );
    next.close();
    pool.free(a);
    pool.check();
  });
});
