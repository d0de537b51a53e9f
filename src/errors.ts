/**
 * Every failure mneme reports is one of these classes, so callers can catch a layer's errors
 * with `instanceof` and read the figures that explain them instead of parsing messages.
 * A call that throws one of these has left the state it touched exactly as it was.
 */

/** Root of every error mneme throws on purpose. `code` is stable and safe to switch on. */
export class MnemeError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An argument has the wrong type, range or shape (size 0, NaN, alignment not a power of two, …). */
export class InvalidArgumentError extends MnemeError {
  readonly argument: string;
  readonly value: unknown;
  constructor(argument: string, value: unknown, why: string) {
    super("EINVAL", `invalid ${argument} ${describe(value)}: ${why}`);
    this.argument = argument;
    this.value = value;
  }
}

/** An address does not name the start of a live allocation (never allocated, interior, foreign). */
export class InvalidAddressError extends MnemeError {
  readonly address: number;
  constructor(address: number, why: string, code = "EFAULT") {
    super(code, `invalid address ${describe(address)}: ${why}`);
    this.address = address;
  }
}

/** The address names memory that is already free. */
export class DoubleFreeError extends InvalidAddressError {
  constructor(address: number, why = "already free") {
    super(address, why, "EDOUBLEFREE");
  }
}

/** Why an allocation could not be served; each reason comes with the figures that explain it. */
export type OutOfMemoryReason =
  | "exhausted"
  | "fragmented"
  | "all-pinned"
  | "no-backing-store"
  | "quota"
  | "reserve"
  | "watermark";

/** No memory could be found for a request that was otherwise valid. */
export class OutOfMemoryError extends MnemeError {
  /** Bytes the caller asked for. */
  readonly requested: number;
  /** Largest contiguous free block at the time of the failure, in bytes. */
  readonly largestFree: number;
  /** Total free bytes at the time of the failure. */
  readonly free: number;
  readonly reason: OutOfMemoryReason;
  constructor(requested: number, largestFree: number, free: number, reason?: OutOfMemoryReason, detail = "") {
    const why = reason ?? (free >= requested ? "fragmented" : "exhausted");
    super(
      "ENOMEM",
      `out of memory: ${requested} bytes requested, largest free block ${largestFree} bytes, ` +
        `${free} bytes free (${why})${detail ? `: ${detail}` : ""}`,
    );
    this.requested = requested;
    this.largestFree = largestFree;
    this.free = free;
    this.reason = why;
  }
}

/** A shared pool has no contiguous space left for the request (Netmcore's Out_of_pool_memory). */
export class OutOfPoolMemoryError extends OutOfMemoryError {}

/** `check()` found a broken invariant: the arena's structures are inconsistent. */
export class CorruptionError extends MnemeError {
  constructor(what: string) {
    super("ECORRUPT", `arena corrupt: ${what}`);
  }
}

/** Characters of a value a message quotes: a message must stay readable whatever was passed. */
const DESCRIBE_CHARS = 200;

/**
 * A value as a message quotes it. Bounded: String() of a typed array (heap.memory passed where a
 * buffer belongs) spells out every byte, hundreds of MB for a large arena (RangeError 'Invalid
 * string length' instead of the typed error), and String() of an object without a prototype
 * throws a TypeError.
 */
function describe(value: unknown): string {
  if (typeof value === "number") return Number.isInteger(value) ? `${value}` : String(value);
  if (typeof value === "string") {
    return value.length > DESCRIBE_CHARS
      ? `${JSON.stringify(value.slice(0, DESCRIBE_CHARS))}… (${value.length} characters)`
      : JSON.stringify(value);
  }
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${value.byteLength} bytes)`;
  if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer)
    return `${value.constructor.name}(${value.byteLength} bytes)`;
  if (Array.isArray(value) && value.length > 16) return `Array(${value.length})`;
  let s: string;
  try {
    s = String(value);
  } catch {
    s = Object.prototype.toString.call(value);
  }
  return s.length > DESCRIBE_CHARS ? `${s.slice(0, DESCRIBE_CHARS)}…` : s;
}

/** A pool handle used after close(): its slot may already be another thread's. */
export class PoolClosedError extends MnemeError {
  constructor(what: string) {
    super("ECLOSED", `${what} on a pool handle closed by this thread (Mempool.attach for a new one)`);
  }
}

/** A MnemeError as plain data, for postMessage (structured clone drops the class). */
export interface SerializedError {
  readonly mneme: true;
  readonly name: string;
  readonly code: string;
  readonly message: string;
  readonly fields: Record<string, unknown>;
}

const CLASSES: Record<string, new (...args: never[]) => MnemeError> = {
  MnemeError,
  InvalidArgumentError,
  InvalidAddressError,
  DoubleFreeError,
  OutOfMemoryError,
  OutOfPoolMemoryError,
  CorruptionError,
  PoolClosedError,
};

/** Turns an error into data that survives postMessage; revive it with reviveError. */
export function serializeError(e: unknown): SerializedError | unknown {
  if (!(e instanceof MnemeError)) return e;
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) if (k !== "code") fields[k] = v;
  return { mneme: true, name: e.name, code: e.code, message: e.message, fields };
}

/** The typed error that serializeError turned into data (same class, message and fields). */
export function reviveError(data: unknown): unknown {
  if (!data || typeof data !== "object" || (data as SerializedError).mneme !== true) return data;
  const d = data as SerializedError;
  const cls = CLASSES[d.name] ?? MnemeError;
  const e = Object.create(cls.prototype) as MnemeError;
  Object.assign(e, d.fields);
  Object.defineProperty(e, "message", { value: d.message, writable: true, configurable: true });
  Object.defineProperty(e, "name", { value: d.name, writable: true, configurable: true });
  Object.defineProperty(e, "code", { value: d.code, writable: false, configurable: true, enumerable: true });
  e.stack = `${d.name}: ${d.message}\n    (revived from another thread)`;
  return e;
}

/**
 * The replication log or a checkpoint is damaged where recovery cannot safely go on: a bad record
 * in the middle of the log, a missing segment, a broken checkpoint. `offset` is where (bytes into
 * `file`), so an operator can look; `--recover-skip-corrupt` skips such records instead.
 */
export class LogCorruptionError extends MnemeError {
  readonly file: string;
  readonly offset: number;
  /** What is wrong there, without the file and offset. */
  readonly why: string;
  constructor(file: string, offset: number, why: string) {
    super("ELOGCORRUPT", `replication log corrupt in ${file} at offset ${offset}: ${why}`);
    this.file = file;
    this.offset = offset;
    this.why = why;
  }
}
