/**
 * The replication log's record format, shared by every backend, checkpoints and `mneme inspect`.
 *
 * A record is a fixed header and a payload. The CRC covers the header's first 16 bytes and the
 * payload, so a flipped bit anywhere, a length that points past the end, or a record cut short
 * by a crash are all detected; the sequence number makes a missing or repeated record visible.
 *
 * Record header (little-endian):
 *
 * | offset | size | field   | meaning                                                     |
 * |-------:|-----:|---------|-------------------------------------------------------------|
 * |      0 |    4 | length  | payload bytes (not counting this header)                    |
 * |      4 |    1 | type    | RecordType below                                            |
 * |      5 |    3 | magic   | 0x4d 0x4e 0x4c ("MNL"): a cheap first test when resyncing   |
 * |      8 |    8 | seq     | sequence number, +1 per record (u64; stays below 2^53)      |
 * |     16 |    4 | crc32   | CRC-32 (zlib) of bytes 0..16 and the payload                |
 * |     20 |    … | payload | by type, below                                              |
 *
 * Payloads (strings are u16 length + latin1 bytes; "u48" is a u64 field below 2^53):
 *
 * | type        | payload                                                                   |
 * |-------------|---------------------------------------------------------------------------|
 * | ALLOC  (1)  | handle, owner, size u48, align u32 (0 = default)                          |
 * | FREE   (2)  | handle                                                                    |
 * | MAP    (3)  | handle, owner, length u48, store u8 (0 anon, 1 file), name, hint          |
 * | UNMAP  (4)  | handle                                                                    |
 * | BATCH  (5)  | count u32, then count × (handle, page u32, at u32, length u32, pad, bytes) |
 * | END    (6)  | count u32: records in the checkpoint before this one (checkpoints only)   |
 *
 * A page is PAGE_SIZE bytes of a block at `page × PAGE_SIZE` (the last page of a block may be
 * shorter; a block smaller than a page is one page). A batch entry carries the dirty extent of
 * its page: `length` bytes from `at` within the page (a whole page in checkpoints). Random 4 KiB
 * writes touch two pages each; sending only what was written halves the log. `pad` is 0-7 zero
 * bytes so that `bytes` starts 8-aligned from the record's start: copies out of the shared pool
 * run word by word only when both sides are aligned (4x faster than bytewise on V8).
 */
import { crc32 } from "./crc32.js";

export const HEADER = 20;
export const PAGE_SIZE = 4096;
/** The largest payload a record may claim: anything longer is taken for damage. */
export const MAX_PAYLOAD = 256 * 1024 * 1024;

export const RecordType = {
  ALLOC: 1,
  FREE: 2,
  MAP: 3,
  UNMAP: 4,
  BATCH: 5,
  END: 6,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

export const TYPE_NAMES: Record<number, string> = {
  1: "ALLOC",
  2: "FREE",
  3: "MAP",
  4: "UNMAP",
  5: "BATCH",
  6: "END",
};

const MAGIC = [0x4d, 0x4e, 0x4c];

export interface AllocRecord {
  type: 1;
  handle: string;
  owner: string;
  size: number;
  align: number;
}
export interface FreeRecord {
  type: 2 | 4;
  handle: string;
}
export interface MapRecord {
  type: 3;
  handle: string;
  owner: string;
  length: number;
  store: "anon" | "file";
  name: string;
  hint: string;
}
export interface PageEntry {
  handle: string;
  page: number;
  /** Offset of `bytes` within the page. */
  at: number;
  bytes: Uint8Array;
}
export interface BatchRecord {
  type: 5;
  pages: PageEntry[];
}
export interface EndRecord {
  type: 6;
  count: number;
}
export type Record_ = AllocRecord | FreeRecord | MapRecord | BatchRecord | EndRecord;

/** A decoded record with where it came from. */
export interface LogEntry {
  seq: number;
  type: RecordType;
  /** Header + payload bytes. */
  size: number;
  record: Record_;
}

function strLen(s: string): number {
  return 2 + s.length;
}

class Writer {
  at = HEADER;
  constructor(readonly buf: Buffer) {}
  str(s: string): void {
    this.buf.writeUInt16LE(s.length, this.at);
    this.buf.write(s, this.at + 2, "latin1");
    this.at += 2 + s.length;
  }
  u8(v: number): void {
    this.buf[this.at++] = v;
  }
  u32(v: number): void {
    this.buf.writeUInt32LE(v, this.at);
    this.at += 4;
  }
  u48(v: number): void {
    this.buf.writeUIntLE(v, this.at, 6);
    this.buf.writeUInt16LE(0, this.at + 6);
    this.at += 8;
  }
}

class Reader {
  at: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
    /** Where the record starts (padding is relative to it). */
    readonly base = start - HEADER,
  ) {
    this.at = start;
  }
  pad(): void {
    while (((this.at - this.base) & 7) !== 0) this.u8();
  }
  private need(n: number): void {
    if (this.at + n > this.end) throw new RangeError("payload shorter than its fields");
  }
  str(): string {
    this.need(2);
    const n = this.buf[this.at] | (this.buf[this.at + 1] << 8);
    this.at += 2;
    this.need(n);
    const s = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.at, n).toString("latin1");
    this.at += n;
    return s;
  }
  u8(): number {
    this.need(1);
    return this.buf[this.at++];
  }
  u32(): number {
    this.need(4);
    const b = this.buf;
    const v = (b[this.at] | (b[this.at + 1] << 8) | (b[this.at + 2] << 16)) + b[this.at + 3] * 2 ** 24;
    this.at += 4;
    return v;
  }
  u48(): number {
    const lo = this.u32();
    const hi = this.u32();
    if (hi > 0x1fffff) throw new RangeError("a 64-bit field above 2^53");
    return hi * 2 ** 32 + lo;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const v = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
}

/** Fills in the header (length, type, magic, seq) and the CRC of a record whose payload is written. */
export function seal(buf: Buffer, type: RecordType, seq: number): Buffer {
  buf.writeUInt32LE(buf.length - HEADER, 0);
  buf[4] = type;
  buf[5] = MAGIC[0];
  buf[6] = MAGIC[1];
  buf[7] = MAGIC[2];
  buf.writeUIntLE(seq, 8, 6);
  buf.writeUInt16LE(0, 14);
  const head = crc32(buf.subarray(0, 16));
  buf.writeUInt32LE(crc32(buf.subarray(HEADER), head), 16);
  return buf;
}

export function encodeAlloc(seq: number, r: Omit<AllocRecord, "type">): Buffer {
  const w = new Writer(Buffer.allocUnsafe(HEADER + strLen(r.handle) + strLen(r.owner) + 12));
  w.str(r.handle);
  w.str(r.owner);
  w.u48(r.size);
  w.u32(r.align);
  return seal(w.buf, RecordType.ALLOC, seq);
}

export function encodeFree(seq: number, type: 2 | 4, handle: string): Buffer {
  const w = new Writer(Buffer.allocUnsafe(HEADER + strLen(handle)));
  w.str(handle);
  return seal(w.buf, type, seq);
}

export function encodeMap(seq: number, r: Omit<MapRecord, "type">): Buffer {
  const w = new Writer(
    Buffer.allocUnsafe(HEADER + strLen(r.handle) + strLen(r.owner) + 9 + strLen(r.name) + strLen(r.hint)),
  );
  w.str(r.handle);
  w.str(r.owner);
  w.u48(r.length);
  w.u8(r.store === "file" ? 1 : 0);
  w.str(r.name);
  w.str(r.hint);
  return seal(w.buf, RecordType.MAP, seq);
}

/** Bytes a batch entry takes for this handle and page length. */
export function batchEntrySize(handle: string, length: number): number {
  return strLen(handle) + 12 + 7 + length;
}

/**
 * A batch record built in place: `add` writes each page's bytes straight into the record (one
 * copy, from the pool), `finish` seals it.
 */
export class BatchBuilder {
  private readonly w: Writer;
  private count = 0;
  private lastHandle = "";
  private lastAt = 0;
  /** `into`: a spare buffer of at least `HEADER + 4 + payloadBytes` bytes to build in (reuse). */
  constructor(payloadBytes: number, into?: Buffer) {
    const n = HEADER + 4 + payloadBytes;
    this.w = new Writer(into !== undefined && into.length >= n ? into.subarray(0, n) : Buffer.allocUnsafe(n));
    this.w.at += 4;
  }
  add(handle: string, page: number, at: number, bytes: Uint8Array): void {
    this.entry(handle, page, at, bytes.length);
    this.w.buf.set(bytes, this.w.at);
    this.w.at += bytes.length;
  }
  /** As add, with the bytes [from, from + length) of `memory` (a pool's buffer). */
  addFrom(
    handle: string,
    page: number,
    at: number,
    memory: ArrayBufferLike,
    from: number,
    length: number,
  ): void {
    this.entry(handle, page, at, length);
    this.w.buf.set(new Uint8Array(memory, from, length), this.w.at);
    this.w.at += length;
  }
  private entry(handle: string, page: number, at: number, length: number): void {
    const w = this.w;
    // Pages of one block come in a row: their handle's bytes are copied from the entry before
    // (a builtin copy) instead of encoded again (a call into C++ per entry).
    if (handle === this.lastHandle) {
      w.buf.copyWithin(w.at, this.lastAt, this.lastAt + 2 + handle.length);
      w.at += 2 + handle.length;
    } else {
      this.lastHandle = handle;
      this.lastAt = w.at;
      w.str(handle);
    }
    w.u32(page);
    w.u32(at);
    w.u32(length);
    while ((w.at & 7) !== 0) w.buf[w.at++] = 0;
    this.count++;
  }
  finish(seq: number): Buffer {
    const buf = this.w.at === this.w.buf.length ? this.w.buf : this.w.buf.subarray(0, this.w.at);
    buf.writeUInt32LE(this.count, HEADER);
    return seal(buf, RecordType.BATCH, seq);
  }
}

export function encodeEnd(seq: number, count: number): Buffer {
  const w = new Writer(Buffer.allocUnsafe(HEADER + 4));
  w.u32(count);
  return seal(w.buf, RecordType.END, seq);
}

/** What `check` found at an offset: a whole record, or why there is none. */
export type Check =
  | { ok: true; type: RecordType; seq: number; size: number }
  | { ok: false; short: boolean; why: string };

/**
 * Tests the record at `at` without decoding its payload. `short` means the bytes ran out (a torn
 * tail when nothing valid follows); otherwise the bytes are there and wrong.
 */
export function check(buf: Uint8Array, at: number, end = buf.length): Check {
  if (end - at < HEADER) return { ok: false, short: true, why: `${end - at} bytes, shorter than a header` };
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  const length = b.readUInt32LE(at);
  const type = b[at + 4];
  if (b[at + 5] !== MAGIC[0] || b[at + 6] !== MAGIC[1] || b[at + 7] !== MAGIC[2])
    return { ok: false, short: false, why: "bad magic" };
  if (TYPE_NAMES[type] === undefined) return { ok: false, short: false, why: `unknown type ${type}` };
  if (length > MAX_PAYLOAD) return { ok: false, short: false, why: `length ${length} is implausible` };
  if (at + HEADER + length > end)
    return { ok: false, short: true, why: `record of ${HEADER + length} bytes cut at ${end - at}` };
  const head = crc32(b.subarray(at, at + 16));
  const crc = crc32(b.subarray(at + HEADER, at + HEADER + length), head);
  if (crc !== b.readUInt32LE(at + 16)) return { ok: false, short: false, why: "CRC mismatch" };
  const seq = b.readUIntLE(at + 8, 6) + b.readUInt16LE(at + 14) * 2 ** 48;
  return { ok: true, type: type as RecordType, seq, size: HEADER + length };
}

/** Decodes the payload of a record that `check` accepted. */
export function decode(buf: Uint8Array, at: number, size: number, type: RecordType): Record_ {
  const r = new Reader(buf, at + HEADER, at + size);
  switch (type) {
    case RecordType.ALLOC:
      return { type, handle: r.str(), owner: r.str(), size: r.u48(), align: r.u32() };
    case RecordType.FREE:
    case RecordType.UNMAP:
      return { type, handle: r.str() };
    case RecordType.MAP:
      return {
        type,
        handle: r.str(),
        owner: r.str(),
        length: r.u48(),
        store: r.u8() === 1 ? "file" : "anon",
        name: r.str(),
        hint: r.str(),
      };
    case RecordType.BATCH: {
      const n = r.u32();
      const pages: PageEntry[] = [];
      for (let i = 0; i < n; i++) {
        const handle = r.str();
        const page = r.u32();
        const at = r.u32();
        const length = r.u32();
        r.pad();
        pages.push({ handle, page, at, bytes: r.bytes(length) });
      }
      return { type, pages };
    }
    default:
      return { type: RecordType.END, count: r.u32() };
  }
}

/**
 * Walks the records of `buf` from `start`. `visit` gets each good record; the walk stops at the
 * first bad one and returns its offset and reason (null when the buffer ended on a boundary).
 */
export function walk(
  buf: Uint8Array,
  start: number,
  visit: (e: LogEntry, at: number) => void,
): { end: number; bad: null | { at: number; short: boolean; why: string } } {
  let at = start;
  while (at < buf.length) {
    const c = check(buf, at);
    if (!c.ok) return { end: at, bad: { at, short: c.short, why: c.why } };
    let record: Record_;
    try {
      record = decode(buf, at, c.size, c.type);
    } catch (e) {
      return { end: at, bad: { at, short: false, why: (e as Error).message } };
    }
    visit({ seq: c.seq, type: c.type, size: c.size, record }, at);
    at += c.size;
  }
  return { end: at, bad: null };
}

/** The offset of the next good record after `from`, or -1: tells a torn tail from damage mid-log. */
export function resync(buf: Uint8Array, from: number): number {
  for (let at = from + 1; at + HEADER <= buf.length; at++) {
    if (buf[at + 5] !== MAGIC[0] || buf[at + 6] !== MAGIC[1] || buf[at + 7] !== MAGIC[2]) continue;
    if (check(buf, at).ok) return at;
  }
  return -1;
}
