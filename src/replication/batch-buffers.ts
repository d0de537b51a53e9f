/**
 * Reusable buffers for batch records: a batch of `replicationBatch` pages is built in a buffer the
 * backend hands back (ReplicationBackend.recycle) once storage no longer needs it, so steady
 * writing allocates no large buffers (less GC). Larger batches get a buffer of their own.
 */
import { PAGE_SIZE } from "./format.js";

/** Smallest size of the reusable buffers (a batch of 4 KiB pages with handles fits). */
const SPARE_BYTES = 64 * 1024;
/** Most buffers kept for reuse. */
const SPARES = 64;

export class BatchBuffers {
  /** Bytes of each reusable buffer. */
  readonly size: number;
  private readonly spares: Buffer[] = [];

  constructor(batch: number) {
    this.size = Math.max(SPARE_BYTES, batch * (PAGE_SIZE + 128));
  }

  /** A record's buffer storage has finished with: kept if it is one of ours. */
  recycle(b: Buffer): void {
    if (b.buffer.byteLength === this.size && b.byteOffset === 0 && this.spares.length < SPARES)
      this.spares.push(Buffer.from(b.buffer, 0, this.size));
  }

  /** A reusable buffer for a batch of `bytes` payload, or undefined when none is large enough. */
  take(bytes: number): Buffer | undefined {
    if (bytes + 64 > this.size) return undefined;
    return this.spares.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }
}
