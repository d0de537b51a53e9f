/**
 * MnemeClient: a typed client for the memory service over ioredis (which brings reconnection,
 * the ready check and pipelining). Handles are strings; data comes back as Uint8Array.
 *
 *     const c = new MnemeClient({ port: 6389 });
 *     const h = await c.alloc(4096);
 *     await c.write(h, 0, new TextEncoder().encode("hello"));
 *     const bytes = await c.read(h, 0, 5);
 *     const [a, b] = await c.pipeline((p) => p.read(h, 0, 2).read(h, 2, 3));
 *     const region = await c.map(1 << 30, { store: "file", name: "big.bin", hint: "random" });
 *     await c.free(h); await c.close();
 */
import { Redis, type RedisOptions } from "ioredis";
import type { Hint } from "../vm/hints.js";
import { checkCount, checkData, checkHandle, request, serviceError } from "./client-errors.js";

export { ServiceError } from "./client-errors.js";

export type Handle = string;

/** MAP's options: the backing store (anonymous memory, or a named file of this identity) and a hint. */
export interface MnemeMapOptions {
  store?: "anon" | "file";
  /** The file's name under the data directory (with store "file"). */
  name?: string;
  hint?: Hint;
}

function mapArgs(length: number, o: MnemeMapOptions): (string | number)[] {
  const args: (string | number)[] = [checkCount("length", length)];
  if (o.store === "file") args.push("STORE", "file", o.name ?? "");
  else if (o.store === "anon") args.push("STORE", "anon");
  if (o.hint !== undefined) args.push("HINT", o.hint);
  return args;
}

export interface MnemeClientOptions extends RedisOptions {}

/** Stats as the server reports them (STATS), every figure a number. */
export type ServiceStats = Record<string, number>;

function allocArgs(size: number, align?: number): (string | number)[] {
  checkCount("size", size);
  return align === undefined ? [size] : [size, "ALIGN", checkCount("align", align)];
}

/**
 * Queues commands and sends them in one round trip. Arguments are checked as each is queued
 * (InvalidArgumentError, nothing queued).
 */
export class MnemePipeline {
  private readonly ops: [string, (string | Buffer | number)[], (v: unknown) => unknown][] = [];

  alloc(size: number, align?: number): this {
    this.ops.push(["ALLOC", allocArgs(size, align), (v) => String(v)]);
    return this;
  }
  map(length: number, options: MnemeMapOptions = {}): this {
    this.ops.push(["MAP", mapArgs(length, options), (v) => String(v)]);
    return this;
  }
  free(handle: Handle): this {
    this.ops.push(["FREE", [checkHandle(handle)], () => undefined]);
    return this;
  }
  write(handle: Handle, offset: number, data: Uint8Array): this {
    this.ops.push([
      "WRITE",
      [checkHandle(handle), checkCount("offset", offset), checkData(data)],
      (v) => Number(v),
    ]);
    return this;
  }
  read(handle: Handle, offset: number, length: number): this {
    this.ops.push([
      "READ",
      [checkHandle(handle), checkCount("offset", offset), checkCount("length", length)],
      (v) => toBytes(v),
    ]);
    return this;
  }
  size(handle: Handle): this {
    this.ops.push(["SIZE", [checkHandle(handle)], (v) => Number(v)]);
    return this;
  }

  /** @internal */
  async run(redis: Redis): Promise<unknown[]> {
    const p = redis.pipeline();
    for (const [cmd, args] of this.ops) p.callBuffer(cmd, ...args);
    const results = (await request(() => p.exec())) ?? [];
    return results.map(([err, v], i) => {
      if (err) throw serviceError(err);
      return this.ops[i][2](v);
    });
  }
}

/**
 * Every method checks its arguments first (InvalidArgumentError, nothing sent); what the server
 * refuses rejects with a ServiceError (client-errors.ts has its codes).
 */
export class MnemeClient {
  readonly redis: Redis;

  constructor(options: MnemeClientOptions = {}) {
    this.redis = new Redis({ port: 6389, host: "127.0.0.1", ...options });
  }

  async alloc(size: number, align?: number): Promise<Handle> {
    const args = allocArgs(size, align);
    return String(await request(() => this.redis.call("ALLOC", ...args)));
  }

  /** A pageable region (backed by the vm layer), usable with read, write, size and free. */
  async map(length: number, options: MnemeMapOptions = {}): Promise<Handle> {
    const args = mapArgs(length, options);
    return String(await request(() => this.redis.call("MAP", ...args)));
  }

  async free(handle: Handle): Promise<void> {
    checkHandle(handle);
    await request(() => this.redis.call("FREE", handle));
  }

  async write(handle: Handle, offset: number, data: Uint8Array): Promise<number> {
    const bytes = checkData(data);
    checkHandle(handle);
    checkCount("offset", offset);
    return Number(await request(() => this.redis.callBuffer("WRITE", handle, offset, bytes)));
  }

  async read(handle: Handle, offset: number, length: number): Promise<Uint8Array> {
    checkHandle(handle);
    checkCount("offset", offset);
    checkCount("length", length);
    return toBytes(await request(() => this.redis.callBuffer("READ", handle, offset, length)));
  }

  async size(handle: Handle): Promise<number> {
    checkHandle(handle);
    return Number(await request(() => this.redis.call("SIZE", handle)));
  }

  async stats(): Promise<ServiceStats> {
    const flat = (await request(() => this.redis.call("STATS"))) as (string | number)[];
    const out: ServiceStats = {};
    for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = Number(flat[i + 1]);
    return out;
  }

  async sync(): Promise<void> {
    await request(() => this.redis.call("SYNC"));
  }

  /** Runs the queued commands in one round trip; results in order (a failed one rejects). */
  pipeline(build: (p: MnemePipeline) => MnemePipeline | undefined): Promise<unknown[]> {
    const p = new MnemePipeline();
    build(p);
    return p.run(this.redis);
  }

  async close(): Promise<void> {
    await this.redis.quit();
  }
}

function toBytes(v: unknown): Uint8Array {
  const b = v as Buffer;
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
