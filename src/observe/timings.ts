/**
 * Service time per command, kept in plain arrays so that the dispatch path pays two
 * `performance.now()` calls and a few array writes, and only while metrics are on
 * (`Service.timings` is null otherwise). /metrics turns these into a Prometheus histogram at
 * scrape time (metrics.ts), so prom-client's label hashing never runs per request.
 *
 * What is timed: the command's run on the I/O thread, from dispatch to its reply being queued.
 * A command that hands its copy to a worker thread or waits for a page-in (MAP regions) is timed
 * up to that hand-off; the rest shows in the client's latency, not here.
 *
 * Per command:
 *
 * | field   | meaning                                                          |
 * |---------|------------------------------------------------------------------|
 * | count   | commands run                                                     |
 * | sum     | seconds spent, all of them                                       |
 * | buckets | buckets[i]: commands that took at most LATENCY_BUCKETS[i] (not cumulative) |
 */

/** Upper bounds in seconds: 1 µs to 100 ms, then +Inf (the last slot). */
export const LATENCY_BUCKETS: readonly number[] = [
  0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01,
  0.1,
];

export interface CommandTiming {
  count: number;
  sum: number;
  buckets: Float64Array;
}

export class CommandTimings {
  private readonly byName = new Map<string, CommandTiming>();

  /** Records one run of `name` that took `ms` milliseconds. */
  record(name: string, ms: number): void {
    let t = this.byName.get(name);
    if (t === undefined) {
      t = { count: 0, sum: 0, buckets: new Float64Array(LATENCY_BUCKETS.length + 1) };
      this.byName.set(name, t);
    }
    const s = ms / 1000;
    t.count++;
    t.sum += s;
    let i = 0;
    while (i < LATENCY_BUCKETS.length && s > LATENCY_BUCKETS[i]) i++;
    t.buckets[i]++;
  }

  /** Commands seen so far, with their figures (live objects: read them, do not keep them). */
  entries(): IterableIterator<[string, CommandTiming]> {
    return this.byName.entries();
  }
}
