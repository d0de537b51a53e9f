/**
 * Time for the reclaim layer, injectable so that tests are deterministic and fast (STYLE.md 12).
 * `systemClock` is the real one; `ManualClock` only moves when told to, firing due timers in order.
 */
import { InvalidArgumentError } from "../errors.js";

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The longest delay one Node timer takes (2^31 - 1 ms, about 24.8 days). */
const MAX_TIMER = 2 ** 31 - 1;

/**
 * Node fires a timer of more than MAX_TIMER ms after 1 ms (with a TimeoutOverflowWarning): a
 * flusher with an interval of 30 days ran a pass every millisecond. A longer delay is a chain of
 * timers here; the handle is the chain's, so clearTimeout ends it wherever it is.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const handle: { timer: NodeJS.Timeout | null } = { timer: null };
    const arm = (left: number): void => {
      const step = Math.min(left, MAX_TIMER);
      handle.timer = setTimeout(() => (left > MAX_TIMER ? arm(left - MAX_TIMER) : fn()), step);
      handle.timer.unref?.();
    };
    arm(ms);
    return handle;
  },
  clearTimeout: (h) => {
    const timer = (h as { timer?: NodeJS.Timeout | null } | null)?.timer;
    if (timer) clearTimeout(timer);
  },
};

interface Timer {
  at: number;
  fn: () => void;
  id: number;
}

export class ManualClock implements Clock {
  private t: number;
  private timers: Timer[] = [];
  private nextId = 1;

  constructor(start = 0) {
    if (!Number.isFinite(start))
      throw new InvalidArgumentError("start", start, "must be a finite number of ms");
    this.t = start;
  }

  /**
   * Bound, so that it can be handed over on its own (`new AddressSpace({ now: clock.now })`, as
   * the docs write it): a method read off the clock lost `this`, dirty ages became NaN and no page
   * ever expired.
   */
  readonly now = (): number => this.t;

  setTimeout(fn: () => void, ms: number): unknown {
    // As Node's setTimeout, a delay that is no number (NaN) fires at the next turn, not at time NaN.
    const timer = { at: this.t + (Number.isNaN(ms) ? 0 : Math.max(0, ms)), fn, id: this.nextId++ };
    this.timers.push(timer);
    return timer.id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  /** Moves time forward by `ms`, running every timer that falls due, in order. */
  async advance(ms: number): Promise<void> {
    // Time going back (or to NaN) broke every age the clock dated: dirty pages never expired.
    if (typeof ms !== "number" || !(ms >= 0) || ms === Number.POSITIVE_INFINITY)
      throw new InvalidArgumentError("ms", ms, "must be a finite number of ms, 0 or more");
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
      // Let async work the timer started (writeback) settle before the next one fires.
      for (let i = 0; i < 20; i++) await Promise.resolve();
    }
    this.t = end;
  }
}
