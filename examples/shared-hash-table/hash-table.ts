/**
 * A hash table that lives entirely in a mneme pool, so every thread that attached the pool uses
 * the same table: string keys, float64 values, chained buckets, striped locks.
 *
 *     header ──► buckets: u32[bucketCount]     heads of the chains (entry address, 0 = empty)
 *            └─► locks:   mutex[stripeCount]   bucket b is guarded by stripe b & (stripes - 1)
 *
 *     bucket[h & (buckets - 1)] ──► entry ──next──► entry ──next──► 0
 *
 * Every structure is a `pool.heap` object, and addresses are byte offsets in the pool's
 * SharedArrayBuffer, so the header address is all another thread needs (after `Mempool.attach`).
 *
 * Header (8 u32 words):
 *
 * | word | field        | written by                                             |
 * |------|--------------|--------------------------------------------------------|
 * | 0    | MAGIC        | create, once; destroy zeroes it                        |
 * | 1    | bucketCount  | create, once (a power of two)                          |
 * | 2    | stripeCount  | create, once (a power of two, at most bucketCount)     |
 * | 3    | count        | Atomics.add/sub by whoever links or unlinks an entry   |
 * | 4    | buckets      | create, once: address of the u32 heads                 |
 * | 5    | locks        | create, once: address of stripeCount mutexes           |
 *
 * Entry (a pool.heap object of ENTRY_HEAD + key bytes; malloc gives 8-byte alignment):
 *
 * | offset | size | field                                  |
 * |--------|------|----------------------------------------|
 * | 0      | 4    | next entry in the chain (0 = end)      |
 * | 4      | 4    | hash of the key (FNV-1a, 32 bits)      |
 * | 8      | 8    | value (float64)                        |
 * | 16     | 4    | key length in bytes                    |
 * | 20     | n    | key, UTF-8                             |
 *
 * Concurrency contract: a bucket's head, and the next/value fields of the entries on its chain,
 * are read and written only while holding the bucket's stripe lock (mneme's Mutex: Atomics
 * compareExchange to take, Atomics.store to release, Atomics.wait to sleep), so they are plain
 * reads and writes ordered by the lock's atomics. An entry's hash, length and key are written
 * before it is linked and never change. `count` is an Atomics counter, exact once the writers
 * are done. Memory is allocated before taking a lock and freed after releasing it, so the stripe
 * locks are always taken before the heap's own locks, never the other way round.
 *
 * Lock owners are thread ids + 1 (unique in the process). The table's locks are not robust: a
 * thread that dies while holding a stripe would block that stripe (the pool's own allocator
 * locks are robust; see docs/pool.md).
 */
import { threadId } from "node:worker_threads";
import { InvalidAddressError, InvalidArgumentError, type Mempool, Mutex } from "mneme";

const MAGIC = 0x48544142; // "HTAB"
const H_MAGIC = 0;
const H_BUCKETS = 1;
const H_STRIPES = 2;
const H_COUNT = 3;
const H_BUCKET_TABLE = 4;
const H_LOCKS = 5;
const SIZEOF_HEADER = 8 * 4;

const E_NEXT = 0;
const E_HASH = 4;
const E_VALUE = 8;
const E_KEY_LENGTH = 16;
const E_KEY = 20;
/** Bytes of an entry before its key. */
const ENTRY_HEAD = E_KEY;

/** Int32 words per stripe lock (mneme's Mutex: owner, waiters, depth). */
const MUTEX_WORDS = 3;
const MAX_KEY_BYTES = 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return h >>> 0;
}

function powerOfTwo(name: string, v: unknown, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > max || (v & (v - 1)) !== 0) {
    throw new InvalidArgumentError(name, v, `must be a power of two from 1 to ${max}`);
  }
  return v;
}

export interface TableOptions {
  /** Chains (a power of two). Default 1024. */
  buckets?: number;
  /** Locks, each guarding buckets b with b & (stripes - 1) equal (a power of two). Default 64. */
  stripes?: number;
}

export class SharedHashTable {
  /** Address of the header in the pool: what other threads pass to attach(). */
  readonly address: number;
  private readonly pool: Mempool;
  private readonly u8: Uint8Array;
  private readonly u32: Uint32Array;
  private readonly f64: Float64Array;
  private readonly locks: Mutex[];
  private readonly bucketMask: number;
  private readonly stripeMask: number;
  private readonly heads: number;

  private constructor(pool: Mempool, address: number) {
    this.pool = pool;
    this.address = address;
    // pool.memory: the single segment's bytes, addresses are offsets into its buffer.
    const buffer = pool.memory.buffer as SharedArrayBuffer;
    this.u8 = new Uint8Array(buffer);
    this.u32 = new Uint32Array(buffer);
    this.f64 = new Float64Array(buffer);
    const h = address >>> 2;
    this.bucketMask = this.u32[h + H_BUCKETS] - 1;
    this.stripeMask = this.u32[h + H_STRIPES] - 1;
    this.heads = this.u32[h + H_BUCKET_TABLE] >>> 2;
    const words = new Int32Array(buffer);
    const first = this.u32[h + H_LOCKS] >>> 2;
    this.locks = Array.from(
      { length: this.stripeMask + 1 },
      (_, i) =>
        new Mutex(
          words,
          first + i * MUTEX_WORDS,
          threadId + 1,
          () => false,
          () => {},
        ),
    );
  }

  /** A new empty table in `pool` (a single-segment pool: addresses must fit 32 bits). */
  static create(pool: Mempool, options: TableOptions = {}): SharedHashTable {
    const buckets = powerOfTwo("buckets", options.buckets ?? 1024, 1 << 24);
    const stripes = powerOfTwo("stripes", options.stripes ?? 64, buckets);
    const memory = pool.memory; // throws for a multi-segment pool, before anything is allocated
    const heap = pool.heap;
    const header = heap.calloc(1, SIZEOF_HEADER);
    let table = 0;
    try {
      table = heap.calloc(buckets, 4);
      const locks = heap.calloc(stripes, MUTEX_WORDS * 4);
      const u32 = new Uint32Array(memory.buffer);
      const h = header >>> 2;
      u32[h + H_BUCKETS] = buckets;
      u32[h + H_STRIPES] = stripes;
      u32[h + H_BUCKET_TABLE] = table;
      u32[h + H_LOCKS] = locks;
      Atomics.store(u32, h + H_MAGIC, MAGIC);
    } catch (e) {
      if (table !== 0) heap.free(table);
      heap.free(header);
      throw e;
    }
    return new SharedHashTable(pool, header);
  }

  /** The table whose header is at `address` (from create() in any thread that shares the pool). */
  static attach(pool: Mempool, address: number): SharedHashTable {
    const memory = pool.memory;
    if (
      typeof address !== "number" ||
      !Number.isInteger(address) ||
      address <= 0 ||
      address % 8 !== 0 ||
      address + SIZEOF_HEADER > memory.length ||
      Atomics.load(new Uint32Array(memory.buffer), (address >>> 2) + H_MAGIC) !== MAGIC
    ) {
      throw new InvalidAddressError(address as number, "not the header of a shared hash table");
    }
    return new SharedHashTable(pool, address);
  }

  /** Entries linked now (exact once no other thread is changing the table). */
  get size(): number {
    return Atomics.load(this.u32, (this.address >>> 2) + H_COUNT);
  }

  get(key: string): number | undefined {
    const k = this.keyBytes(key);
    const hash = fnv1a(k);
    return this.locked(hash, (bucket) => {
      const e = this.find(bucket, hash, k).entry;
      return e === 0 ? undefined : this.f64[(e + E_VALUE) >>> 3];
    });
  }

  /** Sets the value of `key`; true if the key is new. */
  set(key: string, value: number): boolean {
    return this.update(key, () => value) === undefined;
  }

  /**
   * Sets `key` to `fn(current)` under the bucket's lock, so concurrent updates of one key never
   * lose each other (a read then a set would). Returns the previous value. `fn` must not call
   * the table.
   */
  update(key: string, fn: (current: number | undefined) => number): number | undefined {
    const k = this.keyBytes(key);
    const hash = fnv1a(k);
    const inPlace = (bucket: number): { old: number } | null => {
      const { entry } = this.find(bucket, hash, k);
      if (entry === 0) return null;
      const at = (entry + E_VALUE) >>> 3;
      const old = this.f64[at];
      this.f64[at] = fn(old);
      return { old };
    };
    const found = this.locked(hash, inPlace);
    if (found !== null) return found.old;
    // A new key: the entry is allocated outside the lock, then the chain is searched again, as
    // another thread may have inserted the key meanwhile (the entry is freed then).
    const fresh = this.pool.heap.malloc(ENTRY_HEAD + k.length);
    let linked = false;
    try {
      const raced = this.locked(hash, (bucket) => {
        const again = inPlace(bucket);
        if (again !== null) return again;
        const e = fresh;
        const value = fn(undefined);
        this.u32[(e + E_HASH) >>> 2] = hash;
        this.f64[(e + E_VALUE) >>> 3] = value;
        this.u32[(e + E_KEY_LENGTH) >>> 2] = k.length;
        this.u8.set(k, e + E_KEY);
        this.u32[(e + E_NEXT) >>> 2] = this.u32[this.heads + bucket];
        this.u32[this.heads + bucket] = e;
        Atomics.add(this.u32, (this.address >>> 2) + H_COUNT, 1);
        linked = true;
        return null;
      });
      return raced?.old;
    } finally {
      if (!linked) this.pool.heap.free(fresh);
    }
  }

  /** Removes `key`; true if it was there. */
  delete(key: string): boolean {
    const k = this.keyBytes(key);
    const hash = fnv1a(k);
    const unlinked = this.locked(hash, (bucket) => {
      const { entry, link } = this.find(bucket, hash, k);
      if (entry === 0) return 0;
      this.u32[link] = this.u32[(entry + E_NEXT) >>> 2];
      Atomics.sub(this.u32, (this.address >>> 2) + H_COUNT, 1);
      return entry;
    });
    if (unlinked === 0) return false;
    this.pool.heap.free(unlinked);
    return true;
  }

  /** Every entry, bucket by bucket, each bucket read under its lock. */
  entries(): [string, number][] {
    const out: [string, number][] = [];
    for (let b = 0; b <= this.bucketMask; b++) {
      this.locked(b, () => {
        for (let e = this.u32[this.heads + b]; e !== 0; e = this.u32[(e + E_NEXT) >>> 2]) {
          const n = this.u32[(e + E_KEY_LENGTH) >>> 2];
          out.push([decoder.decode(this.u8.slice(e + E_KEY, e + E_KEY + n)), this.f64[(e + E_VALUE) >>> 3]]);
        }
      });
    }
    return out;
  }

  /** Frees every entry and the table itself. Only when no other thread uses the table any more. */
  destroy(): void {
    const h = this.address >>> 2;
    for (let b = 0; b <= this.bucketMask; b++) {
      let e = this.u32[this.heads + b];
      while (e !== 0) {
        const next = this.u32[(e + E_NEXT) >>> 2];
        this.pool.heap.free(e);
        e = next;
      }
    }
    const heap = this.pool.heap;
    heap.free(this.u32[h + H_LOCKS]);
    heap.free(this.u32[h + H_BUCKET_TABLE]);
    Atomics.store(this.u32, h + H_MAGIC, 0);
    heap.free(this.address);
  }

  private keyBytes(key: string): Uint8Array {
    if (typeof key !== "string") throw new InvalidArgumentError("key", key, "must be a string");
    const k = encoder.encode(key);
    if (k.length > MAX_KEY_BYTES) {
      throw new InvalidArgumentError("key", key, `longer than ${MAX_KEY_BYTES} bytes of UTF-8`);
    }
    return k;
  }

  /** Runs `fn(bucket)` holding the stripe lock of the bucket `hash` falls in. */
  private locked<T>(hash: number, fn: (bucket: number) => T): T {
    const bucket = hash & this.bucketMask;
    const lock = this.locks[bucket & this.stripeMask];
    lock.lock();
    try {
      return fn(bucket);
    } finally {
      lock.unlock();
    }
  }

  /** The entry for key `k` in `bucket` (0 if none) and the u32 index of the link pointing at it. */
  private find(bucket: number, hash: number, k: Uint8Array): { entry: number; link: number } {
    let link = this.heads + bucket;
    for (let e = this.u32[link]; e !== 0; e = this.u32[link]) {
      if (this.u32[(e + E_HASH) >>> 2] === hash && this.keyEquals(e, k)) return { entry: e, link };
      link = (e + E_NEXT) >>> 2;
    }
    return { entry: 0, link };
  }

  private keyEquals(e: number, k: Uint8Array): boolean {
    if (this.u32[(e + E_KEY_LENGTH) >>> 2] !== k.length) return false;
    const at = e + E_KEY;
    for (let i = 0; i < k.length; i++) if (this.u8[at + i] !== k[i]) return false;
    return true;
  }
}
