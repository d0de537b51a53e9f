/**
 * The pages waiting for a batch record (replicator.ts): per block or MAP region, page index →
 * the page's dirty extent, the bytes [lo, hi) written since its last cut. A page written ten times
 * before its cut is one entry whose extent covers all ten writes.
 *
 *   block ──► page ──► lo + hi × EXTENT       (both ≤ PAGE_SIZE, so one number holds both)
 */
import type { Capability } from "../service/capabilities.js";

/** Packs a page extent [lo, hi) into one number: lo + hi × EXTENT (both ≤ PAGE_SIZE). */
export const EXTENT = 8192;

/** One dirty page: its block, its index, its packed extent. */
export type DirtyPage = [cap: Capability, page: number, extent: number];

export function extentLo(x: number): number {
  return x % EXTENT;
}

export function extentHi(x: number): number {
  return Math.floor(x / EXTENT);
}

export class DirtyPages {
  private readonly blocks = new Map<Capability, Map<number, number>>();
  /** Dirty pages of all blocks together. */
  pending = 0;

  /** Bytes [lo, hi) of page `page` of `cap` are dirty (merged with what already is). */
  mark(cap: Capability, page: number, lo: number, hi: number): void {
    let pages = this.blocks.get(cap);
    if (pages === undefined) {
      pages = new Map();
      this.blocks.set(cap, pages);
    }
    const x = pages.get(page);
    if (x === undefined) this.pending++;
    else {
      lo = Math.min(lo, extentLo(x));
      hi = Math.max(hi, extentHi(x));
    }
    pages.set(page, lo + hi * EXTENT);
  }

  /** Forgets the pages of a block that was freed. */
  drop(cap: Capability): void {
    const pages = this.blocks.get(cap);
    if (pages === undefined) return;
    this.pending -= pages.size;
    this.blocks.delete(cap);
  }

  has(cap: Capability): boolean {
    return this.blocks.has(cap);
  }

  /** The blocks that have dirty pages now. */
  owners(): Capability[] {
    return [...this.blocks.keys()];
  }

  /**
   * Takes out the pages of every block but those `keep` names, blocks and MAP regions apart, in
   * the order they were first dirtied.
   */
  take(keep: (cap: Capability) => boolean): { anon: DirtyPage[]; map: DirtyPage[] } {
    const anon: DirtyPage[] = [];
    const map: DirtyPage[] = [];
    for (const [cap, pages] of this.blocks) {
      if (keep(cap)) continue;
      const into = cap.kind === "map" ? map : anon;
      for (const [p, x] of pages) into.push([cap, p, x]);
      this.pending -= pages.size;
      this.blocks.delete(cap);
    }
    return { anon, map };
  }

  /** Puts back pages taken out and not cut: `pages` from index `from` on. */
  restore(pages: readonly DirtyPage[], from: number): void {
    for (let i = from; i < pages.length; i++) {
      const [cap, p, x] = pages[i];
      this.mark(cap, p, extentLo(x), extentHi(x));
    }
  }
}
