/**
 * Reading the file backend's log back (recovery, inspect): segments in order, each record
 * checked (format.ts). A bad record in the last segment holding records, with no good record
 * after it, is a torn tail from a crash during an append: cut at its offset (unless read-only) and
 * reported. Segments a checkpoint covers are not read. Any other
 * bad record, or a jump in seq (a missing segment), is damage in the middle: LogCorruptionError,
 * unless the caller skips it (recoverSkipCorrupt) or only looks (inspect).
 */
import { readFile, stat, truncate, unlink } from "node:fs/promises";
import { join } from "node:path";
import { LogCorruptionError, MnemeError } from "../errors.js";
import type { Damage, ReplayOptions, ReplayReport } from "./backend.js";
import { check, decode, type LogEntry, RecordType, resync } from "./format.js";

export const FILE_HEADER = 16;
export const SEGMENT_MAGIC = "MNEMESEG";
export const CHECKPOINT_MAGIC = "MNEMECKP";
export const FILE_VERSION = 1;

/** Whether `buf` starts with a whole file header of `magic`: magic, version 1, reserved 0. */
function goodHeader(buf: Buffer, magic: string): boolean {
  return (
    buf.length >= FILE_HEADER &&
    buf.toString("latin1", 0, 8) === magic &&
    buf.readUInt32LE(8) === FILE_VERSION &&
    buf.readUInt32LE(12) === 0
  );
}

export async function replaySegments(
  dir: string,
  all: readonly { name: string; first: number }[],
  afterSeq: number,
  visit: (e: LogEntry) => void | Promise<void>,
  options: ReplayOptions,
): Promise<ReplayReport> {
  // A segment ends where the next one's name begins: those left behind by a crash while a
  // checkpoint deleted them hold only records it covers, and are not read (damage in them,
  // a tail torn by a power loss before their fsync, loses nothing).
  let from = 0;
  while (from + 1 < all.length && all[from + 1].first <= afterSeq + 1) from++;
  const segs = all.slice(from);
  const sizes = await Promise.all(segs.map((s) => stat(join(dir, s.name)).then((x) => x.size)));
  const total = sizes.reduce((a, b) => a + b, 0);
  // Segments after the last one holding records hold nothing: a power loss after a rotation can
  // leave the new segment empty (or its header incomplete) and the closed one's tail torn, since
  // its fsync ran in the background. Those are the tail of the log, not damage in its middle.
  const lastFull = sizes.findLastIndex((n) => n > FILE_HEADER);
  const report: ReplayReport = { records: 0, bytes: 0, truncated: null, skipped: [], lastSeq: afterSeq };
  let expected = afterSeq + 1;
  let resynced = false;
  let done = 0;
  const damage = (d: Damage) => {
    if (options.skipCorrupt || options.readOnly) report.skipped.push(d);
    else throw new LogCorruptionError(d.where, d.offset, d.why);
  };
  /** Cuts the log at `offset` of segment `i`; the empty segments after it go. */
  const torn = async (i: number, offset: number, why: string) => {
    const where = join(dir, segs[i].name);
    report.truncated = { where, offset, why };
    if (options.readOnly) return;
    // An empty segment is removed, not kept at 0 bytes: new records start at the cut, in a
    // segment named for it, and one named for a later seq would sort after theirs as damage.
    if (offset === 0) await unlink(where);
    else await truncate(where, offset);
    for (const s of segs.slice(i + 1)) await unlink(join(dir, s.name));
  };
  for (let i = 0; i < segs.length && report.truncated === null; i++) {
    const where = join(dir, segs[i].name);
    const buf = await readLogFile(where);
    const last = i >= lastFull;
    let at = FILE_HEADER;
    if (!goodHeader(buf, SEGMENT_MAGIC)) {
      if (i > lastFull) {
        // Created, crashed before its header was durable: nothing was in it.
        await torn(i, 0, "segment header incomplete");
      } else if (last && buf.every((b) => b === 0)) {
        // Its size reached the disk before its bytes (a power loss; XFS shows those as zeros):
        // none of it was durable, so none of it was promised.
        await torn(i, 0, "segment never written (zeros)");
      } else {
        damage({ where, offset: 0, why: "not a mneme log segment (bad header)" });
        // Its records show as a gap in seq after it: the same damage, not reported twice.
        resynced = true;
      }
      done += buf.length;
      continue;
    }
    while (at < buf.length) {
      const c = check(buf, at);
      if (!c.ok) {
        const next = continuation(buf, at, expected);
        if (next < 0 && last) {
          await torn(i, at, c.why);
          break;
        }
        damage({ where, offset: at, why: c.why });
        // The records lost with it show as a gap in seq: the same damage, not reported twice.
        resynced = true;
        if (next < 0) break;
        at = next;
        continue;
      }
      if (c.seq > afterSeq) {
        const known = resynced || c.seq <= (options.lostUpTo ?? 0) + 1;
        if (c.seq !== expected && !(known && c.seq > expected)) {
          damage({
            where,
            offset: at,
            why:
              c.seq > expected
                ? `expected record ${expected}, found ${c.seq}: records ${expected}..${c.seq - 1} are missing (a segment deleted?)`
                : `record ${c.seq} repeated (expected ${expected})`,
          });
          if (c.seq < expected) {
            at += c.size;
            continue;
          }
        }
        const record = decode(buf, at, c.size, c.type);
        await visit({ seq: c.seq, type: c.type, size: c.size, record });
        report.records++;
        report.bytes += c.size;
        report.lastSeq = c.seq;
        expected = c.seq + 1;
        resynced = false;
        if ((report.records & 1023) === 0) options.progress?.(done + at, total);
      }
      at += c.size;
    }
    done += buf.length;
    options.progress?.(done, total);
  }
  return report;
}

/**
 * A segment or checkpoint file's bytes. A file that cannot be read (EIO, EISDIR) is named in the
 * error, which Node's read errors do not do; it is never taken for damage, which
 * recoverSkipCorrupt would skip and the checkpoint after it delete.
 */
export async function readLogFile(where: string): Promise<Buffer> {
  try {
    return await readFile(where);
  } catch (e) {
    throw new MnemeError("EREPLICATION", `cannot read ${where}: ${(e as Error).message}`);
  }
}

/**
 * Where the log goes on after a bad record at `at`: the next good record whose seq is at least
 * `expected`, or -1. A torn batch's pages are client data, and clients may store anything,
 * valid records included (a copy of a log, say); such a record found inside the torn one carries
 * a seq the log has already passed, so it does not make the tail look like damage in the middle.
 */
function continuation(buf: Uint8Array, at: number, expected: number): number {
  for (let next = resync(buf, at); next >= 0; next = resync(buf, next)) {
    const c = check(buf, next);
    if (c.ok && c.seq >= expected) return next;
  }
  return -1;
}

/** Why a checkpoint file is not a complete image (null when it is). */
export function checkpointProblem(bytes: Uint8Array, seq: number): { offset: number; why: string } | null {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (!goodHeader(b, CHECKPOINT_MAGIC)) return { offset: 0, why: "not a mneme checkpoint (bad header)" };
  let at = FILE_HEADER;
  let count = 0;
  while (at < b.length) {
    const c = check(b, at);
    if (!c.ok) return { offset: at, why: `checkpoint record: ${c.why}` };
    if (c.seq !== seq) return { offset: at, why: `checkpoint record carries seq ${c.seq}, not ${seq}` };
    if (c.type === RecordType.END) {
      const end = decode(b, at, c.size, c.type) as { count: number };
      if (end.count !== count) return { offset: at, why: `END counts ${end.count} records, found ${count}` };
      if (at + c.size !== b.length) return { offset: at + c.size, why: "bytes after END" };
      return null;
    }
    count++;
    at += c.size;
  }
  return { offset: at, why: "checkpoint has no END record (incomplete)" };
}
