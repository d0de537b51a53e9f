/**
 * The dirty-page flusher (Linux's writeback: mm/page-writeback.c and the flusher threads).
 *
 *     dirty / page cache:  0 ........ low (30%) ........ high (60%) ........ 100%
 *                           nothing    write N pages       writers throttled: each write
 *                           to do      asynchronously,      first waits for a synchronous
 *                                      oldest first         flush of N pages
 *
 * It wakes every `interval` ms (data, default 30 s) and every `metadataInterval` ms (default
 * 5 s, for the source's metadata if it has any), and on demand (`kick()`). Pages dirty for longer
 * than `expire` ms are written whatever the ratio, so nothing stays unwritten for long. The clock
 * is injected, so tests drive time by hand.
 */
import { InvalidArgumentError } from "../errors.js";
import { type Clock, systemClock } from "./clock.js";

/** What the flusher needs from a page cache (the vm layer's address spaces provide it). */
export interface DirtySource {
  /** Resident pages that a store backs (the page cache). */
  cachedPages(): number;
  dirtyPages(): number;
  /** Writes up to `count` dirty pages, oldest first; with `dirtiedBefore`, only pages dirty since before it. */
  writeback(count: number, dirtiedBefore?: number): Promise<number>;
  /** Writes the source's metadata (swap maps, file sizes), if it has any. */
  syncMetadata?(): Promise<void>;
}

export interface FlusherOptions {
  /** Dirty ratio at which background writeback starts. Default 0.3. */
  lowRatio?: number;
  /** Dirty ratio at which writers are throttled. Default 0.6. */
  highRatio?: number;
  /** Pages written per wake-up or per throttled write. Default 32. */
  batch?: number;
  /** ms between data wake-ups. Default 30000. */
  interval?: number;
  /** ms between metadata wake-ups. Default 5000. */
  metadataInterval?: number;
  /** ms after which a dirty page is written whatever the ratio. Default 30000. */
  expire?: number;
  clock?: Clock;
}

export type DirtyZone = "below-low" | "between" | "above-high";

export interface FlushReport {
  at: number;
  ratio: number;
  zone: DirtyZone;
  expired: number;
  written: number;
}

export interface FlusherStats {
  running: boolean;
  wakeups: number;
  written: number;
  throttled: number;
  throttleWritten: number;
  /** Metadata passes (syncMetadata) completed. */
  metadataSyncs: number;
  /** Timed passes and throttling flushes that failed (a store error); the pages stay dirty and are tried again. */
  errors: number;
  last: FlushReport | null;
  lowRatio: number;
  highRatio: number;
  batch: number;
  interval: number;
  metadataInterval: number;
  expire: number;
}

export class Flusher {
  readonly lowRatio: number;
  readonly highRatio: number;
  readonly batch: number;
  readonly interval: number;
  readonly metadataInterval: number;
  readonly expire: number;
  private readonly clock: Clock;
  private readonly source: DirtySource;
  private dataTimer: unknown = null;
  private metaTimer: unknown = null;
  private running = false;
  private busy: Promise<FlushReport> | null = null;
  private counters = {
    wakeups: 0,
    written: 0,
    throttled: 0,
    throttleWritten: 0,
    metadataSyncs: 0,
    errors: 0,
  };
  private last: FlushReport | null = null;

  constructor(source: DirtySource, options: FlusherOptions = {}) {
    if (
      typeof source?.cachedPages !== "function" ||
      typeof source.dirtyPages !== "function" ||
      typeof source.writeback !== "function"
    )
      throw new InvalidArgumentError("source", source, "needs cachedPages(), dirtyPages() and writeback()");
    if (options === null || typeof options !== "object")
      throw new InvalidArgumentError("options", options, "must be an object");
    // Checked here: a clock without setTimeout failed only in start(), after startWriteback had
    // put the throttle on the space's writes.
    const clock = options.clock ?? systemClock;
    if (
      typeof clock?.now !== "function" ||
      typeof clock.setTimeout !== "function" ||
      typeof clock.clearTimeout !== "function"
    )
      throw new InvalidArgumentError("clock", clock, "must be a Clock (now, setTimeout, clearTimeout)");
    this.source = source;
    this.lowRatio = ratio("lowRatio", options.lowRatio ?? 0.3);
    this.highRatio = ratio("highRatio", options.highRatio ?? 0.6);
    if (!(this.lowRatio < this.highRatio)) {
      throw new InvalidArgumentError(
        "highRatio",
        this.highRatio,
        `must be above lowRatio (${this.lowRatio})`,
      );
    }
    this.batch = positive("batch", options.batch ?? 32);
    this.interval = positive("interval", options.interval ?? 30_000);
    this.metadataInterval = positive("metadataInterval", options.metadataInterval ?? 5_000);
    this.expire = positive("expire", options.expire ?? 30_000);
    this.clock = clock;
  }

  /** The dirty ratio and its zone now. */
  zone(): { ratio: number; zone: DirtyZone } {
    const cached = this.source.cachedPages();
    const r = cached === 0 ? 0 : this.source.dirtyPages() / cached;
    return {
      ratio: r,
      zone: r < this.lowRatio ? "below-low" : r < this.highRatio ? "between" : "above-high",
    };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    if (this.dataTimer !== null) this.clock.clearTimeout(this.dataTimer);
    if (this.metaTimer !== null) this.clock.clearTimeout(this.metaTimer);
    this.dataTimer = null;
    this.metaTimer = null;
  }

  /** Wakes the flusher now (one data pass); resolves with what it did. */
  kick(): Promise<FlushReport> {
    if (!this.busy) {
      this.busy = this.pass().finally(() => {
        this.busy = null;
      });
    }
    return this.busy;
  }

  /** Resolves once the pass under way, if any, has finished (its writeback may do real I/O). */
  async settled(): Promise<void> {
    if (this.busy) await this.busy;
  }

  /**
   * Called by a writer before it dirties a page: above the high ratio it waits for a synchronous
   * flush of `batch` pages, so dirty data cannot grow without bound.
   */
  async throttle(): Promise<boolean> {
    if (this.zone().zone !== "above-high") return false;
    this.counters.throttled++;
    try {
      const n = await this.source.writeback(this.batch);
      this.counters.throttleWritten += n;
      this.counters.written += n;
    } catch {
      // A store error writing the oldest pages, which need not be the writer's own: the writer is
      // paced, not failed with another store's error. The pages stay dirty; whoever syncs them
      // gets the error.
      this.counters.errors++;
    }
    return true;
  }

  stats(): FlusherStats {
    return {
      running: this.running,
      ...this.counters,
      last: this.last,
      lowRatio: this.lowRatio,
      highRatio: this.highRatio,
      batch: this.batch,
      interval: this.interval,
      metadataInterval: this.metadataInterval,
      expire: this.expire,
    };
  }

  private async pass(): Promise<FlushReport> {
    this.counters.wakeups++;
    const at = this.clock.now();
    const expired = await this.source.writeback(Number.MAX_SAFE_INTEGER, at - this.expire);
    const { ratio: r, zone } = this.zone();
    let written = 0;
    if (zone !== "below-low") written = await this.source.writeback(this.batch);
    this.counters.written += expired + written;
    const report = { at, ratio: r, zone, expired, written };
    this.last = report;
    return report;
  }

  private schedule(): void {
    this.scheduleData();
    this.scheduleMeta();
  }

  private scheduleData(): void {
    if (!this.running || this.dataTimer !== null) return;
    this.dataTimer = this.clock.setTimeout(() => {
      this.dataTimer = null;
      this.kick().then(
        () => this.scheduleData(),
        () => {
          this.counters.errors++;
          this.scheduleData();
        },
      );
    }, this.interval);
  }

  private scheduleMeta(): void {
    // A sync that was under way across stop() and start() ends after start() set the next timer:
    // a second timer would be a second chain, one that stop() could not clear.
    if (!this.running || this.metaTimer !== null) return;
    this.metaTimer = this.clock.setTimeout(() => {
      this.metaTimer = null;
      (this.source.syncMetadata?.() ?? Promise.resolve()).then(
        () => {
          this.counters.metadataSyncs++;
          this.scheduleMeta();
        },
        () => {
          this.counters.errors++;
          this.scheduleMeta();
        },
      );
    }, this.metadataInterval);
  }
}

function ratio(name: string, v: number): number {
  if (typeof v !== "number" || !(v > 0 && v < 1))
    throw new InvalidArgumentError(name, v, "must be a ratio between 0 and 1");
  return v;
}

function positive(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v <= 0)
    throw new InvalidArgumentError(name, v, "must be a positive integer");
  return v;
}
