/**
 * Page writeback: writing dirty pages to their stores, as an eviction does before it reuses a
 * frame (writeBack), and keeping the page resident and clean, as sync, dontneed, unmap and the
 * reclaim layer's flusher do (clean, writebackOldest).
 *
 *     dirty page ──clean()──> dirty mark cleared, ref taken ──store.writePage──> clean, resident
 *                                                            │ failure
 *                                                            v
 *                                          dirty again (the larger of both dirty ends), error
 *
 * One clean of a page at a time (`Pager.cleaning`, through oneAtATime): two writes of one page in
 * flight may land in either order (the older bytes last), or, in a swap file, each take a fresh
 * slot and one of them zero the other's tail. A write that lands during the I/O dirties the page
 * again, since the dirty mark was cleared before the write began.
 *
 * Every write that reaches a persistent store puts it in `Pager.unflushed`: a write is only as
 * durable as the store's next flush, which sync() gives every store written since its last one.
 */
import { MnemeError, OutOfMemoryError } from "../errors.js";
import { oneAtATime } from "../util/one-at-a-time.js";
import type { Pager } from "./fault.js";
import { KEY_STRIDE } from "./frames.js";
import { type Store, StoreError } from "./stores/store.js";

/** Writes the dirty prefix of frame `f` (holding `key`) to its store (an eviction's writeback). */
export async function writeBack(p: Pager, key: number, f: number): Promise<void> {
  const store = p.storeOf(key);
  const offset = (key % KEY_STRIDE) * p.pageSize;
  const end = p.frames.dirtyEnd[f];
  try {
    await store.writePage(offset, p.view(f).subarray(0, end));
  } catch (e) {
    if (e instanceof OutOfMemoryError) throw e;
    p.stats.storeErrors++;
    throw e instanceof MnemeError ? e : new StoreError(store.description, "write", offset, e);
  }
  wrote(p, store);
  p.stats.writebacks++;
}

function wrote(p: Pager, store: Store): void {
  if (typeof store.discard !== "function") p.unflushed.add(store);
}

/**
 * Flushes persistent `store` (sync, and unmap of its last mapping), taking it from `unflushed`
 * before the flush (a write ending meanwhile puts it back); on failure it stays there, and the
 * error is a StoreError.
 */
export async function flushStore(p: Pager, store: Store): Promise<void> {
  p.unflushed.delete(store);
  try {
    await store.flush?.();
  } catch (e) {
    p.unflushed.add(store);
    p.stats.storeErrors++;
    throw e instanceof MnemeError ? e : new StoreError(store.description, "flush", 0, e);
  }
}

/**
 * Writes resident dirty page `key` back and keeps it resident and clean. Resolves true when this
 * call wrote the page, false when it found it gone or clean (another clean wrote it).
 */
export async function clean(p: Pager, key: number): Promise<boolean> {
  let done = false;
  await oneAtATime(p.cleaning, key, async () => {
    done = await cleanOnce(p, key);
  });
  return done;
}

async function cleanOnce(p: Pager, key: number): Promise<boolean> {
  const f = p.index.get(key);
  if (f === undefined) return false;
  const fr = p.frames;
  const end = fr.dirtyEnd[f];
  if (end === 0) return false;
  fr.refs[f]++;
  fr.dirtyEnd[f] = 0;
  p.dirty--;
  const store = p.storeOf(key);
  const offset = (key % KEY_STRIDE) * p.pageSize;
  try {
    await store.writePage(offset, p.view(f).subarray(0, end));
    wrote(p, store);
    p.stats.writebacks++;
    return true;
  } catch (e) {
    if (p.killed !== null) throw p.killed;
    if (fr.dirtyEnd[f] === 0) p.dirty++;
    if (end > fr.dirtyEnd[f]) fr.dirtyEnd[f] = end;
    if (!(e instanceof OutOfMemoryError)) p.stats.storeErrors++;
    throw e instanceof MnemeError ? e : new StoreError(store.description, "write", offset, e);
  } finally {
    p.unref(f);
  }
}

/**
 * Writes up to `count` dirty resident pages back, oldest dirty first, keeping them resident and
 * clean (the flusher's writeback); with `dirtiedBefore`, only pages dirty since before it.
 * Returns how many were written. A page whose store fails stays dirty and the others are still
 * written (stopping at it, one failing store kept every other page from ever being written by
 * age); the first failure is thrown at the end.
 */
export async function writebackOldest(p: Pager, count: number, dirtiedBefore: number): Promise<number> {
  const fr = p.frames;
  const found: Array<[number, number]> = [];
  for (const [key, f] of p.index) {
    if (fr.dirtyEnd[f] !== 0 && fr.dirtiedAt[f] < dirtiedBefore && p.refusal(key) === undefined) {
      found.push([fr.dirtiedAt[f], key]);
    }
  }
  found.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let n = 0;
  let failure: { error: unknown } | null = null;
  for (const [, key] of found) {
    if (n >= count) break;
    try {
      // Counted only when written here: a page another clean wrote meanwhile (sync, a second
      // writeback at once) is not this call's work, and the flusher paces writers by it.
      if (await clean(p, key)) n++;
    } catch (e) {
      failure ??= { error: e };
    }
  }
  if (failure !== null) throw failure.error;
  return n;
}
