/**
 * The distributed backend: the log as a Redis stream, batch pages and checkpoints as keys. Every
 * key carries the hash tag `{NAME}`, so on a Redis Cluster they all live in one slot (one node):
 * the stream and the keys it names move together, and one connection keeps them in order.
 *
 * | key                        | type   | holds                                                  |
 * |----------------------------|--------|--------------------------------------------------------|
 * | mneme:{NAME}:log           | stream | one entry per record, id `<seq>-0`: field `r` = the record (format.ts), or field `p` = the seq of a page key |
 * | mneme:{NAME}:pages:<seq>   | string | a BATCH record (its pages), named by its seq           |
 * | mneme:{NAME}:checkpoint    | string | u64 seq (LE) + checkpoint image (file header + records), or an index of its parts (redis-checkpoint.ts) |
 *
 * Durable means acknowledged by Redis: records go out on one connection (ioredis pipelines them),
 * Redis answers in order, so when the reply to the last command sent has come back, everything
 * before it is in Redis. How Redis itself survives a crash is its own configuration (appendonly,
 * appendfsync, replicas): that is the operator's choice, as with any Redis data.
 * A checkpoint is SET first; then the page keys and stream entries it covers are removed (XTRIM
 * MINID). A crash in between leaves extra entries that recovery skips (seq ≤ the checkpoint's).
 *
 * A Redis that goes away (a restart, a cut connection) is waited for, as a slow disk is: commands
 * stay queued in order (no per-command retry limit, which dropped some and let later ones land
 * after the hole) and go out once the connection is back; only a Redis still unreachable after
 * RECONNECT_MS fails the backend for good. An XADD Redis applied but whose reply the cut lost is
 * sent again on the new connection and refused as a duplicate id: it counts as acknowledged
 * once the entry is found there with the same content.
 *
 * A Redis that came back without what it had acknowledged (restarted without persistence, or
 * from an older snapshot) is found out once the connection is back: the newest checkpoint or the
 * last acknowledged entry is gone. The replicator then writes a checkpoint at once (`rebuild`),
 * and durable() (so SYNC) waits for that check and that checkpoint: the log in Redis is whole
 * again before anything is acknowledged as durable.
 */
import { Cluster, Redis } from "ioredis";
import { LogCorruptionError, MnemeError } from "../errors.js";
import type {
  BackendStats,
  Damage,
  LoadedCheckpoint,
  ReplayOptions,
  ReplayReport,
  ReplicationBackend,
  SkippedCheckpoint,
} from "./backend.js";
import { checkpointProblem, FILE_HEADER, fileHeader } from "./file-backend.js";
import { check, decode, type LogEntry, RecordType } from "./format.js";
import { loadParts, PART_BYTES, type StoredCheckpoint, storeCheckpoint } from "./redis-checkpoint.js";
import { describeTarget, type Target } from "./target.js";

type Client = Redis | Cluster;
const PAGE = 1000;
/** How long an unreachable Redis is retried before the backend fails for good. */
export const RECONNECT_MS = 10_000;
/** Redis's refusal of an XADD at or below the stream's last id. */
const DUPLICATE_ID = /equal or smaller than the target stream top item/;

export class RedisBackend implements ReplicationBackend {
  readonly target: string;
  private readonly client: Client;
  private readonly key: string;
  private last: Promise<unknown> = Promise.resolve();
  private failed: Error | null = null;
  private written = 0;
  /** Bytes Redis has acknowledged. */
  private acked = 0;
  private acks = 0;
  private entries = 0;
  private logSinceCheckpoint = 0;
  /** When the reconnection attempts under way began (0: connected). */
  private unreachableSince = 0;
  /** Duplicate-id XADDs being checked against the stream (see the header); durable() waits for them. */
  private verifying: Promise<void> = Promise.resolve();
  /** Seq of the newest checkpoint in Redis (0: none), and of the last record Redis acknowledged. */
  private baseSeq = 0;
  /** The checkpoint in Redis and its parts (redis-checkpoint.ts), to delete once replaced. */
  private stored: StoredCheckpoint | null = null;
  private ackedSeq = 0;
  /** After a lost connection: whether Redis still holds the log (see the header); durable() waits for it. */
  private whole: Promise<void> = Promise.resolve();
  private wholeDone: (() => void) | null = null;
  /** Set by the replicator: writes a checkpoint at once, once Redis lost part of the log. */
  rebuild?: () => Promise<void>;

  constructor(
    t: Extract<Target, { kind: "redis" }>,
    /** A checkpoint larger than this is stored in parts (redis-checkpoint.ts). */
    private readonly partBytes = PART_BYTES,
  ) {
    this.target = describeTarget(t);
    this.key = `mneme:{${t.name}}`;
    const options = {
      lazyConnect: true,
      maxRetriesPerRequest: null,
      connectTimeout: 5000,
      username: t.username ?? undefined,
      password: t.password ?? undefined,
      retryStrategy: (times: number) => {
        const now = Date.now();
        if (times === 1) this.unreachableSince = now;
        return now - this.unreachableSince > RECONNECT_MS ? null : Math.min(times * 100, 1000);
      },
    };
    this.client = t.cluster
      ? new Cluster([{ host: t.host, port: t.port }], { lazyConnect: true, redisOptions: options })
      : new Redis({ host: t.host, port: t.port, ...options });
    this.client.on("error", () => {});
    this.client.on("close", () => {
      if (this.wholeDone !== null) return;
      this.whole = new Promise((resolve) => {
        this.wholeDone = resolve;
      });
    });
    this.client.on("ready", () => this.checkWhole());
    // Given up for good: the commands fail, and so does durable(); nothing is left to check.
    this.client.on("end", () => this.doneChecking());
  }

  async open(): Promise<void> {
    try {
      await this.client.connect();
      await this.client.ping();
    } catch (e) {
      this.client.disconnect();
      throw new MnemeError("EREPLICATION", `cannot reach Redis at ${this.target}: ${(e as Error).message}`);
    }
  }

  async loadCheckpoint(skipped?: SkippedCheckpoint[]): Promise<LoadedCheckpoint | null> {
    const where = `${this.key}:checkpoint`;
    const v = (await this.client.getBuffer(where)) as Buffer | null;
    if (v === null) return null;
    const loaded = await loadParts(this.client, where, v);
    const { seq } = loaded;
    let why: { offset: number; why: string } | null;
    if (seq < 0) why = { offset: 0, why: "shorter than its seq" };
    else if ("why" in loaded) why = { offset: 0, why: `${loaded.where}: ${loaded.why}` };
    else {
      this.stored = { seq, parts: loaded.parts };
      why = checkpointProblem(loaded.image, seq);
      if (why === null) {
        this.baseSeq = seq;
        return { seq, bytes: loaded.image.subarray(FILE_HEADER), where };
      }
    }
    if (skipped === undefined) throw new LogCorruptionError(where, why.offset, why.why);
    skipped.push({ where, ...why, seq: Math.max(0, seq) });
    return null;
  }

  async replay(
    afterSeq: number,
    visit: (e: LogEntry) => void | Promise<void>,
    options: ReplayOptions,
  ): Promise<ReplayReport> {
    const log = `${this.key}:log`;
    const total = Number(await this.client.xlen(log));
    const report: ReplayReport = { records: 0, bytes: 0, truncated: null, skipped: [], lastSeq: afterSeq };
    const damage = (d: Damage) => {
      if (options.skipCorrupt || options.readOnly) report.skipped.push(d);
      else throw new LogCorruptionError(d.where, d.offset, d.why);
    };
    let expected = afterSeq + 1;
    let start = `${afterSeq + 1}-0`;
    let seen = 0;
    let read = 0;
    for (;;) {
      const rows = (await this.client.callBuffer("XRANGE", log, start, "+", "COUNT", PAGE)) as [
        Buffer,
        Buffer[],
      ][];
      if (rows.length === 0) break;
      const pageKeys = rows.map(([, f]) => (f[0].toString() === "p" ? `${this.key}:pages:${f[1]}` : null));
      const wanted = pageKeys.filter((k): k is string => k !== null);
      const pages = wanted.length > 0 ? ((await this.client.mgetBuffer(...wanted)) as (Buffer | null)[]) : [];
      let pi = 0;
      for (let i = 0; i < rows.length; i++) {
        const id = rows[i][0].toString();
        const idSeq = Number(id.split("-")[0]);
        const where = `${log} ${id}`;
        const rec = pageKeys[i] === null ? rows[i][1][1] : pages[pi++];
        seen++;
        read += rec?.length ?? 0;
        // A lost record's entry still names its seq: the next one is not a second gap to report,
        // and new records go after it (the stream refuses ids at or below its last).
        const lost = (why: string) => {
          damage({ where, offset: 0, why });
          expected = idSeq + 1;
          report.lastSeq = Math.max(report.lastSeq, idSeq);
        };
        if (rec === null || rec === undefined) {
          lost(`page key ${pageKeys[i]} is missing`);
          continue;
        }
        const c = check(rec, 0);
        if (!c.ok || c.size !== rec.length || c.seq !== idSeq) {
          lost(c.ok ? "record does not match its entry" : c.why);
          continue;
        }
        if (c.seq !== expected && !(c.seq > expected && c.seq <= (options.lostUpTo ?? 0) + 1)) {
          damage({
            where,
            offset: 0,
            why: `expected record ${expected}, found ${c.seq}: records are missing`,
          });
        }
        await visit({ seq: c.seq, type: c.type, size: c.size, record: decode(rec, 0, c.size, c.type) });
        report.records++;
        report.bytes += c.size;
        report.lastSeq = c.seq;
        expected = c.seq + 1;
      }
      // In bytes, as the file backend's (the bar adds the checkpoint's): the stream says how
      // many entries it holds, not their size, so the total is estimated from those read.
      options.progress?.(read, seen >= total ? read : Math.round((read / seen) * total));
      start = `(${rows[rows.length - 1][0].toString()}`;
    }
    return report;
  }

  async startAppending(lastSeq: number): Promise<void> {
    this.ackedSeq = lastSeq;
  }

  append(seq: number, record: Buffer): void {
    const c = this.client;
    let p: Promise<unknown>;
    if (record[4] === RecordType.BATCH) {
      void c.set(`${this.key}:pages:${seq}`, record).catch((e: Error) => this.fail(e));
      p = c.xadd(`${this.key}:log`, `${seq}-0`, "p", String(seq));
    } else {
      p = c.xadd(`${this.key}:log`, `${seq}-0`, "r", record);
    }
    const n = record.length;
    this.last = p.then(
      () => {
        this.acked += n;
        this.ackedSeq = seq;
      },
      (e: Error) => {
        if (!DUPLICATE_ID.test(e.message)) return this.fail(e);
        const check = this.verify(seq, record).then(
          () => {
            this.acked += n;
          },
          (why: Error) => this.fail(why),
        );
        this.verifying = this.verifying.then(() => check);
      },
    );
    this.written += n;
    this.logSinceCheckpoint += record.length;
    this.entries++;
  }

  queued(): number {
    return this.written - this.acked;
  }

  failure(): Error | null {
    return this.failed;
  }

  durable(): Promise<void> {
    // Replies come in order: once the last one is in, every duplicate-id check has begun.
    return this.last
      .then(() => this.verifying)
      .then(() => this.whole)
      .then(() => {
        if (this.failed) throw this.failed;
        this.acks++;
      });
  }

  /** Nothing to do: the checkpoint trims the stream by sequence number (MINID seq + 1). */
  beginCheckpoint(_seq: number): void {}

  async checkpoint(seq: number, image: readonly Buffer[]): Promise<void> {
    this.logSinceCheckpoint = 0;
    const key = `${this.key}:checkpoint`;
    const bufs = [fileHeader("MNEMECKP"), ...image];
    this.stored = await storeCheckpoint(this.client, key, seq, bufs, this.partBytes, this.stored);
    this.baseSeq = seq;
    const log = `${this.key}:log`;
    let start = "-";
    for (;;) {
      const rows = (await this.client.call("XRANGE", log, start, `${seq}-0`, "COUNT", PAGE)) as [
        string,
        string[],
      ][];
      if (rows.length === 0) break;
      const keys = rows.filter(([, f]) => f[0] === "p").map(([, f]) => `${this.key}:pages:${f[1]}`);
      if (keys.length > 0) await this.client.del(...keys);
      start = `(${rows[rows.length - 1][0]}`;
    }
    await this.client.xtrim(log, "MINID", `${seq + 1}-0`);
    this.entries = Number(await this.client.xlen(log));
  }

  sinceCheckpoint(): number {
    return this.logSinceCheckpoint;
  }

  stats(): BackendStats {
    return {
      bytes: this.written,
      fsyncs: this.acks,
      segments: this.entries,
      sinceCheckpoint: this.logSinceCheckpoint,
    };
  }

  async close(): Promise<void> {
    await this.durable().catch(() => {});
    this.client.disconnect();
  }

  /**
   * An XADD of `seq` refused as a duplicate id: fine when the stream holds that very entry (sent
   * again after a cut connection lost Redis's reply); anything else is an error.
   */
  private async verify(seq: number, record: Buffer): Promise<void> {
    const rows = (await this.client.callBuffer("XRANGE", `${this.key}:log`, `${seq}-0`, `${seq}-0`)) as [
      Buffer,
      Buffer[],
    ][];
    const fields = rows[0]?.[1];
    const same =
      fields !== undefined &&
      (record[4] === RecordType.BATCH
        ? fields[0].toString() === "p" && fields[1].toString() === String(seq)
        : fields[0].toString() === "r" && fields[1].equals(record));
    if (!same) throw new Error(`the stream already holds another entry ${seq}-0`);
  }

  /** On a connection made again after a lost one: rebuilds the log if Redis lost part of it. */
  private checkWhole(): void {
    if (this.wholeDone === null) return;
    this.lost()
      .then((lost) => (lost ? this.rebuild?.() : undefined))
      .catch((e: Error) => this.fail(e))
      .finally(() => this.doneChecking());
  }

  private doneChecking(): void {
    this.wholeDone?.();
    this.wholeDone = null;
  }

  /**
   * Whether Redis lost what it had acknowledged: its snapshot or append-only file keeps a prefix
   * of what it applied, so the newest checkpoint and the last acknowledged entry tell.
   */
  private async lost(): Promise<boolean> {
    const base = this.baseSeq;
    const acked = this.ackedSeq;
    if (base > 0) {
      const head = (await this.client.getrangeBuffer(`${this.key}:checkpoint`, 0, 7)) as Buffer;
      if (head.length < 8 || Number(head.readBigUInt64LE(0)) < base) return true;
    }
    if (acked <= base) return false;
    const id = `${acked}-0`;
    const rows = (await this.client.call("XRANGE", `${this.key}:log`, id, id)) as unknown[];
    return rows.length === 0;
  }

  private fail(e: Error): void {
    this.failed ??= new MnemeError("EREPLICATION", `Redis replication failed: ${e.message}`);
  }
}
