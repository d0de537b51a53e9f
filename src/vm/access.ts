/**
 * The access paths: read, write and peek, page by page through the pager.
 *
 *     read/write(v, n) ─> range check ─> per page of [v, v + n):
 *         resident?  hit: policy.hit, copy (no await, no allocation)
 *         else       fault (acquire: shared with concurrent faults, read-ahead by the kept hint),
 *                    copy under a transient ref, unref
 *         then       write: dirty mark; kept hint's after-use action (readOnce, drop-behind)
 *     peek(v, n)   ─> resident pages copied as they are, absent ones read from the store into a
 *                     bounce page; installs nothing and touches no recency
 *
 * A write covering a whole page that is not resident never reads it: the fault fills the new
 * frame with the bytes before the page is published (FaultTarget.fill). Read-ahead windows live
 * in the mapping (lastPage, window) and grow while faults stay sequential.
 */
import { constants } from "node:buffer";
import { InvalidAddressError, InvalidArgumentError, MnemeError, OutOfMemoryError } from "../errors.js";
import { copyBytes } from "../util/shared-bytes.js";
import type { FaultTarget } from "./fault.js";
import type { Mapping } from "./mappings.js";
import type { SpaceState } from "./space-state.js";
import { StoreError } from "./stores/store.js";

const MAX_LENGTH = constants.MAX_LENGTH;

/** Reads `length` bytes at `v` (into `into` when given, else a new array). */
export async function readRange(
  s: SpaceState,
  v: number,
  length: number,
  into?: Uint8Array,
): Promise<Uint8Array> {
  s.open();
  const m = s.range(v, length, false);
  if (into !== undefined && (!(into instanceof Uint8Array) || into.length < length)) {
    throw new InvalidArgumentError("into", into, `must be a Uint8Array of at least ${length} bytes`);
  }
  // Into a view of this space's frames (a pin's): read through a copy, as write() does.
  const out = into !== undefined && !s.source.holds(into.buffer) ? into : resultBuffer(length);
  await walk(s, m, v, length, false, (frame, inPage, pos, n) => {
    copyBytes(out, pos, frame.subarray(inPage, inPage + n));
  });
  if (into === undefined || out === into) return out;
  copyBytes(into, 0, out);
  return into;
}

/** Writes `bytes` at `v`. */
export async function writeRange(s: SpaceState, v: number, bytes: Uint8Array): Promise<void> {
  s.open();
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) {
    throw new InvalidArgumentError("bytes", bytes, "must be a non-empty Uint8Array");
  }
  let m = s.range(v, bytes.length, true);
  // A source inside this space's frames (a pin's views) may overlap the destination across a page
  // boundary, where the page-by-page copy would read bytes it had already overwritten: memmove
  // semantics through a copy.
  if (s.source.holds(bytes.buffer)) bytes = bytes.slice();
  if (s.writeGate !== null) {
    // Checked before the gate too: a bad call must not set off the throttle's flush.
    await s.writeGate();
    m = s.range(v, bytes.length, true);
  }
  await walk(s, m, v, bytes.length, true, (frame, inPage, pos, n) => {
    copyBytes(frame, inPage, bytes.subarray(pos, pos + n));
  });
}

/**
 * The array a read or peek returns. A mapping may be far larger than one Uint8Array can be
 * (constants.MAX_LENGTH), or than the heap can give: a typed error instead of a RangeError.
 */
function resultBuffer(length: number): Uint8Array {
  if (length > MAX_LENGTH) {
    throw new InvalidArgumentError(
      "length",
      length,
      `is more than one Uint8Array holds (${MAX_LENGTH} bytes): read in parts, or into a given array`,
    );
  }
  try {
    return new Uint8Array(length);
  } catch {
    throw new OutOfMemoryError(length, 0, 0, "exhausted", "the JavaScript heap cannot hold the result");
  }
}

/**
 * The page loop of read and write: for each page of [v, v + length), a resident frame (hit or
 * fault), `use` on the part of it in range, then the kept hint's after-use action.
 */
async function walk(
  s: SpaceState,
  m: Mapping,
  v: number,
  length: number,
  writing: boolean,
  use: (frame: Uint8Array, inPage: number, pos: number, n: number) => void,
): Promise<void> {
  const ps = s.pageSize;
  const pager = s.pager;
  const base = s.baseKey(m);
  let pos = 0;
  while (pos < length) {
    // The write gate (a flusher's throttle) before every page a write dirties: once per write(),
    // one write of many pages dirtied them all past the high ratio. writeRange passed the first.
    if (writing && pos > 0 && s.writeGate !== null) {
      await s.writeGate();
      if (m.removed) throw new InvalidAddressError(v + pos, "was unmapped during the operation");
    }
    const rel = v + pos - m.start;
    const page = Math.floor(rel / ps);
    const inPage = rel - page * ps;
    const n = Math.min(ps - inPage, length - pos);
    const key = base + page;
    let f = pager.index.get(key);
    if (f !== undefined) {
      pager.touch(key, f);
      use(pager.view(f), inPage, pos, n);
    } else {
      const target = faultTarget(s, m, page, writing && n === ps);
      let filled = false;
      if (target.overwrite) {
        target.fill = (frame) => {
          use(frame, inPage, pos, n);
          filled = true;
        };
      }
      f = await pager.acquire(key, target);
      try {
        if (!filled) use(pager.view(f), inPage, pos, n);
      } finally {
        pager.unref(f);
      }
    }
    if (writing) pager.markDirty(f, inPage + n);
    afterUse(s, m, page, key);
    pos += n;
    if (m.removed && pos < length)
      throw new InvalidAddressError(v + pos, "was unmapped during the operation");
  }
}

/** What a fault at `page` of `m` reads: the page, plus read-ahead by the page's kept hint. */
export function faultTarget(s: SpaceState, m: Mapping, page: number, overwrite: boolean): FaultTarget {
  const h = m.hints.at(page);
  let ra = 0;
  if (h !== "random" && !overwrite && s.raMax > 0) {
    const sequential = m.lastPage === page - 1;
    if (h === "sequential" || sequential) {
      m.window = m.window === 0 ? s.raInitial : Math.min(m.window * 2, s.raMax);
      ra = Math.min(m.window, m.pages - page - 1);
      // A range advise()d random gets no read-ahead, also not from its neighbour's faults.
      for (let i = 1; i <= ra; i++) {
        if (m.hints.at(page + i) === "random") ra = i - 1;
      }
    } else m.window = 0;
  }
  return {
    store: m.store,
    offset: m.offset + page * s.pageSize,
    overwrite,
    readahead: ra,
    mapping: m,
  };
}

/**
 * What acquire() of `page` of `m` needs, for a caller that does not look up the index first (pin,
 * gather): faultTarget only for a page that is not resident, since faultTarget grows the read-ahead
 * window and a hit must not (read() asks it on faults only).
 */
export function acquireTarget(s: SpaceState, m: Mapping, page: number): FaultTarget {
  if (!s.pager.index.has(s.baseKey(m) + page)) return faultTarget(s, m, page, false);
  return { store: m.store, offset: m.offset + page * s.pageSize, mapping: m };
}

/**
 * The kept hint's after-use action for `page` of `m` (readOnce, drop-behind), and the read-ahead
 * state a following fault reads (lastPage): every use of a page through the access paths, gather's
 * included.
 */
export function afterUse(s: SpaceState, m: Mapping, page: number, key: number): void {
  m.lastPage = page;
  const h = m.hints.at(page);
  if (h === "readOnce") s.pager.front.add(key);
  // Drop-behind stays inside the sequential range: the page before an advise()d range is the
  // caller's to hint (a hot header before a scanned body, say), not the scan's.
  else if (
    h === "sequential" &&
    page > 0 &&
    m.hints.at(page - 1) === "sequential" &&
    s.pager.index.has(key - 1)
  )
    s.pager.front.add(key - 1);
}

/** Reads like read() but touches no recency and installs nothing: absent pages come from the store. */
export async function peekRange(s: SpaceState, v: number, length: number): Promise<Uint8Array> {
  s.open();
  const m = s.range(v, length, false);
  const ps = s.pageSize;
  const pager = s.pager;
  const out = resultBuffer(length);
  const base = s.baseKey(m);
  let tmp: Uint8Array | undefined;
  let pos = 0;
  while (pos < length) {
    const rel = v + pos - m.start;
    const page = Math.floor(rel / ps);
    const inPage = rel - page * ps;
    const n = Math.min(ps - inPage, length - pos);
    const key = base + page;
    const f = pager.index.get(key);
    if (f !== undefined) copyBytes(out, pos, pager.view(f).subarray(inPage, inPage + n));
    else {
      const p = pager.pending.get(key);
      if (p !== undefined) {
        await p.promise.catch(() => {});
        if (m.removed) throw new InvalidAddressError(v + pos, "was unmapped during the operation");
        continue;
      }
      tmp ??= new Uint8Array(ps);
      try {
        await m.store.readPage(m.offset + page * ps, tmp);
      } catch (e) {
        throw e instanceof MnemeError
          ? e
          : new StoreError(m.store.description, "read", m.offset + page * ps, e);
      }
      // Unmapped meanwhile: the key may name another store's page by now (store-ids.ts).
      if (m.removed) throw new InvalidAddressError(v + pos, "was unmapped during the operation");
      // The page may have come in while the store was read: the frame is newer.
      const g = pager.index.get(key);
      if (g !== undefined) out.set(pager.view(g).subarray(inPage, inPage + n), pos);
      else out.set(tmp.subarray(inPage, inPage + n), pos);
    }
    pos += n;
  }
  return out;
}
