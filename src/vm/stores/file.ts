/**
 * FileStore: a real file as backing store. Faults read pages with positional reads, read-ahead
 * with one `readv` straight into the frames, and writeback writes the dirty prefix of a page. A
 * file shorter than the mapping reads as zeros past its end and grows as far as it is written.
 *
 * The file is opened on first use ("r+", or created when `create` is set, the default), so the
 * constructor does no I/O; `close()` closes it and a later use reopens it.
 */
import { type FileHandle, open } from "node:fs/promises";
import { resolve } from "node:path";
import { InvalidArgumentError } from "../../errors.js";
import { type Store, StoreError, zeroTail } from "./store.js";

/** Most buffers one readv takes (Linux's IOV_MAX); a read-ahead batch may hold up to 1025. */
const IOV_MAX = 1024;

export interface FileStoreOptions {
  /** Create the file if it does not exist (default true). */
  create?: boolean;
  /** Open read-only: writes fail with StoreError (default false). */
  readOnly?: boolean;
}

export class FileStore implements Store {
  readonly path: string;
  readonly description: string;
  readonly readOnly: boolean;
  readonly identity: string;
  private readonly create: boolean;
  private handle: FileHandle | undefined;
  private opening: Promise<FileHandle> | undefined;
  private reads = 0;
  private writes = 0;
  private bytesRead = 0;
  private bytesWritten = 0;

  constructor(path: string, options: FileStoreOptions = {}) {
    if (typeof path !== "string" || path.length === 0) {
      throw new InvalidArgumentError("path", path, "must be a non-empty file path");
    }
    if (options === null || typeof options !== "object") {
      throw new InvalidArgumentError("options", options, "must be an object { create?, readOnly? }");
    }
    const { create = true, readOnly = false } = options;
    // Booleans only: readOnly "false" made a store that map() saw as writable and that refused
    // every write back.
    if (typeof create !== "boolean") throw new InvalidArgumentError("create", create, "must be a boolean");
    if (typeof readOnly !== "boolean")
      throw new InvalidArgumentError("readOnly", readOnly, "must be a boolean");
    this.path = path;
    this.create = create;
    this.readOnly = readOnly;
    this.description = `file ${path}`;
    this.identity = `file:${resolve(path)}`;
  }

  private file(offset: number): Promise<FileHandle> {
    if (this.handle) return Promise.resolve(this.handle);
    this.opening ??= (async () => {
      try {
        let fh: FileHandle;
        if (this.readOnly) fh = await open(this.path, "r");
        else {
          try {
            fh = await open(this.path, "r+");
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== "ENOENT" || !this.create) throw e;
            fh = await open(this.path, "w+");
          }
        }
        this.handle = fh;
        return fh;
      } catch (e) {
        throw new StoreError(this.description, "open", offset, e);
      } finally {
        this.opening = undefined;
      }
    })();
    return this.opening;
  }

  async readPage(offset: number, into: Uint8Array): Promise<void> {
    const fh = this.handle ?? (await this.file(offset));
    let done = 0;
    try {
      while (done < into.length) {
        const { bytesRead } = await fh.read(into, done, into.length - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } catch (e) {
      throw new StoreError(this.description, "read", offset, e);
    }
    this.reads++;
    this.bytesRead += done;
    zeroTail(into, done);
  }

  async readPages(offset: number, into: readonly Uint8Array[]): Promise<void> {
    if (into.length === 1) return this.readPage(offset, into[0]);
    const fh = this.handle ?? (await this.file(offset));
    let got = 0;
    let pos = offset;
    try {
      for (let i = 0; i < into.length; i += IOV_MAX) {
        const part = into.slice(i, i + IOV_MAX) as Uint8Array[];
        let want = 0;
        for (const buf of part) want += buf.length;
        const n = (await fh.readv(part, pos)).bytesRead;
        got += n;
        pos += n;
        if (n < want) {
          // Short is the end of the file only when a plain read finds nothing more there: libuv
          // gives one readv at most IOV_MAX buffers and leaves the others unfilled.
          got += await this.readRest(fh, into, got, pos);
          break;
        }
      }
    } catch (e) {
      throw new StoreError(this.description, "read", offset, e);
    }
    this.reads++;
    this.bytesRead += got;
    // The bytes past what the file holds read as zeros.
    let at = 0;
    for (const buf of into) {
      zeroTail(buf, Math.max(0, got - at));
      at += buf.length;
    }
  }

  /** Reads on from byte `done` of the batch (file position `pos`) to its end or the file's; returns the bytes read. */
  private async readRest(
    fh: FileHandle,
    into: readonly Uint8Array[],
    done: number,
    pos: number,
  ): Promise<number> {
    let read = 0;
    let at = 0;
    for (const buf of into) {
      const from = Math.max(0, done + read - at);
      at += buf.length;
      for (let o = from; o < buf.length; ) {
        const { bytesRead } = await fh.read(buf, o, buf.length - o, pos + read);
        if (bytesRead === 0) return read;
        o += bytesRead;
        read += bytesRead;
      }
    }
    return read;
  }

  async writePage(offset: number, data: Uint8Array): Promise<void> {
    if (this.readOnly) {
      throw new StoreError(this.description, "write", offset, new Error("store is read-only"));
    }
    const fh = this.handle ?? (await this.file(offset));
    try {
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await fh.write(data, done, data.length - done, offset + done);
        done += bytesWritten;
      }
    } catch (e) {
      throw new StoreError(this.description, "write", offset, e);
    }
    this.writes++;
    this.bytesWritten += data.length;
  }

  async flush(): Promise<void> {
    if (!this.handle || this.readOnly) return;
    try {
      await this.handle.datasync();
    } catch (e) {
      throw new StoreError(this.description, "flush", 0, e);
    }
  }

  async close(): Promise<void> {
    const fh = this.handle ?? (this.opening ? await this.opening.catch(() => undefined) : undefined);
    this.handle = undefined;
    if (!fh) return;
    try {
      await fh.close();
    } catch (e) {
      throw new StoreError(this.description, "close", 0, e);
    }
  }

  stats(): Record<string, number | string> {
    return {
      reads: this.reads,
      writes: this.writes,
      bytesRead: this.bytesRead,
      bytesWritten: this.bytesWritten,
    };
  }
}
