import type { ManualClock } from "../../src/reclaim/clock.js";
import type { DirtySource } from "../../src/reclaim/flusher.js";

/** A page cache in memory: `dirty` maps page -> time it became dirty. */
export class FakeCache implements DirtySource {
  cached: number;
  readonly dirty = new Map<number, number>();
  written: number[] = [];
  metadataSyncs = 0;
  constructor(
    private readonly clock: ManualClock,
    cached: number,
  ) {
    this.cached = cached;
  }
  cachedPages(): number {
    return this.cached;
  }
  dirtyPages(): number {
    return this.dirty.size;
  }
  dirtyPage(page: number): void {
    if (!this.dirty.has(page)) this.dirty.set(page, this.clock.now());
  }
  async writeback(count: number, dirtiedBefore?: number): Promise<number> {
    const oldest = [...this.dirty.entries()].sort((a, b) => a[1] - b[1] || a[0] - b[0]);
    let n = 0;
    for (const [page, at] of oldest) {
      if (n >= count) break;
      if (dirtiedBefore !== undefined && at >= dirtiedBefore) break;
      this.dirty.delete(page);
      this.written.push(page);
      n++;
    }
    return n;
  }
  async syncMetadata(): Promise<void> {
    this.metadataSyncs++;
  }
}
