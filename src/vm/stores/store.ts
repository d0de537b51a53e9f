/**
 * The backing-store interface: what a mapping maps. A store is a byte-addressed object (a file,
 * anonymous memory with its swap, a set of Redis keys); the address space moves whole pages in
 * and out of it and never looks inside.
 *
 * The contract, for anyone adding a store:
 * - `readPage(offset, into)` fills all of `into` (one page, `offset` a multiple of its length)
 *   with the store's bytes; bytes the store never held read as zeros.
 * - `writePage(offset, data)` stores `data` at `offset`. `data` may be shorter than a page (the
 *   address space writes back the page's prefix that holds every modified byte, so a file grows
 *   only as far as it was written); the page's bytes past `data` keep what they held.
 * - `readPages` is an optional batch of consecutive pages (read-ahead uses it; a file store does
 *   one `readv`). `discard` marks stores whose contents live only while mapped (anonymous memory):
 *   unmapping discards instead of writing back, and `sync` skips them. `flush` makes writes
 *   durable (fsync); `sync()` calls it for every store written since its last flush (by sync,
 *   evictions, the flusher or dontneed), and so does `unmap()` of a store's last mapping.
 * - Failures reject with any error; the address space wraps foreign ones in StoreError and leaves
 *   no half-installed page. An OutOfMemoryError (a full swap file) is passed through as is.
 * - A call settles only when it is done with its buffers: the frames of a failed read go back to
 *   the page layer at once, so a `readPages` must not reject while reads into other pages of the
 *   batch still run (wait for all of them, as Promise.allSettled does).
 * - Calls for different pages may overlap; the address space never overlaps two calls for the
 *   same page.
 */
import { InvalidArgumentError, MnemeError, type OutOfMemoryError } from "../../errors.js";
import { fillBytes } from "../../util/shared-bytes.js";

export interface Store {
  /** One line for debugInfo() and errors: kind and location. */
  readonly description: string;
  /**
   * The store refuses writes: map() makes its mappings read-only (and refuses writable ones), or
   * acknowledged writes could never be written back and sync, unmap and close would fail forever.
   */
  readonly readOnly?: boolean;
  /**
   * What the store's bytes are, when two store objects can show the same ones (a file's absolute
   * path). An address space caches pages per store object, so it refuses to map a second object of
   * an identity it maps through another, and an object of an identity another space maps: their
   * caches would differ, and each write back the other's stale bytes. Map the one object as often as
   * needed instead, in one space at a time.
   */
  readonly identity?: string;
  /** Called by map() with the space's page size; may reject a size it cannot serve. */
  attach?(pageSize: number): void;
  readPage(offset: number, into: Uint8Array): Promise<void>;
  /**
   * The OutOfMemoryError a write of the page at `offset` would fail with for lack of space (swap
   * cap reached, no swap), or undefined. Lets eviction pass such dirty pages over without trying.
   */
  refuses?(offset: number): OutOfMemoryError | undefined;
  writePage(offset: number, data: Uint8Array): Promise<void>;
  readPages?(offset: number, into: readonly Uint8Array[]): Promise<void>;
  discard?(offset: number, length: number): Promise<void>;
  flush?(): Promise<void>;
  close(): Promise<void>;
  stats?(): Record<string, number | string>;
}

export type StoreOperation = "read" | "write" | "discard" | "flush" | "close" | "open";

/** A backing store failed; `cause` is what it threw. Nothing was installed or lost. */
export class StoreError extends MnemeError {
  readonly store: string;
  readonly operation: StoreOperation;
  readonly offset: number;
  constructor(store: string, operation: StoreOperation, offset: number, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super("EIO", `store ${store}: ${operation} at offset ${offset} failed: ${why}`);
    this.store = store;
    this.operation = operation;
    this.offset = offset;
    (this as { cause?: unknown }).cause = cause;
  }
}

/**
 * Reads consecutive pages from `offset` into `views`: one readPages, or one readPage per page,
 * started together. Settles once every call has: one that fails first must not let the frames go
 * back to the page layer while the others still write into them (their bytes would land in
 * whatever page the frame holds next).
 */
export async function readBatch(store: Store, offset: number, views: readonly Uint8Array[]): Promise<void> {
  if (store.readPages) return store.readPages(offset, views);
  const results = await Promise.allSettled(views.map((v, i) => store.readPage(offset + i * v.length, v)));
  for (const r of results) if (r.status === "rejected") throw r.reason;
}

/** Zero-fills `into` from `from` on (a short read). */
export function zeroTail(into: Uint8Array, from: number): void {
  if (from < into.length) fillBytes(into, 0, from);
}

/**
 * The page size a store that fixes one on its first map() serves from now on: `current` (0 until
 * then) or `pageSize`; InvalidArgumentError for another size, nothing changed.
 */
export function samePageSize(current: number, pageSize: number): number {
  if (current !== 0 && current !== pageSize)
    throw new InvalidArgumentError("pageSize", pageSize, `this store already serves ${current}-byte pages`);
  return pageSize;
}
