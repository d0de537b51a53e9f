/**
 * Pins: ranges whose pages stay resident until release(), for zero-copy work on the frames.
 *
 *     pin(v, n) ─> record the pin (dontneed and unmap see it from its first await: EBUSY)
 *               ─> per page: acquire (fault if absent), pins[f]++, unref
 *               ─> views per page; `bytes` a view of the arena when the frames happen to be
 *                  adjacent, else a copy whose changed bytes are written back on release()
 *     release() ─> changed bytes back (if copied and writable), dirty marks, pins[f]--, record gone
 *
 * A pinned frame is never a victim (fault.ts evictable()); when every frame is pinned a fault
 * fails at once with OutOfMemoryError "all-pinned", and debugInfo() names the pins' owners.
 * Pins end with terminate(): release() then does nothing (the frames may be another space's).
 */
import { DoubleFreeError, InvalidAddressError, InvalidArgumentError } from "../errors.js";
import { acquireTarget } from "./access.js";
import type { SpaceState } from "./space-state.js";

/** A pinned range: its pages stay resident until release(). */
export interface PinnedRange {
  readonly address: number;
  readonly length: number;
  readonly owner: string;
  /**
   * The range's bytes. A view of the frames (zero-copy) when the range lies in one page or its
   * frames happen to be adjacent in the arena; otherwise a copy, whose bytes the holder changed
   * are written back on release().
   */
  readonly bytes: Uint8Array;
  /** Whether `bytes` is a view of the frames. */
  readonly zeroCopy: boolean;
  /** Zero-copy views of each page's part of the range, in order. */
  readonly pages: readonly Uint8Array[];
  /** Unpins (and writes a copied `bytes` back). A second call throws InvalidAddressError EDOUBLEFREE. */
  release(): void;
}

/**
 * Pins the pages of [v, v + length) in memory and returns views of them. `owner` names the pin
 * in debugInfo().
 */
export async function pinRange(
  s: SpaceState,
  v: number,
  length: number,
  options: { owner?: string; write?: boolean } = {},
): Promise<PinnedRange> {
  s.open();
  const m = s.range(v, length, false);
  if (options === null || typeof options !== "object")
    throw new InvalidArgumentError("options", options, "must be an object");
  const owner = options.owner ?? `pin #${s.nextPinId}`;
  if (typeof owner !== "string") throw new InvalidArgumentError("owner", owner, "must be a string");
  const write = options.write ?? m.writable;
  if (typeof write !== "boolean") throw new InvalidArgumentError("write", write, "must be a boolean");
  if (write && !m.writable) throw new InvalidAddressError(v, "mapping is read-only", "EACCES");
  const ps = s.pageSize;
  const firstPage = Math.floor((v - m.start) / ps);
  const lastPage = Math.floor((v + length - 1 - m.start) / ps);
  const count = lastPage - firstPage + 1;
  if (count > s.frameLimit) {
    throw new InvalidArgumentError(
      "length",
      length,
      `pins ${count} pages but the space has ${s.frameLimit} frames`,
    );
  }
  const pager = s.pager;
  const fr = pager.frames;
  const base = s.baseKey(m);
  const frames: number[] = [];
  // The pin is on record from its first await: its pages fault in one after another, and a
  // dontneed or unmap beginning meanwhile must see it (EBUSY) rather than drop the pages it holds.
  const id = s.nextPinId++;
  s.pinRecords.set(id, { id, owner, address: v, length, frames });
  try {
    for (let page = firstPage; page <= lastPage; page++) {
      const f = await pager.acquire(base + page, acquireTarget(s, m, page));
      fr.pins[f]++;
      pager.unref(f);
      frames.push(f);
      // As read() does: the next page's fault reads ahead (a pin of n pages was n faults, each its
      // own store round trip). Not the eviction front (readOnce, drop-behind): pinned pages there
      // would be passed over by every fault's scan of it for as long as the pin lasts.
      m.lastPage = page;
    }
  } catch (e) {
    // A kill released the frames, pins and all.
    if (s.deadError === null) for (const f of frames) fr.pins[f]--;
    s.pinRecords.delete(id);
    pager.notify();
    throw e;
  }
  const views: Uint8Array[] = frames.map((f, i) => {
    const from = i === 0 ? v - m.start - firstPage * ps : 0;
    const to = i === count - 1 ? v + length - m.start - lastPage * ps : ps;
    return pager.view(f).subarray(from, to);
  });
  let adjacent = true;
  for (let i = 1; i < count; i++) if (fr.addr[frames[i]] !== fr.addr[frames[i - 1]] + ps) adjacent = false;
  const startAddr = fr.addr[frames[0]] + (v - m.start - firstPage * ps);
  const bytes = adjacent ? s.source.view(startAddr, length) : new Uint8Array(length);
  if (!adjacent) {
    let o = 0;
    for (const view of views) {
      bytes.set(view, o);
      o += view.length;
    }
  }
  // What the copy held when taken: release() writes back only the bytes the holder changed, so a
  // write() to the range meanwhile is kept where the holder left the bytes alone, as it is with
  // a zero-copy pin (copying it all back reverted acknowledged writes).
  const taken = !adjacent && write ? bytes.slice() : undefined;
  const markDirty = () => {
    if (!write) return;
    for (let i = 0; i < count; i++) {
      pager.markDirty(frames[i], i === count - 1 ? v + length - m.start - lastPage * ps : ps);
    }
  };
  markDirty();
  let released = false;
  return {
    address: v,
    length,
    owner,
    bytes,
    zeroCopy: adjacent,
    pages: views,
    release: () => {
      if (released) throw new DoubleFreeError(v, `pin "${owner}" was already released`);
      released = true;
      // Killed: the frames went back to the page layer with the space, and may be another
      // space's by now; copying the pin's bytes back would write into them.
      if (s.deadError !== null) return;
      if (taken !== undefined) {
        let o = 0;
        for (const view of views) {
          for (let i = 0; i < view.length; i++) if (bytes[o + i] !== taken[o + i]) view[i] = bytes[o + i];
          o += view.length;
        }
      }
      markDirty();
      for (const f of frames) fr.pins[f]--;
      s.pinRecords.delete(id);
      pager.notify();
    },
  };
}
