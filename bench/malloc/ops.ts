/**
 * Operation files for the object-layer benchmark: every workload (synthetic or a real trace from
 * ../shared/malloc) is converted once into this compact binary form, which the C replayer
 * (replay.c) and the JS replayer (replay-js.ts) both read, so that every allocator replays exactly
 * the same sequence.
 *
 * Layout (little-endian; every section starts at a multiple of 8 bytes):
 *
 * | offset | type       | field                                                              |
 * |-------:|------------|--------------------------------------------------------------------|
 * |      0 | u32        | magic 0x504f4e4d ("MNOP")                                          |
 * |      4 | u32        | format version (FORMAT_VERSION)                                    |
 * |      8 | u32        | nOps: operations in the file                                      |
 * |     12 | u32        | nPrefill: leading operations replayed untimed (synthetic fills)     |
 * |     16 | u32        | nRealloc: `r` operations (length of the oldId section)              |
 * |     20 | u32        | maxId: every id is below it                                        |
 * |     24 | f64        | peakLiveBytes: most requested bytes live at once (whole sequence)   |
 * |     32 | u32        | peakLiveObjects                                                    |
 * |     36 | u32        | maxSize: largest request                                            |
 * |     40 | u32        | aligned: operations with an explicit alignment                     |
 * |     44 | u32        | zeroSize: allocations of 0 bytes                                    |
 * |     48 | f64        | allocatedBytes: sum of all requested sizes                         |
 * |     56 | u32 x 2    | reserved (0)                                                        |
 * |     64 | u8[nOps]   | code: bits 0-1 opcode (0 a, 1 c, 2 f, 3 r), bits 2-7 log2(align),   |
 * |        |            | 0 = no explicit alignment                                          |
 * |      … | u32[nOps]  | id: object id (for `r`, the new id)                               |
 * |      … | u32[nOps]  | size: requested bytes (0 for `f`)                                  |
 * |      … | u32[nR]    | oldId of the k-th `r` operation, in order                         |
 */
import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { prng } from "../harness.js";

export const OP_ALLOC = 0;
export const OP_CALLOC = 1;
export const OP_FREE = 2;
export const OP_REALLOC = 3;

const MAGIC = 0x504f4e4d;
/** Bump when the layout or a generator changes, so cached files are rebuilt. */
export const FORMAT_VERSION = 1;
const HEADER = 64;

export interface OpFile {
  nOps: number;
  nPrefill: number;
  nRealloc: number;
  maxId: number;
  peakLiveBytes: number;
  peakLiveObjects: number;
  maxSize: number;
  aligned: number;
  zeroSize: number;
  allocatedBytes: number;
  code: Uint8Array;
  id: Uint32Array;
  size: Uint32Array;
  oldId: Uint32Array;
}

const pad8 = (n: number) => (n + 7) & ~7;

function sections(nOps: number, nR: number) {
  const code = HEADER;
  const id = code + pad8(nOps);
  const size = id + pad8(nOps * 4);
  const oldId = size + pad8(nOps * 4);
  const end = oldId + pad8(nR * 4);
  return { code, id, size, oldId, end };
}

/** Reads an op file into typed arrays over one fresh ArrayBuffer. */
export function readOpFile(path: string): OpFile {
  const fd = openSync(path, "r");
  try {
    const head = new Uint8Array(HEADER);
    if (readSync(fd, head, 0, HEADER, 0) !== HEADER) throw new Error(`${path}: truncated header`);
    const hv = new DataView(head.buffer);
    if (hv.getUint32(0, true) !== MAGIC || hv.getUint32(4, true) !== FORMAT_VERSION) {
      throw new Error(`${path}: not a version ${FORMAT_VERSION} op file`);
    }
    const nOps = hv.getUint32(8, true);
    const nR = hv.getUint32(16, true);
    const s = sections(nOps, nR);
    const buf = new ArrayBuffer(s.end);
    const all = new Uint8Array(buf);
    let done = 0;
    while (done < s.end) {
      const n = readSync(fd, all, done, Math.min(s.end - done, 1 << 30), done);
      if (n <= 0) throw new Error(`${path}: truncated`);
      done += n;
    }
    return {
      nOps,
      nPrefill: hv.getUint32(12, true),
      nRealloc: nR,
      maxId: hv.getUint32(20, true),
      peakLiveBytes: hv.getFloat64(24, true),
      peakLiveObjects: hv.getUint32(32, true),
      maxSize: hv.getUint32(36, true),
      aligned: hv.getUint32(40, true),
      zeroSize: hv.getUint32(44, true),
      allocatedBytes: hv.getFloat64(48, true),
      code: new Uint8Array(buf, s.code, nOps),
      id: new Uint32Array(buf, s.id, nOps),
      size: new Uint32Array(buf, s.size, nOps),
      oldId: new Uint32Array(buf, s.oldId, nR),
    };
  } finally {
    closeSync(fd);
  }
}

/** Header fields only (cheap: reads 64 bytes). */
export function readOpHeader(path: string): Omit<OpFile, "code" | "id" | "size" | "oldId"> {
  const fd = openSync(path, "r");
  try {
    const head = new Uint8Array(HEADER);
    if (readSync(fd, head, 0, HEADER, 0) !== HEADER) throw new Error(`${path}: truncated header`);
    const hv = new DataView(head.buffer);
    if (hv.getUint32(0, true) !== MAGIC || hv.getUint32(4, true) !== FORMAT_VERSION) {
      throw new Error(`${path}: not a version ${FORMAT_VERSION} op file`);
    }
    return {
      nOps: hv.getUint32(8, true),
      nPrefill: hv.getUint32(12, true),
      nRealloc: hv.getUint32(16, true),
      maxId: hv.getUint32(20, true),
      peakLiveBytes: hv.getFloat64(24, true),
      peakLiveObjects: hv.getUint32(32, true),
      maxSize: hv.getUint32(36, true),
      aligned: hv.getUint32(40, true),
      zeroSize: hv.getUint32(44, true),
      allocatedBytes: hv.getFloat64(48, true),
    };
  } finally {
    closeSync(fd);
  }
}

/** Growable columns of operations; `finish()` checks the sequence and computes the header. */
export class OpBuilder {
  code: Uint8Array;
  id: Uint32Array;
  size: Uint32Array;
  oldId: Uint32Array;
  n = 0;
  nR = 0;
  prefill = 0;

  constructor(capacity = 1 << 16) {
    this.code = new Uint8Array(capacity);
    this.id = new Uint32Array(capacity);
    this.size = new Uint32Array(capacity);
    this.oldId = new Uint32Array(1024);
  }

  private grow(): void {
    const cap = this.code.length * 2;
    const c = new Uint8Array(cap);
    c.set(this.code);
    const i = new Uint32Array(cap);
    i.set(this.id);
    const s = new Uint32Array(cap);
    s.set(this.size);
    this.code = c;
    this.id = i;
    this.size = s;
  }

  push(op: number, id: number, size: number, align = 0): void {
    if (this.n === this.code.length) this.grow();
    let la = 0;
    if (align > 1) {
      la = 31 - Math.clz32(align);
      if (1 << la !== align || la > 63) throw new Error(`bad alignment ${align}`);
    }
    this.code[this.n] = op | (la << 2);
    this.id[this.n] = id;
    this.size[this.n] = size;
    this.n++;
  }

  realloc(oldId: number, newId: number, size: number): void {
    if (this.nR === this.oldId.length) {
      const o = new Uint32Array(this.nR * 2);
      o.set(this.oldId);
      this.oldId = o;
    }
    this.oldId[this.nR++] = oldId;
    this.push(OP_REALLOC, newId, size);
  }

  /** Validates the sequence (ids live/dead as the ops say) and returns the whole file. */
  finish(): OpFile {
    const n = this.n;
    const code = this.code.subarray(0, n);
    const id = this.id.subarray(0, n);
    const size = this.size.subarray(0, n);
    let maxId = 0;
    for (let i = 0; i < n; i++) if (id[i] + 1 > maxId) maxId = id[i] + 1;
    for (let k = 0; k < this.nR; k++) if (this.oldId[k] + 1 > maxId) maxId = this.oldId[k] + 1;
    const liveSize = new Float64Array(maxId).fill(-1);
    let live = 0;
    let liveObjects = 0;
    let peak = 0;
    let peakObjects = 0;
    let maxSize = 0;
    let aligned = 0;
    let zero = 0;
    let allocated = 0;
    let r = 0;
    for (let i = 0; i < n; i++) {
      const c = code[i];
      const op = c & 3;
      const d = id[i];
      if (op === OP_FREE) {
        if (liveSize[d] < 0) throw new Error(`op ${i}: free of dead id ${d}`);
        live -= liveSize[d];
        liveSize[d] = -1;
        liveObjects--;
        continue;
      }
      if (op === OP_REALLOC) {
        const o = this.oldId[r++];
        if (liveSize[o] < 0) throw new Error(`op ${i}: realloc of dead id ${o}`);
        live -= liveSize[o];
        liveSize[o] = -1;
        liveObjects--;
      }
      if (liveSize[d] >= 0) throw new Error(`op ${i}: id ${d} is already live`);
      const s = size[i];
      liveSize[d] = s;
      live += s;
      liveObjects++;
      allocated += s;
      if (s > maxSize) maxSize = s;
      if (s === 0) zero++;
      if (c >> 2 !== 0) aligned++;
      if (live > peak) peak = live;
      if (liveObjects > peakObjects) peakObjects = liveObjects;
    }
    return {
      nOps: n,
      nPrefill: this.prefill,
      nRealloc: this.nR,
      maxId,
      peakLiveBytes: peak,
      peakLiveObjects: peakObjects,
      maxSize,
      aligned,
      zeroSize: zero,
      allocatedBytes: allocated,
      code,
      id,
      size,
      oldId: this.oldId.subarray(0, this.nR),
    };
  }
}

export function writeOpFile(path: string, f: OpFile): void {
  const s = sections(f.nOps, f.nRealloc);
  const head = new ArrayBuffer(HEADER);
  const hv = new DataView(head);
  hv.setUint32(0, MAGIC, true);
  hv.setUint32(4, FORMAT_VERSION, true);
  hv.setUint32(8, f.nOps, true);
  hv.setUint32(12, f.nPrefill, true);
  hv.setUint32(16, f.nRealloc, true);
  hv.setUint32(20, f.maxId, true);
  hv.setFloat64(24, f.peakLiveBytes, true);
  hv.setUint32(32, f.peakLiveObjects, true);
  hv.setUint32(36, f.maxSize, true);
  hv.setUint32(40, f.aligned, true);
  hv.setUint32(44, f.zeroSize, true);
  hv.setFloat64(48, f.allocatedBytes, true);
  const fd = openSync(path, "w");
  try {
    const put = (bytes: Uint8Array, at: number) => {
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, at + done);
    };
    const asBytes = (a: Uint8Array | Uint32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    put(new Uint8Array(head), 0);
    put(asBytes(f.code), s.code);
    put(asBytes(f.id), s.id);
    put(asBytes(f.size), s.size);
    put(asBytes(f.oldId), s.oldId);
    put(new Uint8Array(s.end - s.oldId - f.nRealloc * 4), s.oldId + f.nRealloc * 4);
  } finally {
    closeSync(fd);
  }
}

// ------------------------------------------------------------------ synthetic workloads

/**
 * Fixed-size objects: fill `live` objects (untimed), then `steps` times free a random live object
 * and allocate one in its place (2 timed ops per step).
 */
export function fixedWorkload(objectSize: number, live: number, steps: number, seed: number): OpFile {
  const b = new OpBuilder(live + 2 * steps);
  for (let i = 0; i < live; i++) b.push(OP_ALLOC, i, objectSize);
  b.prefill = live;
  const rand = prng(seed);
  for (let i = 0; i < steps; i++) {
    const k = Math.floor(rand() * live);
    b.push(OP_FREE, k, 0);
    b.push(OP_ALLOC, k, objectSize);
  }
  return b.finish();
}

/** Sizes log-uniform in [lo, hi]; same shape as fixedWorkload. */
export function mixedWorkload(lo: number, hi: number, live: number, steps: number, seed: number): OpFile {
  const rand = prng(seed);
  const ratio = hi / lo;
  const size = () => Math.min(hi, Math.floor(lo * ratio ** rand()));
  const b = new OpBuilder(live + 2 * steps);
  for (let i = 0; i < live; i++) b.push(OP_ALLOC, i, size());
  b.prefill = live;
  for (let i = 0; i < steps; i++) {
    const k = Math.floor(rand() * live);
    b.push(OP_FREE, k, 0);
    b.push(OP_ALLOC, k, size());
  }
  return b.finish();
}

/**
 * A correctness workload (not timed): every operation kind mixed — malloc (5% of sizes 0), calloc,
 * posix_memalign with alignments 8 B - 64 KiB, realloc up and down, frees in random order — with
 * sizes from 1 B to 512 KiB and up to 5,000 live objects. Ids are reused like the traces' ids.
 */
export function stressWorkload(ops: number, seed: number): OpFile {
  const rand = prng(seed);
  const b = new OpBuilder();
  const live: number[] = [];
  const freeIds: number[] = [];
  let next = 0;
  const size = () => {
    const u = rand();
    if (u < 0.05) return 0;
    if (u < 0.6) return Math.floor(1 + rand() * 512);
    if (u < 0.9) return Math.floor(512 * 64 ** rand());
    return Math.floor(8192 * 64 ** rand());
  };
  const take = () => (freeIds.length > 0 ? freeIds.pop()! : next++);
  for (let i = 0; i < ops; i++) {
    const u = rand();
    if (live.length > 0 && (u < 0.35 || live.length >= 5000)) {
      const k = Math.floor(rand() * live.length);
      const id = live[k];
      live[k] = live[live.length - 1];
      live.pop();
      b.push(OP_FREE, id, 0);
      freeIds.push(id);
    } else if (live.length > 0 && u < 0.5) {
      const k = Math.floor(rand() * live.length);
      const old = live[k];
      const id = take();
      live[k] = id;
      b.realloc(old, id, Math.max(1, size()));
      freeIds.push(old);
    } else {
      const id = take();
      live.push(id);
      const v = rand();
      if (v < 0.15) b.push(OP_CALLOC, id, size());
      else if (v < 0.35) b.push(OP_ALLOC, id, size(), 2 ** Math.floor(3 + rand() * 14));
      else b.push(OP_ALLOC, id, size());
    }
  }
  return b.finish();
}

// ------------------------------------------------------------------ mtrace v1

/**
 * Parses a gzip'ed mtrace v1 file (see ../shared/malloc/README.md) with a byte-level line parser.
 * `limit` keeps only the first operations (for --quick). Throws on a malformed line.
 */
export function parseTrace(gz: Uint8Array, limit = Number.POSITIVE_INFINITY): OpFile {
  const text = gunzipSync(gz);
  let lines = 0;
  for (let i = text.indexOf(10); i >= 0; i = text.indexOf(10, i + 1)) lines++;
  const b = new OpBuilder(Math.min(lines + 1, limit));
  const n = text.length;
  let p = 0;
  let line = 0;
  const num = (): number => {
    while (p < n && text[p] === 32) p++;
    let v = 0;
    const start = p;
    for (let c = text[p]; c >= 48 && c <= 57; c = text[++p]) v = v * 10 + (c - 48);
    if (p === start) throw new Error(`trace line ${line + 1}: expected a number`);
    return v;
  };
  const hasMore = (): boolean => {
    while (p < n && text[p] === 32) p++;
    return p < n && text[p] !== 10 && text[p] !== 13;
  };
  while (p < n && b.n < limit) {
    line++;
    const c = text[p];
    if (c === 35 /* # */ || c === 10 || c === 13) {
      const e = text.indexOf(10, p);
      p = e < 0 ? n : e + 1;
      continue;
    }
    p++;
    if (c === 97 /* a */) {
      const id = num();
      const size = num();
      const align = hasMore() ? num() : 0;
      b.push(OP_ALLOC, id, size, align);
    } else if (c === 99 /* c */) {
      const id = num();
      b.push(OP_CALLOC, id, num());
    } else if (c === 102 /* f */) {
      b.push(OP_FREE, num(), 0);
    } else if (c === 114 /* r */) {
      const oldId = num();
      const newId = num();
      b.realloc(oldId, newId, num());
    } else {
      throw new Error(`trace line ${line}: unknown operation ${String.fromCharCode(c)}`);
    }
    if (hasMore()) throw new Error(`trace line ${line}: trailing fields`);
    while (p < n && text[p] !== 10) p++;
    p++;
  }
  return b.finish();
}
