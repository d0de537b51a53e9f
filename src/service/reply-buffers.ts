/**
 * Reply buffers: a fixed pool of equal slots in one SharedArrayBuffer (LegoOS's thpool buffers).
 *
 * A handler writes its reply into slots and returns at once; the slot goes to the socket with
 * `socket.write(view, callback)` and comes back to the pool in the callback, when the kernel has
 * taken the bytes. Any thread may fill any slot (the buffer is shared with the worker threads),
 * but only the I/O thread acquires and releases them, so the free stack needs no lock.
 *
 *     free stack ──acquire──► ReplyStream (per connection) ──socket.write──► kernel
 *         ▲                                                                   │
 *         └──────────────────────────── release (write callback) ◄───────────┘
 *
 * Backpressure: before a command runs, the connection asks whether its worst-case reply fits in
 * what its stream has left plus the free slots (and within its own share of the pool). If not,
 * the connection stops reading its socket and waits; released slots wake the waiters. A client
 * that pipelines READs and never reads the replies therefore holds at most its share of slots,
 * then the server stops reading from it: memory stays bounded, whatever the client sends.
 * A reply that does not fit when it is ready (an asynchronous command's, finished after other
 * connections took the free slots; INFO or CLIENT LIST past the one slot assumed for them) waits
 * the same way and goes out in pieces as slots come back (Connection.hold in server.ts).
 */
import type { Socket } from "node:net";
import { copyBytes } from "../util/shared-bytes.js";

export interface ReplyBufferStats {
  replyBuffers: number;
  replyBufferBytes: number;
  replyBuffersInUse: number;
  replyBuffersPeak: number;
  /** Times a connection had to stop reading because no reply buffer was free for it. */
  replyBufferWaits: number;
}

export class ReplyBuffers {
  readonly count: number;
  readonly slotSize: number;
  readonly buffer: SharedArrayBuffer;
  /** A Buffer over the whole pool; slot i is bytes [i * slotSize, (i + 1) * slotSize). */
  readonly bytes: Buffer;
  private readonly freeStack: Int32Array;
  private top: number;
  private peak = 0;
  waits = 0;
  private readonly waiters = new Set<() => boolean>();
  private wakeScheduled = false;

  constructor(count: number, slotSize: number) {
    this.count = count;
    this.slotSize = slotSize;
    this.buffer = new SharedArrayBuffer(count * slotSize);
    this.bytes = Buffer.from(this.buffer);
    this.freeStack = new Int32Array(count);
    for (let i = 0; i < count; i++) this.freeStack[i] = count - 1 - i;
    this.top = count;
  }

  get free(): number {
    return this.top;
  }

  /** A free slot's index, or -1 when every slot is in use. */
  acquire(): number {
    if (this.top === 0) return -1;
    const s = this.freeStack[--this.top];
    const used = this.count - this.top;
    if (used > this.peak) this.peak = used;
    return s;
  }

  release(slot: number): void {
    this.freeStack[this.top++] = slot;
    if (this.waiters.size > 0 && !this.wakeScheduled) {
      this.wakeScheduled = true;
      setImmediate(() => this.wake());
    }
  }

  /** Registers a stalled connection; `resume` returns true once it could continue. */
  wait(resume: () => boolean): void {
    this.waits++;
    this.waiters.add(resume);
  }

  forget(resume: () => boolean): void {
    this.waiters.delete(resume);
  }

  private wake(): void {
    this.wakeScheduled = false;
    for (const w of [...this.waiters]) {
      if (this.top === 0) break;
      if (w()) this.waiters.delete(w);
    }
  }

  stats(): ReplyBufferStats {
    return {
      replyBuffers: this.count,
      replyBufferBytes: this.slotSize,
      replyBuffersInUse: this.count - this.top,
      replyBuffersPeak: this.peak,
      replyBufferWaits: this.waits,
    };
  }
}

/**
 * A connection's reply stream: bytes are appended to its current slot; a full slot, or the
 * partly filled one at the end of a batch, goes to the socket. `inFlight` counts slots the
 * connection holds (filling or being written).
 */
export class ReplyStream {
  private readonly pool: ReplyBuffers;
  private socket: Socket | null;
  private slot = -1;
  private fill = 0;
  /** Full slots not yet handed to the socket (a worker may still be filling them). */
  private sealed: number[] = [];
  inFlight = 0;
  /** Most slots this connection may hold at once (its share of the pool). */
  readonly share: number;

  constructor(pool: ReplyBuffers, socket: Socket, share: number) {
    this.pool = pool;
    this.socket = socket;
    this.share = share;
  }

  /** Whether `bytes` more can be written now without waiting for a slot. */
  fits(bytes: number): boolean {
    const room = this.slot >= 0 ? this.pool.slotSize - this.fill : 0;
    if (bytes <= room) return true;
    const slots = Math.ceil((bytes - room) / this.pool.slotSize);
    if (slots > this.pool.free) return false;
    return this.inFlight === 0 || this.inFlight + slots <= this.share;
  }

  /** Bytes that can be written now without waiting: the current slot's room and the slots it may take. */
  writable(): number {
    const room = this.slot >= 0 ? this.pool.slotSize - this.fill : 0;
    const free = this.pool.free;
    const slots = this.inFlight === 0 ? free : Math.min(free, Math.max(0, this.share - this.inFlight));
    return room + slots * this.pool.slotSize;
  }

  /** Appends a latin1 string (RESP headers, simple replies). Caller checked fits(). */
  ascii(s: string): void {
    let i = 0;
    while (i < s.length) {
      const room = this.room();
      const n = Math.min(room, s.length - i);
      const at = this.slot * this.pool.slotSize + this.fill;
      this.pool.bytes.write(i === 0 && n === s.length ? s : s.slice(i, i + n), at, n, "latin1");
      this.fill += n;
      i += n;
    }
  }

  /** Appends bytes from any Uint8Array (the pool's memory, a request's bulk, an encoded reply). */
  bytes(src: Uint8Array, from = 0, length = src.length - from): void {
    let done = 0;
    while (done < length) {
      const room = this.room();
      const n = Math.min(room, length - done);
      const at = this.slot * this.pool.slotSize + this.fill;
      copyBytes(this.pool.bytes, at, src.subarray(from + done, from + done + n));
      this.fill += n;
      done += n;
    }
  }

  /**
   * Reserves `length` bytes and returns where they lie as [slot, offset, n] pieces, so another
   * thread can fill them; the pieces count as written.
   */
  reserve(length: number): number[] {
    const pieces: number[] = [];
    let done = 0;
    while (done < length) {
      const room = this.room();
      const n = Math.min(room, length - done);
      pieces.push(this.slot, this.fill, n);
      this.fill += n;
      done += n;
    }
    return pieces;
  }

  /** Sends the sealed slots and what the current slot holds. */
  flush(): void {
    const socket = this.socket;
    const many = this.sealed.length > 0 && socket !== null;
    if (many) socket.cork();
    for (const s of this.sealed) this.send(s, this.pool.slotSize);
    this.sealed.length = 0;
    if (this.slot >= 0) {
      const slot = this.slot;
      const fill = this.fill;
      this.slot = -1;
      this.fill = 0;
      this.send(slot, fill);
    }
    if (many) socket.uncork();
  }

  private send(slot: number, fill: number): void {
    const socket = this.socket;
    if (fill === 0 || socket === null || socket.destroyed) {
      this.done(slot);
      return;
    }
    const base = slot * this.pool.slotSize;
    socket.write(this.pool.bytes.subarray(base, base + fill), () => this.done(slot));
  }

  /** The socket is gone: slots still queued come back through their write callbacks. */
  detach(): void {
    for (const s of this.sealed) this.done(s);
    this.sealed.length = 0;
    if (this.slot >= 0) {
      const slot = this.slot;
      this.slot = -1;
      this.done(slot);
    }
    this.socket = null;
  }

  private done(slot: number): void {
    this.inFlight--;
    this.pool.release(slot);
  }

  private room(): number {
    if (this.slot >= 0 && this.fill < this.pool.slotSize) return this.pool.slotSize - this.fill;
    if (this.slot >= 0) this.sealed.push(this.slot);
    const s = this.pool.acquire();
    if (s < 0) throw new Error("reply buffers exhausted: fits() was not consulted");
    this.slot = s;
    this.fill = 0;
    this.inFlight++;
    return this.pool.slotSize;
  }
}
