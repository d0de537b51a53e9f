/**
 * Container operations, the Hurd's container_copy and container_gather: moving bytes between
 * mappings, and between mappings and a file, without handing frames to the caller.
 *
 *     copy(src, dst, n)            page-sized chunks through read()/write(), backwards when the
 *                                  ranges overlap with dst above src (memmove semantics); one
 *                                  frame is enough, since no chunk holds two at once
 *     gather(v, n, handle, pos)    each page's frame is written straight to the FileHandle while
 *                                  a transient ref keeps it resident (zero copy); a write of no
 *                                  bytes fails with EIO
 *     scatter(v, n, handle, pos)   file bytes through a bounce buffer into write(), so a short
 *                                  read at EOF never leaves a page half filled
 *
 * The address space validates the ranges before calling in (container.ts trusts them).
 */
import { InvalidArgumentError, MnemeError } from "../errors.js";

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
    await a.write(v + pos, buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return pos;
}
