/**
 * Where an address space's frames come from: a page layer (a PageAllocator, private or shared by
 * several spaces) or a shared pool (a Mempool, whose pages every worker can see). The pager only
 * needs page-sized, page-aligned blocks and a view of their bytes.
 */
import type { PageAllocator } from "../page/buddy.js";
import type { Mempool } from "../pool/mempool.js";

export interface FrameSource {
  /** Size of the source's pages: frames are a whole number of them. */
  readonly pageSize: number;
  /** Largest block the source can hand out, in bytes. */
  readonly maxBlock: number;
  /** A block of `bytes`, aligned to `bytes`; throws OutOfMemoryError when there is none. */
  alloc(bytes: number): number;
  free(address: number): void;
  /** The bytes of [address, address + length) inside one block. */
  view(address: number, length: number): Uint8Array;
  /** Whether `buffer` holds frames (a caller's array may be a view of them: a pin's). */
  holds(buffer: ArrayBufferLike): boolean;
}

export function pageSource(pages: PageAllocator): FrameSource {
  return {
    pageSize: pages.pageSize,
    maxBlock: pages.pageSize * 2 ** pages.maxOrder,
    alloc: (bytes) => pages.alloc(bytes, bytes),
    free: (address) => pages.free(address),
    view: (address, length) => pages.memory.subarray(address, address + length),
    holds: (buffer) => buffer === pages.memory.buffer,
  };
}

/**
 * Frames from a shared pool: each is a pool.alloc block charged to the calling thread, so
 * `pool.stats()` and `debugInfo()` show what the address space holds, and the pool's lock makes
 * it safe beside the workers' own allocations.
 */
export function poolSource(pool: Mempool): FrameSource {
  const ps = pool.pageSize;
  const buffers = new Set<ArrayBufferLike>(pool.handle.buffers);
  return {
    pageSize: ps,
    maxBlock: ps,
    alloc: (bytes) => pool.alloc(bytes),
    free: (address) => pool.free(address),
    view: (address, length) => pool.view(address, length),
    holds: (buffer) => buffers.has(buffer),
  };
}
