/**
 * Trace replay: a page reference trace (one page number per line, gzip allowed) run through a
 * replacement policy with a given number of frames, counting misses. `mneme replay` and the trace
 * benchmark both call replay(), and replay() drives the policy through the same reference()
 * protocol (policies/policy.ts) that the address space's fault path follows, with the same
 * registered policy classes.
 *
 * Page numbers are sparse (block numbers, object keys); readTrace() maps them to dense ids
 * 0..distinct-1 in order of first appearance, which changes no policy's decisions.
 */
import { readFile } from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import { InvalidArgumentError, MnemeError } from "../errors.js";
import { DEFAULT_POLICY } from "./policies/index.js";
import { optMisses } from "./policies/opt.js";
import { createPolicy, policyNames, reference } from "./policies/policy.js";

/** A trace in dense form. */
export interface Trace {
  /** Dense page id of each reference. */
  refs: Int32Array;
  /** Number of distinct pages (ids are 0..distinct-1). */
  distinct: number;
}

export interface ReplayResult {
  policy: string;
  frames: number;
  references: number;
  misses: number;
  hits: number;
  missRatio: number;
  distinct: number;
}

/** A trace file that cannot be read or parsed. */
export class TraceError extends MnemeError {
  readonly path: string;
  constructor(path: string, why: string) {
    super("ETRACE", `trace ${path}: ${why}`);
    this.path = path;
  }
}

/** Reads and parses a trace file (`.gz` by name or by magic bytes). */
export async function readTrace(path: string): Promise<Trace> {
  if (typeof path !== "string" || path.length === 0) {
    throw new InvalidArgumentError("trace", path, "must be a file path");
  }
  let data: Buffer;
  try {
    data = await readFile(path);
    if (path.endsWith(".gz") || (data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b)) {
      data = gunzipSync(data);
    }
  } catch (e) {
    throw new TraceError(path, (e as Error).message);
  }
  return parseTrace(data, path);
}

/**
 * Parses trace text: one non-negative decimal page number per line, blanks and tabs around it;
 * blank lines are skipped, CRLF and a UTF-8 byte order mark are fine. Numbers of any length are exact: up to 15 significant digits they are
 * keyed as numbers, longer ones (64-bit keys and addresses, past 2^53) by their digits, since two
 * of them may round to the same double.
 */
export function parseTrace(data: Uint8Array, name = "trace"): Trace {
  let refs = new Int32Array(Math.max(1024, data.length >> 3));
  let count = 0;
  const ids = new Map<number, number>();
  const longIds = new Map<string, number>();
  let value = 0;
  let digits = 0;
  /** Digits from the first non-zero one on, and where they start. */
  let significant = 0;
  let first = 0;
  let line = 1;
  // A blank after the number's digits ends it: "12 34" is two numbers on a line, not page 1234.
  let ended = false;
  // A UTF-8 byte order mark (Windows editors, PowerShell's Out-File) is not part of line 1.
  const bom = data.length >= 3 && data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf ? 3 : 0;
  for (let i = bom; i <= data.length; i++) {
    const c = i < data.length ? data[i] : 10;
    if (c >= 48 && c <= 57) {
      if (ended) throw new TraceError(name, `line ${line}: more than one page number`);
      digits++;
      if (significant === 0 && c !== 48) first = i;
      if (significant > 0 || c !== 48) significant++;
      if (significant <= 15) value = value * 10 + (c - 48);
    } else if (c === 10 || c === 13) {
      if (digits > 0) {
        let id: number | undefined;
        if (significant <= 15) {
          id = ids.get(value);
          if (id === undefined) {
            id = ids.size + longIds.size;
            ids.set(value, id);
          }
        } else {
          const key = Buffer.from(data.buffer, data.byteOffset + first, significant).toString("latin1");
          id = longIds.get(key);
          if (id === undefined) {
            id = ids.size + longIds.size;
            longIds.set(key, id);
          }
        }
        if (count === refs.length) {
          const grown = new Int32Array(refs.length * 2);
          grown.set(refs);
          refs = grown;
        }
        refs[count++] = id;
      }
      if (c === 10) line++;
      value = 0;
      digits = 0;
      significant = 0;
      ended = false;
    } else if (c === 32 || c === 9) {
      if (digits > 0) ended = true;
    } else {
      throw new TraceError(
        name,
        `line ${line}: expected a page number, found ${JSON.stringify(String.fromCharCode(c))}`,
      );
    }
  }
  return { refs: refs.subarray(0, count), distinct: ids.size + longIds.size };
}

export interface ReplayOptions {
  /** Called every `progressEvery` references with the number done so far. */
  onProgress?: (done: number) => void;
  progressEvery?: number;
}

/** Names replay() accepts: every registered policy, plus `opt` (Belady, offline). */
export function replayPolicyNames(): string[] {
  return [...policyNames(), "opt"];
}

/** Replays `trace` through a fresh policy named `policy` with `frames` frames. */
export function replay(
  trace: Trace,
  policy: string,
  frames: number,
  options: ReplayOptions = {},
): ReplayResult {
  if (!Number.isSafeInteger(frames) || frames <= 0 || frames > 2 ** 30) {
    throw new InvalidArgumentError("frames", frames, "must be an integer from 1 to 2^30");
  }
  const refs = trace.refs;
  const n = refs.length;
  let misses = 0;
  if (policy === "opt") {
    options.onProgress?.(0);
    misses = optMisses(refs, trace.distinct, frames);
    options.onProgress?.(n);
  } else {
    const p = createPolicy(policy ?? DEFAULT_POLICY, frames);
    const every = options.progressEvery ?? 1 << 16;
    const onProgress = options.onProgress;
    for (let i = 0; i < n; i++) {
      if (!reference(p, refs[i])) misses++;
      if (onProgress !== undefined && (i + 1) % every === 0) onProgress(i + 1);
    }
    onProgress?.(n);
  }
  return {
    policy,
    frames,
    references: n,
    misses,
    hits: n - misses,
    missRatio: n === 0 ? 0 : misses / n,
    distinct: trace.distinct,
  };
}
