import { InvalidArgumentError, OutOfMemoryError } from "../errors.js";
import { isPowerOfTwo, log2Exact, positiveInteger } from "../util/validate.js";
import {
  DEFAULT_PAGE_SIZE,
  FLAG_SHARED,
  H_FLAGS,
  H_HEADER_PAGES,
  H_MAGIC,
  H_META_BYTES,
  H_META_OFFSET,
  H_PAGE_COUNT,
  H_PAGE_SIZE,
  H_ROOTS,
  H_VERSION,
  MAGIC,
  MAX_ARENA_BYTES,
  MAX_PAGE_SIZE,
  MIN_PAGE_SIZE,
  ROOT_COUNT,
  SIZEOF_HEADER,
  VERSION,
} from "./layout.js";

export type ArenaBuffer = ArrayBuffer | SharedArrayBuffer;

export interface ArenaOptions {
  /** Arena size in bytes, rounded up to whole pages (header pages included). */
  bytes: number;
  /** Bytes per page: a power of two from 512 to 65536. Default 4096. */
  pageSize?: number;
  /**
   * Back the arena with a SharedArrayBuffer so worker threads can attach it. Default false. The
   * allocators on it take no lock of their own: threads must not call them at the same time (a
   * Mempool's heap and pages are the thread-safe ones).
   */
  shared?: boolean;
}

/**
 * The buffer and its page geometry. The arena owns nothing but the header; every layer keeps its
 * state in the buffer so that attaching the same buffer elsewhere yields the same allocator.
 */
export class Arena {
  readonly buffer: ArenaBuffer;
  readonly bytes: Uint8Array;
  readonly words: Int32Array;
  readonly pageSize: number;
  readonly pageShift: number;
  readonly pageCount: number;
  readonly headerPages: number;
  readonly metaOffset: number;
  readonly shared: boolean;

  private constructor(buffer: ArenaBuffer) {
    this.buffer = buffer;
    this.bytes = new Uint8Array(buffer);
    this.words = new Int32Array(buffer, 0, Math.floor(buffer.byteLength / 4));
    this.pageSize = this.words[H_PAGE_SIZE];
    this.pageShift = log2Exact(this.pageSize);
    this.pageCount = this.words[H_PAGE_COUNT];
    this.headerPages = this.words[H_HEADER_PAGES];
    this.metaOffset = this.words[H_META_OFFSET];
    this.shared = (this.words[H_FLAGS] & FLAG_SHARED) !== 0;
  }

  /**
   * Validates the geometry, allocates the buffer and writes the header. `metaBytes(pageCount)`
   * tells how much room the page layer needs for its metadata, which the header pages include.
   */
  static create(options: ArenaOptions, metaBytes: (pageCount: number, metaOffset: number) => number): Arena {
    const { pageSize, pageCount } = Arena.geometry(options);
    const metaOffset = SIZEOF_HEADER;
    const meta = metaBytes(pageCount, metaOffset);
    const headerPages = Math.ceil((metaOffset + meta) / pageSize);
    if (headerPages >= pageCount) {
      throw new InvalidArgumentError(
        "bytes",
        options.bytes,
        `too small: the header needs ${headerPages} pages of ${pageSize} bytes and no page would be left`,
      );
    }
    const total = pageCount * pageSize;
    let buffer: ArenaBuffer;
    try {
      buffer = options.shared ? new SharedArrayBuffer(total) : new ArrayBuffer(total);
    } catch (e) {
      // The host has no room for a buffer that size (V8 throws a bare RangeError).
      if (!(e instanceof RangeError)) throw e;
      throw new OutOfMemoryError(total, 0, 0, undefined, "the runtime could not allocate the arena's buffer");
    }
    const words = new Int32Array(buffer, 0, SIZEOF_HEADER / 4);
    words[H_MAGIC] = MAGIC;
    words[H_VERSION] = VERSION;
    words[H_PAGE_SIZE] = pageSize;
    words[H_PAGE_COUNT] = pageCount;
    words[H_HEADER_PAGES] = headerPages;
    words[H_FLAGS] = options.shared ? FLAG_SHARED : 0;
    words[H_META_OFFSET] = metaOffset;
    words[H_META_BYTES] = meta;
    return new Arena(buffer);
  }

  /** Reads the header of a buffer created by `create` (here or in another thread). */
  static attach(buffer: unknown): Arena {
    if (!(buffer instanceof ArrayBuffer) && !(buffer instanceof SharedArrayBuffer)) {
      throw new InvalidArgumentError("buffer", buffer, "must be an ArrayBuffer or SharedArrayBuffer");
    }
    if (buffer.byteLength < SIZEOF_HEADER) {
      throw new InvalidArgumentError("buffer", buffer.byteLength, "too small to hold an arena header");
    }
    const words = new Int32Array(buffer, 0, SIZEOF_HEADER / 4);
    if (words[H_MAGIC] !== MAGIC) throw new InvalidArgumentError("buffer", "magic", "not a mneme arena");
    if (words[H_VERSION] !== VERSION) {
      throw new InvalidArgumentError("buffer", words[H_VERSION], `arena layout version, expected ${VERSION}`);
    }
    const pageSize = words[H_PAGE_SIZE];
    const pageCount = words[H_PAGE_COUNT];
    if (!isPowerOfTwo(pageSize) || pageSize * pageCount !== buffer.byteLength) {
      throw new InvalidArgumentError(
        "buffer",
        buffer.byteLength,
        "header geometry does not match the buffer",
      );
    }
    // The rest of the header says where the page layer's structures are: out of place, they
    // would be read from (and written to) wherever the words point.
    const headerPages = words[H_HEADER_PAGES];
    const metaOffset = words[H_META_OFFSET];
    const metaEnd = metaOffset + words[H_META_BYTES];
    if (
      pageSize < MIN_PAGE_SIZE ||
      pageSize > MAX_PAGE_SIZE ||
      !(headerPages >= 1 && headerPages < pageCount) ||
      metaOffset < SIZEOF_HEADER ||
      !(metaEnd >= metaOffset && metaEnd <= headerPages * pageSize)
    ) {
      throw new InvalidArgumentError("buffer", "header", "corrupt arena header (page counts or offsets)");
    }
    return new Arena(buffer);
  }

  static geometry(options: ArenaOptions): { pageSize: number; pageCount: number } {
    if (options === null || typeof options !== "object") {
      throw new InvalidArgumentError("options", options, "must be an object");
    }
    const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    if (!isPowerOfTwo(pageSize) || pageSize < MIN_PAGE_SIZE || pageSize > MAX_PAGE_SIZE) {
      throw new InvalidArgumentError(
        "pageSize",
        pageSize,
        `must be a power of two from ${MIN_PAGE_SIZE} to ${MAX_PAGE_SIZE}`,
      );
    }
    const bytes = positiveInteger("bytes", options.bytes);
    const pageCount = Math.ceil(bytes / pageSize);
    if (pageCount * pageSize > MAX_ARENA_BYTES) {
      throw new InvalidArgumentError("bytes", bytes, "more than 4 GiB (addresses are below 2^32)");
    }
    if (options.shared !== undefined && typeof options.shared !== "boolean") {
      throw new InvalidArgumentError("shared", options.shared, "must be a boolean");
    }
    return { pageSize, pageCount };
  }

  /** Page index stored in an upper layer's root slot (0 = none). */
  root(slot: number): number {
    return this.words[H_ROOTS + checkSlot(slot)];
  }

  setRoot(slot: number, page: number): void {
    this.words[H_ROOTS + checkSlot(slot)] = page;
  }
}

function checkSlot(slot: number): number {
  if (!Number.isInteger(slot) || slot < 0 || slot >= ROOT_COUNT) {
    throw new InvalidArgumentError("root slot", slot, `must be an integer in [0, ${ROOT_COUNT})`);
  }
  return slot;
}
