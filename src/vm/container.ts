/**
 * Container operations, the Hurd's container_copy and container_gather: moving bytes between
 * mappings, and between mappings and a file, without handing frames to the caller.
 *
 *     copy(src, dst, n)            page-sized chunks through read()/write(), backwards when the
 *                                  ranges overlap with dst above src (memmove semantics); one
 *                                  frame is enough, since no chunk holds two at once
 *     gather(v, n, handle, pos)    each page's frame is written straight to the FileHandle while
 *                                  a transient ref keeps it resident (zero copy), with read-ahead
 *                                  and hints as read() has them; a write of no bytes fails with EIO
 *     scatter(v, n, handle, pos)   file bytes through a bounce buffer into write(), so a short
 *                                  read at EOF never leaves a page half filled
 *
 * copy, gather and scatter validate the ranges and the handle, then work through a
 * ContainerAccess (copyRange, gatherRange and scatterRange trust them).
 */
import { InvalidArgumentError, MnemeError } from "../errors.js";
import { acquireTarget, afterUse, readRange, writeRange } from "./access.js";
import type { SpaceState } from "./space-state.js";

/** The part of `fs.promises.FileHandle` that gather/scatter use. */
export interface FileHandleLike {
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  write(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesWritten: number }>;
}

/** What the address space lends the container operations. */
export interface ContainerAccess {
  readonly pageSize: number;
  read(v: number, length: number, into?: Uint8Array): Promise<Uint8Array>;
  write(v: number, bytes: Uint8Array): Promise<void>;
  /** The frame holding address `v`, kept resident until release(). */
  holdPage(v: number): Promise<{ view: Uint8Array; inPage: number; release(): void }>;
}

/** Validates a gather/scatter FileHandle and file position. */
export function checkTransfer(handle: unknown, what: "read" | "write", position: unknown): void {
  if (
    handle === null ||
    typeof handle !== "object" ||
    typeof (handle as Record<string, unknown>)[what] !== "function"
  ) {
    throw new InvalidArgumentError("handle", handle, `must be a FileHandle (with ${what}())`);
  }
  if (typeof position !== "number" || !Number.isSafeInteger(position) || position < 0) {
    throw new InvalidArgumentError("position", position, "must be a non-negative integer");
  }
}

/** Copies [src, src + length) to dst through a page-sized buffer; `backward` when they overlap so. */
export async function copyRange(
  a: ContainerAccess,
  src: number,
  dst: number,
  length: number,
  backward: boolean,
): Promise<void> {
  const ps = a.pageSize;
  const buf = new Uint8Array(Math.min(ps, length));
  let done = 0;
  while (done < length) {
    const n = Math.min(ps, length - done);
    const o = backward ? length - done - n : done;
    const chunk = buf.subarray(0, n);
    await a.read(src + o, n, chunk);
    await a.write(dst + o, chunk);
    done += n;
  }
}

export async function gatherRange(
  a: ContainerAccess,
  v: number,
  length: number,
  handle: FileHandleLike,
  position: number,
): Promise<number> {
  let pos = 0;
  while (pos < length) {
    const { view, inPage, release } = await a.holdPage(v + pos);
    const n = Math.min(a.pageSize - inPage, length - pos);
    try {
      let w = 0;
      while (w < n) {
        const r = await handle.write(view, inPage + w, n - w, position + pos + w);
        // A handle that writes nothing would be asked again forever (in microtasks, so no timer
        // ends it), the page held all along.
        if (!(r.bytesWritten > 0)) {
          throw new MnemeError(
            "EIO",
            `gather: the handle wrote ${r.bytesWritten} of ${n - w} bytes at ${position + pos + w}`,
          );
        }
        w += r.bytesWritten;
      }
    } finally {
      release();
    }
    pos += n;
  }
  return length;
}

export async function scatterRange(
  a: ContainerAccess,
  v: number,
  length: number,
  handle: FileHandleLike,
  position: number,
): Promise<number> {
  const buf = new Uint8Array(Math.min(length, 16 * a.pageSize));
  let pos = 0;
  while (pos < length) {
    const want = Math.min(buf.length, length - pos);
    const { bytesRead } = await handle.read(buf, 0, want, position + pos);
    if (bytesRead === 0) break;
    // More than asked for would be written past the range (into a neighbour's bytes).
    if (!Number.isSafeInteger(bytesRead) || bytesRead < 0 || bytesRead > want) {
      throw new MnemeError(
        "EIO",
        `scatter: the handle reported ${bytesRead} bytes read of ${want} asked for at ${position + pos}`,
      );
    }
    await a.write(v + pos, buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return pos;
}

/** Copies `length` bytes from `src` to `dst` (memmove semantics: overlap is fine). */
export async function copy(s: SpaceState, src: number, dst: number, length: number): Promise<void> {
  s.open();
  const from = s.range(src, length, false);
  const to = s.range(dst, length, true);
  // Overlap is a matter of store bytes, not of virtual addresses: two mappings of one store
  // alias each other, so copy backwards when the destination's store bytes start inside the source's.
  const a = from.offset + (src - from.start);
  const d = to.offset + (dst - to.start);
  const backward = from.storeId === to.storeId && d > a && d < a + length;
  await copyRange(containerAccess(s), src, dst, length, backward);
}

/** Writes [v, v + length) of the space to `handle` at `position` (frames go straight to the file). */
export async function gather(
  s: SpaceState,
  v: number,
  length: number,
  handle: FileHandleLike,
  position: number,
): Promise<number> {
  s.open();
  s.range(v, length, false);
  checkTransfer(handle, "write", position);
  return gatherRange(containerAccess(s), v, length, handle, position);
}

/** Reads up to `length` bytes of `handle` from `position` into [v, v + length); stops at EOF. */
export async function scatter(
  s: SpaceState,
  v: number,
  length: number,
  handle: FileHandleLike,
  position: number,
): Promise<number> {
  s.open();
  s.range(v, length, true);
  checkTransfer(handle, "read", position);
  return scatterRange(containerAccess(s), v, length, handle, position);
}

/** What the range functions may use: page access without exposing frames to callers. */
function containerAccess(s: SpaceState): ContainerAccess {
  return {
    pageSize: s.pageSize,
    read: (v, length, into) => readRange(s, v, length, into),
    write: (v, bytes) => writeRange(s, v, bytes),
    holdPage: async (v) => {
      const m = s.range(v, 1, false);
      const ps = s.pageSize;
      const page = Math.floor((v - m.start) / ps);
      const key = s.baseKey(m) + page;
      const f = await s.pager.acquire(key, acquireTarget(s, m, page));
      return {
        view: s.pager.view(f),
        inPage: v - m.start - page * ps,
        release: () => {
          s.pager.unref(f);
          // As read() does: a gather is a sequential scan (read-ahead for the next page), and a
          // readOnce or sequential range must not push the caller's other pages out.
          if (!m.removed) afterUse(s, m, page, key);
        },
      };
    },
  };
}
