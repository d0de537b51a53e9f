/**
 * RESP on the wire: the request parser (RESP2 multibulk and the inline protocol) and the reply
 * encoders (RESP2, and RESP3 after HELLO 3).
 *
 * Why a hand parser and not `redis-parser`: redis-parser is a *reply* parser for clients. It does
 * not understand the inline protocol (`PING\r\n`, which redis-benchmark and telnet users send), and
 * it buffers a bulk string of whatever length the header announces before anyone can refuse it,
 * so a client sending `$2000000000\r\n` would make the server grow until it dies. The service must
 * refuse oversized bulks, too many arguments and too long inline lines *when the header arrives*.
 * This parser does that, hands out zero-copy `subarray`s of the socket's chunks, and only joins
 * chunks once a frame is known to be complete (no quadratic re-concatenation while a large WRITE
 * trickles in). bench/service.bench.ts measures it against redis-parser on the same frames.
 *
 *     chunk ─► pending[] ─► (frame complete?) ─► args: Buffer[] ─► onCommand(args)
 *                  ▲                 │ no: remember how many bytes the frame still needs
 *                  └─────────────────┘
 *
 * Errors use Redis's texts (`ERR Protocol error: invalid bulk length`, …); after one the
 * connection is answered and closed, as Redis does, because the stream position is lost.
 */

const CR = 13;
const LF = 10;

/** A malformed or oversized request; the connection answers `-message` and closes. */
export class ProtocolError extends Error {}

export interface ParserLimits {
  /** Largest bulk string in a request, in bytes (Redis: proto-max-bulk-len). */
  maxBulk: number;
  /** Most arguments in one command (Redis: 1024*1024). */
  maxArgs: number;
  /** Longest inline command line and longest header line, in bytes (Redis: 64 KiB). */
  maxInline: number;
  /**
   * Largest multibulk request in all, in bytes; default maxBulk + 1 MiB (one WRITE of the largest
   * bulk and its other words, or a command of many small words). Without it, a request of many
   * bulks each under maxBulk (up to maxArgs of them) was held whole before anything could
   * refuse it: terabytes, from one client (Redis bounds it too: client-query-buffer-limit).
   */
  maxRequest?: number;
}

const REQUEST_SLACK = 1 << 20;

/**
 * Limits for a client that has not authenticated (Redis's own): a few small words are enough for
 * AUTH and HELLO, and without them any client that can connect made the server hold a request of
 * up to maxBulk + 1 MiB, per connection, before it had proved anything (10,000 of them: 170 GB).
 */
export const UNAUTHENTICATED_MAX_ARGS = 10;
export const UNAUTHENTICATED_MAX_BULK = 16384;

/** The largest multibulk request a parser with these limits takes (INFO reports it). */
export function requestLimit(limits: Pick<ParserLimits, "maxBulk" | "maxRequest">): number {
  return limits.maxRequest ?? limits.maxBulk + REQUEST_SLACK;
}

/**
 * Incremental request parser. feed() each chunk as it arrives; complete commands come out through
 * the callback, in order, as arrays of Buffers that alias the chunks (do not reuse the chunks).
 */
export class RequestParser {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  /** Chunks received while the current frame was known to be incomplete. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Total bytes (from `pos`) the incomplete frame needs at least; 0 = unknown. */
  private need = 0;
  private readonly limits: ParserLimits;
  private readonly maxRequest: number;
  /**
   * The client has not authenticated: multibulk requests get the UNAUTHENTICATED_* limits, and an
   * incomplete frame is checked again with each chunk (so one whose header passed while an AUTH
   * was pending is refused once that AUTH has failed, rather than buffered whole). The connection
   * sets it.
   */
  guarded = false;
  /** The incomplete frame held was last checked while not guarded. */
  private heldOpen = false;

  constructor(limits: ParserLimits) {
    this.limits = limits;
    this.maxRequest = requestLimit(limits);
  }

  /** Whether the frame held must be checked again (feed an empty chunk): guarded since it was. */
  get recheck(): boolean {
    return this.guarded && this.heldOpen && this.buffered > 0;
  }

  /** Bytes held for a frame not yet complete. */
  get buffered(): number {
    return this.buf.length - this.pos + this.pendingBytes;
  }

  /** Parses what it can; throws ProtocolError on malformed input (the parser is then unusable). */
  feed(chunk: Buffer, onCommand: (args: Buffer[]) => void): void {
    if (this.pos < this.buf.length || this.pendingBytes > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      const have = this.buf.length - this.pos + this.pendingBytes;
      if (this.need > 0 && have < this.need && !this.guarded) return;
      this.buf = Buffer.concat([this.buf.subarray(this.pos), ...this.pending]);
      this.pos = 0;
      this.pending = [];
      this.pendingBytes = 0;
    } else {
      this.buf = chunk;
      this.pos = 0;
    }
    this.need = 0;
    this.heldOpen = false;
    const buf = this.buf;
    while (this.pos < buf.length) {
      const args = buf[this.pos] === 42 /* '*' */ ? this.multibulk(buf) : this.inline(buf);
      if (args === null) return;
      if (args.length > 0) onCommand(args);
    }
    this.buf = Buffer.alloc(0);
    this.pos = 0;
  }

  /** `*N\r\n` then N times `$len\r\n<bytes>\r\n`; null when incomplete (need is set). */
  private multibulk(buf: Buffer): Buffer[] | null {
    const start = this.pos;
    let p = start + 1;
    const nl = this.lineEnd(buf, p, "invalid multibulk length");
    if (nl < 0) return null;
    const count = parseSigned(buf, p, nl - 1);
    if (count === null || count > this.limits.maxArgs) {
      throw new ProtocolError("ERR Protocol error: invalid multibulk length");
    }
    if (this.guarded && count > UNAUTHENTICATED_MAX_ARGS) {
      throw new ProtocolError("ERR Protocol error: unauthenticated multibulk length");
    }
    p = nl + 1;
    const args: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      if (p >= buf.length) return this.incomplete(start, p + 4);
      if (buf[p] !== 36 /* '$' */) {
        throw new ProtocolError(`ERR Protocol error: expected '$', got '${String.fromCharCode(buf[p])}'`);
      }
      const hl = this.lineEnd(buf, p + 1, "invalid bulk length");
      if (hl < 0) return this.incomplete(start, 0);
      const len = parseSigned(buf, p + 1, hl - 1);
      if (len === null || len < 0 || len > this.limits.maxBulk) {
        throw new ProtocolError("ERR Protocol error: invalid bulk length");
      }
      if (this.guarded && len > UNAUTHENTICATED_MAX_BULK) {
        throw new ProtocolError("ERR Protocol error: unauthenticated bulk length");
      }
      const body = hl + 1;
      if (body + len + 2 - start > this.maxRequest) {
        throw new ProtocolError(`ERR Protocol error: request larger than ${this.maxRequest} bytes`);
      }
      if (body + len + 2 > buf.length) return this.incomplete(start, body + len + 2 + (count - i - 1) * 4);
      if (buf[body + len] !== CR || buf[body + len + 1] !== LF) {
        throw new ProtocolError("ERR Protocol error: invalid bulk length");
      }
      args.push(buf.subarray(body, body + len));
      p = body + len + 2;
    }
    this.pos = p;
    return args;
  }

  /** A line of space-separated words, with Redis's quoting rules; empty lines are skipped. */
  private inline(buf: Buffer): Buffer[] | null {
    const start = this.pos;
    let nl = buf.indexOf(LF, start);
    if (nl < 0) {
      if (buf.length - start > this.limits.maxInline) {
        throw new ProtocolError("ERR Protocol error: too big inline request");
      }
      return this.incomplete(start, 0);
    }
    if (nl - start > this.limits.maxInline)
      throw new ProtocolError("ERR Protocol error: too big inline request");
    this.pos = nl + 1;
    if (nl > start && buf[nl - 1] === CR) nl--;
    return splitInline(buf.subarray(start, nl));
  }

  /** Index of the LF ending the header line that starts at `from`, or -1 when not yet arrived. */
  private lineEnd(buf: Buffer, from: number, what: string): number {
    const nl = buf.indexOf(LF, from);
    if (nl < 0) {
      if (buf.length - from > this.limits.maxInline) throw new ProtocolError(`ERR Protocol error: ${what}`);
      return -1;
    }
    if (nl === from || buf[nl - 1] !== CR || nl - from > 32)
      throw new ProtocolError(`ERR Protocol error: ${what}`);
    return nl;
  }

  private incomplete(start: number, needUntil: number): null {
    this.heldOpen = !this.guarded;
    this.pos = start;
    this.need = needUntil > 0 ? needUntil - start : 0;
    return null;
  }
}

/** Decimal digits (optional '-', not before 0) in buf[from, to); leading zeros fine; null if not a number. */
function parseSigned(buf: Buffer, from: number, to: number): number | null {
  let neg = false;
  if (from < to && buf[from] === 45) {
    neg = true;
    from++;
  }
  if (from >= to || to - from > 15) return null;
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = buf[i] - 48;
    if (c < 0 || c > 9) return null;
    n = n * 10 + c;
  }
  // "-0" is no number to Redis (string2ll): "*-0" and "$-0" are protocol errors, not an empty
  // command and an empty word.
  if (neg) return n === 0 ? null : -n;
  return n;
}

/** Redis's sdssplitargs: words separated by blanks, "double" (with \x escapes) and 'single' quotes. */
export function splitInline(line: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  const n = line.length;
  const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12;
  while (true) {
    while (i < n && isSpace(line[i])) i++;
    if (i >= n) return out;
    const word: number[] = [];
    let inDq = false;
    let inSq = false;
    let done = false;
    while (!done) {
      if (inDq) {
        if (i >= n) throw new ProtocolError("ERR Protocol error: unbalanced quotes in request");
        const c = line[i];
        if (
          c === 92 /* \ */ &&
          i + 3 < n &&
          line[i + 1] === 120 &&
          isHex(line[i + 2]) &&
          isHex(line[i + 3])
        ) {
          word.push(Number.parseInt(String.fromCharCode(line[i + 2], line[i + 3]), 16));
          i += 3;
        } else if (c === 92 && i + 1 < n) {
          i++;
          const e = line[i];
          word.push(e === 110 ? 10 : e === 114 ? 13 : e === 116 ? 9 : e === 98 ? 8 : e === 97 ? 7 : e);
        } else if (c === 34) {
          if (i + 1 < n && !isSpace(line[i + 1])) {
            throw new ProtocolError("ERR Protocol error: unbalanced quotes in request");
          }
          done = true;
        } else word.push(c);
      } else if (inSq) {
        if (i >= n) throw new ProtocolError("ERR Protocol error: unbalanced quotes in request");
        const c = line[i];
        if (c === 92 && i + 1 < n && line[i + 1] === 39) {
          i++;
          word.push(39);
        } else if (c === 39) {
          if (i + 1 < n && !isSpace(line[i + 1])) {
            throw new ProtocolError("ERR Protocol error: unbalanced quotes in request");
          }
          done = true;
        } else word.push(c);
      } else {
        if (i >= n) break;
        const c = line[i];
        if (isSpace(c)) done = true;
        else if (c === 34) inDq = true;
        else if (c === 39) inSq = true;
        else word.push(c);
      }
      if (i < n) i++;
    }
    out.push(Buffer.from(word));
  }
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

// ---------------------------------------------------------------------------------------------
// Replies. Hot replies (READ, WRITE, ALLOC) are written straight into reply buffers by the
// command layer; everything else is a Reply value encoded here for the connection's protocol.

/** A reply value. Strings and Uint8Arrays are bulk strings; numbers are integers. */
export type Reply =
  | string
  | Uint8Array
  | number
  | null
  | Reply[]
  | { readonly simple: string }
  | { readonly error: string }
  | { readonly map: readonly (readonly [string, Reply])[] }
  | { readonly set: readonly Reply[] }
  | { readonly verbatim: string };

export const OK: Reply = { simple: "OK" };

export function simple(s: string): Reply {
  return { simple: s };
}

export function error(s: string): Reply {
  return { error: s };
}

/** Encodes a reply for RESP2 (`proto` 2) or RESP3 (`proto` 3). */
export function encode(value: Reply, proto: 2 | 3): Buffer {
  const parts: (string | Uint8Array)[] = [];
  encodeInto(value, proto, parts);
  return Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "latin1") : p)));
}

function encodeInto(v: Reply, proto: 2 | 3, out: (string | Uint8Array)[]): void {
  if (v === null) out.push(proto === 3 ? "_\r\n" : "$-1\r\n");
  else if (typeof v === "number") out.push(`:${v}\r\n`);
  else if (typeof v === "string") {
    const b = Buffer.from(v, "utf8");
    out.push(`$${b.length}\r\n`, b, "\r\n");
  } else if (v instanceof Uint8Array) out.push(`$${v.length}\r\n`, v, "\r\n");
  else if (Array.isArray(v)) {
    out.push(`*${v.length}\r\n`);
    for (const e of v) encodeInto(e, proto, out);
  } else if ("simple" in v) out.push(`+${v.simple.replace(/[\r\n]/g, " ")}\r\n`);
  else if ("error" in v) out.push(`-${v.error.replace(/[\r\n]/g, " ")}\r\n`);
  else if ("map" in v) {
    out.push(proto === 3 ? `%${v.map.length}\r\n` : `*${v.map.length * 2}\r\n`);
    for (const [k, e] of v.map) {
      encodeInto(k, proto, out);
      encodeInto(e, proto, out);
    }
  } else if ("set" in v) {
    out.push(`${proto === 3 ? "~" : "*"}${v.set.length}\r\n`);
    for (const e of v.set) encodeInto(e, proto, out);
  } else if ("verbatim" in v) {
    if (proto === 3) {
      const b = Buffer.from(v.verbatim, "utf8");
      out.push(`=${b.length + 4}\r\ntxt:`, b, "\r\n");
    } else encodeInto(v.verbatim, proto, out);
  }
}
