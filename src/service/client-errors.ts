/**
 * MnemeClient's errors: what the server refused becomes a ServiceError (a MnemeError, like every
 * error mneme throws on purpose) with a stable `code` to switch on, and the server's own text in
 * `reply`; an argument the client can tell is wrong is an InvalidArgumentError before anything is
 * sent. Errors of the connection itself (closed, retries exhausted) stay ioredis's.
 *
 * | code        | server replies                                          |
 * |-------------|---------------------------------------------------------|
 * | EBADHANDLE  | ERR invalid handle (unknown, freed, another identity's) |
 * | ENOMEM      | OOM …, ERR quota exceeded …                             |
 * | EAUTH       | NOAUTH …, WRONGPASS …, NOPERM …                         |
 * | EINTERNAL   | ERR internal error … (a bug in the server)              |
 * | EINVAL      | any other ERR (a bad argument, range, syntax)           |
 * | ESERVICE    | anything else                                           |
 */
import { ReplyError } from "ioredis";
import { InvalidArgumentError, MnemeError } from "../errors.js";

/** A request the memory service refused; `reply` is its error text. */
export class ServiceError extends MnemeError {
  readonly reply: string;
  constructor(code: string, reply: string) {
    super(code, reply);
    this.reply = reply;
  }
}

const CODES: readonly [RegExp, string][] = [
  [/^ERR invalid handle\b/, "EBADHANDLE"],
  [/^OOM |^ERR quota exceeded\b/, "ENOMEM"],
  [/^(NOAUTH|WRONGPASS|NOPERM) /, "EAUTH"],
  [/^ERR internal error\b/, "EINTERNAL"],
  [/^ERR /, "EINVAL"],
];

/** The server's error reply as a ServiceError; anything else unchanged. */
export function serviceError(e: unknown): unknown {
  if (!(e instanceof ReplyError)) return e;
  const reply = (e as Error).message;
  const code = CODES.find(([re]) => re.test(reply))?.[1] ?? "ESERVICE";
  return new ServiceError(code, reply);
}

/** Runs a request, its error reply thrown as a ServiceError. */
export async function request<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    throw serviceError(e);
  }
}

/** A size, offset, length or alignment: a non-negative safe integer. */
export function checkCount(argument: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0)
    throw new InvalidArgumentError(argument, value, "must be a non-negative integer");
  return value;
}

export function checkHandle(value: unknown): string {
  if (typeof value !== "string" || value.length === 0)
    throw new InvalidArgumentError("handle", value, "must be a handle string from alloc or map");
  return value;
}

/** Bytes to write: a Uint8Array (a Buffer is one), sent without a copy. */
export function checkData(value: unknown): Buffer {
  if (!(value instanceof Uint8Array)) throw new InvalidArgumentError("data", value, "must be a Uint8Array");
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}
