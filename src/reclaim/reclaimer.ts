/**
 * Reclaim under pressure (Linux's vmscan, in small): shrinkers are asked in priority order for the
 * memory a caller needs, round after round; when a round frees nothing several times in a row, the
 * OOM killer takes the consumer with the highest badness, as a last resort.
 *
 *     reclaim(bytes) ── round: shrinkers by priority (slab empties, clean page cache, user caches)
 *                    ├─ nothing freed: write back the spaces' dirty pages, and round again
 *                    └─ no progress for `maxRounds` rounds ── OomKiller.kill() ── 'oom' event
 *
 * Address spaces join with addSpace(): their clean pages become a shrinker ("page-cache", in the
 * policy's eviction order; dirty pages are never dropped by reclaim, but those a store can take
 * are written back first, so that the next round can drop them) and the space becomes an OOM
 * consumer whose kill drops its pages without writeback and makes it throw ConsumerKilledError.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { EventEmitter } from "node:events";
import { InvalidArgumentError } from "../errors.js";
import { type Shrinker, ShrinkerRegistry } from "../object/shrinker.js";
import { RECLAIM_CLUSTER, type Watermarks } from "../page/watermarks.js";
import type { AddressSpace } from "../vm/address-space.js";
import type { Clock } from "./clock.js";
import { type Consumer, ConsumerKilledError, type OomEvent, OomKiller } from "./oom.js";

export interface ReclaimerOptions {
  /** Rounds that free nothing before the OOM killer runs. Default 4. */
  maxRounds?: number;
  shrinkers?: ShrinkerRegistry;
  oom?: OomKiller;
}

export interface ReclaimResult {
  target: number;
  freed: number;
  rounds: number;
  killed: OomEvent | null;
}

/** Free frames of a page layer against its watermarks. */
export interface FrameZone {
  free: () => number;
  marks: Watermarks;
  pageSize: number;
}

export interface SpaceOptions {
  name: string;
  /** -1000 (never killed) .. 1000. Default 0. */
  oomScoreAdj?: number;
  /** Priority of its page-cache shrinker (lower runs first). Default 50. */
  priority?: number;
}

/** Set inside reclaim's own writeback (see Reclaimer.launder). */
const laundering = new AsyncLocalStorage<boolean>();

export class Reclaimer extends EventEmitter {
  readonly shrinkers: ShrinkerRegistry;
  readonly oom: OomKiller;
  readonly maxRounds: number;
  private counters = { reclaims: 0, rounds: 0, freed: 0, errors: 0, laundered: 0 };
  /** The added spaces' writeback: dirty pages written become clean pages a round can drop. */
  private readonly launderers = new Set<(bytes: number) => Promise<number>>();

  constructor(options: ReclaimerOptions = {}) {
    super();
    const maxRounds = options.maxRounds ?? 4;
    if (!Number.isInteger(maxRounds) || maxRounds < 1) {
      throw new InvalidArgumentError("maxRounds", maxRounds, "must be a positive integer");
    }
    this.maxRounds = maxRounds;
    this.shrinkers = options.shrinkers ?? new ShrinkerRegistry();
    this.oom = options.oom ?? new OomKiller();
    this.oom.on("oom", (e: OomEvent) => this.emit("oom", e));
  }

  /**
   * Adds a shrinker. One that throws (from count or scan) is passed over for that round, counted
   * in `errors` and reported by a `shrinker-error` event: a thrown error used to abort the whole
   * reclaim, so the shrinkers after it and the OOM killer never ran while a broken cache was
   * registered. Shrinkers are synchronous (the heap's allocations run them): one that returns a
   * promise counts as freeing nothing and is reported the same way, as is the promise's rejection.
   */
  registerShrinker(shrinker: Shrinker): () => void {
    if (!shrinker || typeof shrinker.count !== "function" || typeof shrinker.scan !== "function")
      return this.shrinkers.register(shrinker);
    const failed = (error: unknown): number => {
      this.counters.errors++;
      this.emit("shrinker-error", { shrinker: shrinker.name, error });
      return 0;
    };
    const guard =
      <A extends unknown[]>(fn: (...args: A) => number) =>
      (...args: A): number => {
        try {
          const got: unknown = fn.apply(shrinker, args);
          if (typeof (got as PromiseLike<unknown> | null)?.then !== "function") return got as number;
          // An async shrinker's rejection was unhandled (it ends a Node process), and a promise is
          // no count of bytes: what it frees arrives after the round has judged its progress.
          (got as PromiseLike<unknown>).then(undefined, failed);
          return failed(
            new InvalidArgumentError(
              "shrinker",
              shrinker.name,
              `${fn.name || "count/scan"} returned a promise: shrinkers must answer synchronously`,
            ),
          );
        } catch (error) {
          return failed(error);
        }
      };
    return this.shrinkers.register({
      name: shrinker.name,
      priority: shrinker.priority,
      count: guard(shrinker.count),
      scan: guard(shrinker.scan),
    });
  }

  registerConsumer(consumer: Consumer): () => void {
    return this.oom.register(consumer);
  }

  /** Adds an address space: its clean pages as a shrinker, the space itself as an OOM consumer. */
  addSpace(space: AddressSpace, options: SpaceOptions): () => void {
    if (typeof options?.name !== "string" || options.name === "")
      throw new InvalidArgumentError("name", options?.name, "must be a non-empty string");
    const ps = space.pageSize;
    let unshrink = (): void => {};
    const consumer: Consumer = {
      name: options.name,
      oomScoreAdj: options.oomScoreAdj ?? 0,
      footprint: () => space.cachedPages() * ps,
      kill: (reason) => {
        unshrink();
        space.terminate(new ConsumerKilledError(options.name, reason));
      },
    };
    // The consumer first, the shrinker after: a bad oomScoreAdj or priority is refused with
    // neither left registered (a stray page-cache shrinker would reclaim a space nobody added).
    const unregister = this.oom.register(consumer);
    try {
      const unregisterShrinker = this.shrinkers.register({
        name: `page-cache:${options.name}`,
        priority: options.priority ?? 50,
        // An estimate, as Linux's count_objects: O(1) on every reclaim pass; scan says what it freed.
        count: () => Math.max(0, space.cachedPages() - space.dirtyPages()) * ps,
        scan: (bytes) => space.shrink(Math.ceil(bytes / ps)) * ps,
      });
      const launder = async (bytes: number) => (await space.writeback(Math.ceil(bytes / ps))) * ps;
      this.launderers.add(launder);
      unshrink = () => {
        unregisterShrinker();
        this.launderers.delete(launder);
      };
    } catch (e) {
      unregister();
      throw e;
    }
    return () => {
      unshrink();
      unregister();
    };
  }

  /**
   * Frees `bytes` through the shrinkers; after `maxRounds` rounds without progress, kills the
   * worst consumer (once, unless `mayKill` is false) and tries again.
   */
  async reclaim(bytes: number, reason = "reclaim made no progress", mayKill = true): Promise<ReclaimResult> {
    if (!Number.isSafeInteger(bytes) || bytes <= 0)
      throw new InvalidArgumentError("bytes", bytes, "must be a positive integer");
    this.counters.reclaims++;
    const result: ReclaimResult = { target: bytes, freed: 0, rounds: 0, killed: null };
    let idle = 0;
    while (result.freed < bytes) {
      result.rounds++;
      this.counters.rounds++;
      const r = this.shrinkers.shrink(bytes - result.freed);
      // Always a finite count: the registry counts a scan that answers no number as nothing.
      const freed = r.freed;
      result.freed += freed;
      this.emit("round", { round: result.rounds, freed, asked: r.asked });
      if (freed > 0) {
        idle = 0;
        continue;
      }
      // Dirty pages a store can take are not stuck (Linux's pageout): written back, the next
      // round drops them. Killing a space for pages its file could hold lost its data for nothing.
      if ((await this.launder(bytes - result.freed)) > 0) continue;
      if (++idle < this.maxRounds) continue;
      if (result.killed !== null || !mayKill) break;
      result.killed = await this.oom.kill(reason);
      if (result.killed === null) break;
      idle = 0;
    }
    this.counters.freed += result.freed;
    return result;
  }

  /** Writes back up to `bytes` of the added spaces' dirty pages, oldest first in each; returns the bytes written. */
  private async launder(bytes: number): Promise<number> {
    // A reclaim started by that writeback itself (a store that allocates to write) must not write
    // back again: as Linux's PF_MEMALLOC, it would recurse through the same stores without end.
    if (laundering.getStore() === true) return 0;
    return laundering.run(true, () => this.launderAll(bytes));
  }

  private async launderAll(bytes: number): Promise<number> {
    let written = 0;
    for (const launder of [...this.launderers]) {
      if (written >= bytes) break;
      // Detached while an earlier space's writeback was awaited: its owner withdrew it.
      if (!this.launderers.has(launder)) continue;
      try {
        written += await launder(bytes - written);
      } catch {
        // A store that fails its writes keeps its pages dirty: they are stuck, like anonymous
        // pages without swap, and the round counts as making no progress.
        this.counters.errors++;
      }
    }
    this.counters.laundered += written;
    return written;
  }

  /**
   * Background reclaim (kswapd): below `low` free frames, reclaims until `high` is reached.
   * Returns the frames it freed (0 when free frames were at or above `low`). Like kswapd it never
   * kills: the OOM killer is for an allocation that cannot proceed.
   */
  async balance(zone: FrameZone): Promise<number> {
    const free = zone.free();
    if (free >= zone.marks.low) return 0;
    const r = await this.reclaim(
      (zone.marks.high - free) * zone.pageSize,
      "background reclaim made no progress",
      false,
    );
    return Math.floor(r.freed / zone.pageSize);
  }

  /**
   * Direct reclaim before an allocation of `frames`: an ordinary allocation that would leave free
   * frames at or below `min` reclaims first; a critical one (metadata reserve, `{ wait: false }`)
   * may use the frames below `min`. Resolves true when the allocation may proceed. `mayKill`
   * false: the caller has a fallback of its own (evicting its own pages), so no OOM kill.
   */
  async beforeAllocate(zone: FrameZone, frames: number, critical = false, mayKill = true): Promise<boolean> {
    return (await this.directReclaim(zone, frames, critical, mayKill)).ok;
  }

  /** beforeAllocate(), also saying how many frames (of zone.pageSize) the shrinkers freed for it. */
  async directReclaim(
    zone: FrameZone,
    frames: number,
    critical = false,
    mayKill = true,
  ): Promise<{ ok: boolean; freed: number }> {
    if (!Number.isSafeInteger(frames) || frames < 1)
      throw new InvalidArgumentError("frames", frames, "must be a positive integer");
    const free = zone.free();
    if (critical) return { ok: free >= frames, freed: 0 };
    if (free - frames > zone.marks.min) return { ok: true, freed: 0 };
    // A cluster at a time, up to high: one direct reclaim serves the faults that follow it.
    const r = await this.reclaim(
      Math.max(zone.marks.min + frames - free + 1, Math.min(RECLAIM_CLUSTER, zone.marks.high - free)) *
        zone.pageSize,
      "direct reclaim made no progress",
      mayKill,
    );
    return { ok: zone.free() - frames > zone.marks.min, freed: Math.floor(r.freed / zone.pageSize) };
  }

  /** Runs balance() every `interval` ms on `clock` until the returned stop function is called. */
  startBackground(zone: FrameZone, clock: Clock, interval = 100): () => void {
    // Checked here, not at the first tick: a zone without free() failed every timed pass into the
    // errors counter, and an interval of 0 spun (a ManualClock's advance() never returned).
    checkZone(zone);
    if (typeof clock?.setTimeout !== "function" || typeof clock.clearTimeout !== "function")
      throw new InvalidArgumentError("clock", clock, "must be a Clock (setTimeout, clearTimeout)");
    if (!Number.isSafeInteger(interval) || interval < 1)
      throw new InvalidArgumentError("interval", interval, "must be a positive integer of ms");
    let timer: unknown = null;
    let stopped = false;
    const tick = () => {
      timer = null;
      // Nobody awaits a timed pass: a failure (a shrinker that throws) is counted, not left as an
      // unhandled rejection, and the next pass runs as usual.
      this.balance(zone)
        .catch(() => {
          this.counters.errors++;
        })
        .finally(() => {
          if (!stopped) timer = clock.setTimeout(tick, interval);
        });
    };
    timer = clock.setTimeout(tick, interval);
    return () => {
      stopped = true;
      if (timer !== null) clock.clearTimeout(timer);
    };
  }

  /**
   * `errors`: background passes (startBackground), writebacks by reclaim and calls of
   * registerShrinker's shrinkers that failed;
   * `laundered`: bytes of dirty pages reclaim wrote back so that it could drop them;
   * `kills` / `failedKills`: OOM kills done, and victims whose kill() threw (oom.ts);
   * `maxRounds`: the tunable.
   */
  stats(): {
    reclaims: number;
    rounds: number;
    freed: number;
    errors: number;
    laundered: number;
    kills: number;
    failedKills: number;
    shrinkers: string[];
    maxRounds: number;
  } {
    return {
      ...this.counters,
      kills: this.oom.kills,
      failedKills: this.oom.failedKills,
      shrinkers: this.shrinkers.names,
      maxRounds: this.maxRounds,
    };
  }
}

/** Throws InvalidArgumentError unless `zone` is a FrameZone: free(), ordered marks, a page size. */
export function checkZone(zone: FrameZone): void {
  if (typeof zone?.free !== "function")
    throw new InvalidArgumentError("zone", zone, "must have free() (a FrameZone: heapZone, poolZone)");
  const m = zone.marks;
  const ordered =
    Number.isSafeInteger(m?.min) &&
    Number.isSafeInteger(m.low) &&
    Number.isSafeInteger(m.high) &&
    m.min >= 0 &&
    m.min < m.low &&
    m.low < m.high;
  if (!ordered)
    throw new InvalidArgumentError("zone.marks", m, "must be integers with 0 <= min < low < high");
  if (!Number.isSafeInteger(zone.pageSize) || zone.pageSize < 1)
    throw new InvalidArgumentError("zone.pageSize", zone.pageSize, "must be a positive integer");
}
