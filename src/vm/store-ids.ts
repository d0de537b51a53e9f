/**
 * Store ids: the high part of page keys (key = id * KEY_STRIDE + page, frames.ts). Keys are
 * doubles, exact only below 2^53, so ids stay below 2^53 / KEY_STRIDE = 2^21: past that, the keys
 * of neighbouring pages of one store round to the same number and their bytes mix.
 *
 * An id is given to a store at its first mapping and back when its last mapping goes (a space
 * that maps and unmaps a new store per region, as the service does, would otherwise run through
 * 2^21 ids, and keep every store object it ever saw). Fresh ids come first, up to `fresh`; then
 * freed ids are reused, the longest-free first: a replacement policy may still hold history of the
 * old store's pages under those keys, and the older it is, the less it weighs.
 */
import { KEY_STRIDE } from "./frames.js";

/** The largest id whose keys are all exact: (2^21 - 1) * 2^32 + 2^32 - 1 = 2^53 - 1. */
export const MAX_STORE_ID = Math.floor(Number.MAX_SAFE_INTEGER / KEY_STRIDE);

export class StoreIds {
  readonly fresh: number;
  readonly max: number;
  private next = 1;
  /** Freed ids, in the order they were freed (a Set keeps insertion order). */
  private readonly freed = new Set<number>();

  constructor(fresh = 2 ** 20, max = MAX_STORE_ID) {
    this.fresh = Math.min(fresh, max);
    this.max = max;
  }

  /** Ids in use. */
  get used(): number {
    return this.next - 1 - this.freed.size;
  }

  /** Whether take() would succeed. */
  get available(): boolean {
    return this.next <= this.max || this.freed.size > 0;
  }

  /** An id, or -1 when all `max` are in use. */
  take(): number {
    if (this.next <= this.fresh || (this.freed.size === 0 && this.next <= this.max)) return this.next++;
    for (const id of this.freed) {
      this.freed.delete(id);
      return id;
    }
    return -1;
  }

  release(id: number): void {
    this.freed.add(id);
  }
}
