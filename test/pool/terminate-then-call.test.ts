/**
 * A pool call in the watching thread right after it terminated a worker that holds the segment
 * lock, without waiting for the exit (`worker.terminate()` not awaited, then `pool.stats()`, say).
 * The lock is taken over from a holder known to be dead, and this thread learnt of deaths only from
 * the exit event, which cannot arrive while it waits in the lock: it waited for good. The watching
 * thread now asks the Worker object itself whether its thread has stopped.
 */
import { describe, expect, it } from "vitest";
import { fixture, start } from "./helpers.js";

describe("a pool call right after terminate() of the lock holder", () => {
  for (const late of [false, true])
    it(`returns, and the holder is recovered (${late ? "watched once running" : "watched from its start"})`, () =>
      terminateThenCall(late));
});

async function terminateThenCall(late: boolean): Promise<void> {
  const w = start<string>(fixture("terminate-call-worker.ts"), { late });
  let timer: NodeJS.Timeout | undefined;
  // Only a guard against a hung creator (it can no longer answer): not a timing threshold.
  const hung = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve("hung"), 60_000);
  });
  try {
    expect(await Promise.race([w.next(), hung])).toBe("holding");
    expect(await Promise.race([w.next(), hung])).toBe("called");
    expect(await Promise.race([w.next(), hung])).toBe("recovered");
  } finally {
    clearTimeout(timer);
    await w.worker.terminate();
  }
}
