/**
 * Watermark reclaim wired into an address space's fault path (Linux's kswapd plus direct reclaim
 * in the page allocator's slow path):
 *
 *     fault ── frameGate ── free frames - 1 <= min ── direct reclaim (the fault waits for it)
 *                       └── free frames < low ─────── wake background reclaim (no wait)
 *     timer ── every `interval` ms ── background reclaim below low, until high
 *
 * The zone is the space's own frames unless another is given (a page layer shared by several
 * spaces). When direct reclaim leaves free frames at or below `min`, the fault takes no fresh
 * frame: it evicts one of the space's own pages instead (writing it back if dirty), so the
 * frames below `min` stay a reserve for critical allocations (writeback's own metadata). If the
 * space has no page left to evict by then (unmapped or reclaimed while the fault waited), the
 * fault asks the gate again before it fails: the frames counted at first may be free now. A space
 * that has pages of its own never causes an OOM kill; one with none may, since another consumer
 * holds the memory. The reclaim itself is the Reclaimer's: clean pages in the policy's order
 * through the space's page-cache shrinker, then the other shrinkers by priority.
 */

import { InvalidArgumentError, MnemeError } from "../errors.js";
import { type WatermarkOptions, watermarks } from "../page/watermarks.js";
import type { AddressSpace } from "../vm/address-space.js";
import { type Clock, systemClock } from "./clock.js";
import { checkZone, type FrameZone, Reclaimer } from "./reclaimer.js";

export interface FrameReclaimOptions {
  reclaimer: Reclaimer;
  /** The space's name as an OOM consumer and in the shrinker's name. */
  name: string;
  /** Watermarks over the space's frames (defaults derived from their number). */
  marks?: WatermarkOptions;
  /** A shared page layer to watch instead of the space's own frames. */
  zone?: FrameZone;
  oomScoreAdj?: number;
  /** Priority of the space's page-cache shrinker. Default 50. */
  priority?: number;
  clock?: Clock;
  /** ms between background checks. Default 100. */
  interval?: number;
}

export interface FrameReclaimStats {
  free: number;
  min: number;
  low: number;
  high: number;
  /** ms between background checks (the tunable). */
  interval: number;
  /**
   * Direct reclaims (a fault waited) and background ones, with the frames each kind's shrinkers
   * freed (an OOM kill's frames are not reclaimed ones: see the reclaimer's kills).
   */
  direct: number;
  directFreed: number;
  background: number;
  backgroundFreed: number;
}

export interface FrameReclaim {
  readonly zone: FrameZone;
  stats(): FrameReclaimStats;
  /** Waits for reclaim under way, if any. */
  settled(): Promise<void>;
  stop(): void;
}

/** Spaces with watermark reclaim on: a space has one frame gate, so one startReclaim at a time. */
const gated = new WeakSet<AddressSpace>();

export function startReclaim(space: AddressSpace, options: FrameReclaimOptions): FrameReclaim {
  const { reclaimer } = options ?? {};
  if (!(reclaimer instanceof Reclaimer))
    throw new InvalidArgumentError("reclaimer", reclaimer, "must be a Reclaimer");
  if (typeof options.name !== "string" || options.name === "")
    throw new InvalidArgumentError("name", options.name, "must be a non-empty string");
  if (typeof (space as Partial<AddressSpace> | null)?.onClose !== "function")
    throw new InvalidArgumentError("space", space, "must be an AddressSpace");
  if (space.closed) throw new MnemeError("ECLOSED", "the address space is closed");
  // A second one replaced the first's gate and registered the space twice (two shrinkers, two
  // consumers with the same pages); stopping the first then removed the second's gate silently.
  if (gated.has(space))
    throw new InvalidArgumentError("space", options.name, "already has watermark reclaim (stop it first)");
  const interval = options.interval ?? 100;
  if (!Number.isSafeInteger(interval) || interval < 1)
    throw new InvalidArgumentError("interval", interval, "must be a positive integer of ms");
  const clock = options.clock ?? systemClock;
  if (typeof clock?.setTimeout !== "function" || typeof clock.clearTimeout !== "function")
    throw new InvalidArgumentError("clock", clock, "must be a Clock (setTimeout, clearTimeout)");
  if (options.zone !== undefined) {
    checkZone(options.zone);
    // Silently ignored before: a given zone comes with its own watermarks.
    if (options.marks !== undefined)
      throw new InvalidArgumentError(
        "marks",
        options.marks,
        "go with the space's own frames, not a given zone",
      );
  }
  const zone: FrameZone = options.zone ?? {
    free: () => space.freeFrames(),
    marks: watermarks(space.stats().frames, options.marks),
    pageSize: space.pageSize,
  };
  const counters = { direct: 0, directFreed: 0, background: 0, backgroundFreed: 0 };
  let direct: Promise<boolean> | null = null;
  let background: Promise<unknown> | null = null;
  let stopped = false;

  const wake = (): void => {
    if (background !== null || stopped || zone.free() >= zone.marks.low) return;
    counters.background++;
    // What the shrinkers freed, not the change in free frames: faults taking frames meanwhile hid
    // some of it, and a direct reclaim running alongside had the same frames counted twice.
    background = reclaimer
      .balance(zone)
      .then(
        (freed) => {
          counters.backgroundFreed += freed;
        },
        () => {},
      )
      .finally(() => {
        background = null;
      });
  };

  const detach = reclaimer.addSpace(space, {
    name: options.name,
    oomScoreAdj: options.oomScoreAdj,
    priority: options.priority,
  });
  gated.add(space);
  space.frameGate = () => {
    const free = zone.free();
    if (free < zone.marks.low) wake();
    if (free - 1 > zone.marks.min) return null;
    if (direct === null) {
      counters.direct++;
      // A space with pages of its own can evict one itself: no OOM kill on its behalf.
      direct = reclaimer
        .directReclaim(zone, 1, false, space.cachedPages() === 0)
        .then(
          (r) => {
            counters.directFreed += r.freed;
            return r.ok;
          },
          () => true,
        )
        .finally(() => {
          direct = null;
        });
    }
    return direct;
  };

  let timer: unknown = null;
  const tick = (): void => {
    timer = null;
    wake();
    if (!stopped) timer = clock.setTimeout(tick, interval);
  };
  timer = clock.setTimeout(tick, interval);

  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    if (timer !== null) clock.clearTimeout(timer);
    space.frameGate = null;
    gated.delete(space);
    detach();
  };
  space.onClose(stop);

  return {
    zone,
    stats: () => ({
      free: zone.free(),
      min: zone.marks.min,
      low: zone.marks.low,
      high: zone.marks.high,
      interval,
      ...counters,
    }),
    settled: async () => {
      await direct;
      await background;
    },
    stop,
  };
}
