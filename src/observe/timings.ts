/**
 * Requests and service time per command, kept in plain arrays so that the dispatch path stays
 * short, and only while metrics are on (`Service.timings` is null otherwise). /metrics turns
 * these into a Prometheus histogram at scrape time (metrics.ts), so prom-client's label hashing
 * never runs per request.
 *
 * Every command is counted; one in SAMPLE_EVERY is timed. Two `performance.now()` calls cost about
 * a tenth of a pipelined READ or WRITE (measured on 2 cores: ~950 ns per command untimed, ~1,070 ns
 * timing every command; ~2% with this sampling), so the histogram is built from a systematic
 * sample: its `_count` is the number of timed commands, `calls` the number of all of them.
 *
 * What is timed: the command's run on the I/O thread, from dispatch to its reply being queued.
 * A command that hands its copy to a worker thread or waits for a page-in (MAP regions) is timed
 * up to that hand-off; the rest shows in the client's latency, not here.
 *
 * Per command (arrays indexed by the command's slot in the command table, so counting is an
 * array increment, no lookup):
 *
 * | field   | meaning                                                          |
 * |---------|------------------------------------------------------------------|
 * | calls   | commands run                                                     |
 * | count   | commands timed (about calls / SAMPLE_EVERY)                      |
 * | sum     | seconds spent by the timed ones                                  |
 * | buckets | buckets[i]: timed commands that took at most LATENCY_BUCKETS[i] (not cumulative) |
 */

/** One command in this many is timed. */
export const SAMPLE_EVERY = 32;

/** Upper bounds in seconds: 1 µs to 100 ms, then +Inf (the last slot). */
export const LATENCY_BUCKETS: readonly number[] = [
  0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01,
  0.1,
];

export interface CommandTiming {
  calls: number;
  count: number;
  sum: number;
  /** LATENCY_BUCKETS.length + 1 entries, the last for +Inf. */
  buckets: Float64Array;
}

export class CommandTimings {
  private readonly names: readonly string[];
  private readonly calls: Float64Array;
  private readonly counts: Float64Array;
  private readonly sums: Float64Array;
  private readonly buckets: Float64Array;
  private countdown = SAMPLE_EVERY;

  /** `names[slot]` is the command counted under `slot` (the command table's order). */
  constructor(names: readonly string[]) {
    this.names = names;
    this.calls = new Float64Array(names.length);
    this.counts = new Float64Array(names.length);
    this.sums = new Float64Array(names.length);
    this.buckets = new Float64Array(names.length * (LATENCY_BUCKETS.length + 1));
  }

  /** Counts a run of the command in `slot`; true when this one is to be timed (then call record()). */
  begin(slot: number): boolean {
    this.calls[slot]++;
    if (--this.countdown > 0) return false;
    this.countdown = SAMPLE_EVERY;
    return true;
  }

  /** The timed run of the command in `slot` (begin() said so) took `ms` milliseconds. */
  record(slot: number, ms: number): void {
    const s = ms / 1000;
    this.counts[slot]++;
    this.sums[slot] += s;
    let i = 0;
    while (i < LATENCY_BUCKETS.length && s > LATENCY_BUCKETS[i]) i++;
    this.buckets[slot * (LATENCY_BUCKETS.length + 1) + i]++;
  }

  /** The commands run so far, with their figures (copies). */
  entries(): [string, CommandTiming][] {
    const out: [string, CommandTiming][] = [];
    const width = LATENCY_BUCKETS.length + 1;
    for (let slot = 0; slot < this.names.length; slot++) {
      if (this.calls[slot] === 0) continue;
      out.push([
        this.names[slot],
        {
          calls: this.calls[slot],
          count: this.counts[slot],
          sum: this.sums[slot],
          buckets: this.buckets.slice(slot * width, (slot + 1) * width),
        },
      ]);
    }
    return out;
  }
}
