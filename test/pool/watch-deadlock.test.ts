/**
 * watch() recovers an exited worker without waiting for a segment lock: another worker killed at
 * the same moment may hold it, and the watching thread learns of that death only from an exit
 * event it cannot receive while it sleeps in the lock. Before, the watcher hung for good.
 */
import { describe, expect, it } from "vitest";
import { fixture, start } from "./helpers.js";

describe("a worker's exit is handled while a live worker holds the lock, and both are recovered", () => {
  it("by the creator", () => watchWhileHeld(false));
  // Its exit handler recovers through a handle of its own, which it closes without waiting either.
  it("by a creator that closed its handle first", () => watchWhileHeld(true));
});

async function watchWhileHeld(closed: boolean): Promise<void> {
  const w = start<string>(fixture("watcher-worker.ts"), { closed });
  let timer: NodeJS.Timeout | undefined;
  // Only a guard against a hung watcher (it can no longer answer): not a timing threshold.
  const hung = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve("hung"), 60_000);
  });
  try {
    expect(await Promise.race([w.next(), hung])).toBe("a reaped");
    expect(await Promise.race([w.next(), hung])).toBe("recovered");
  } finally {
    clearTimeout(timer);
    await w.worker.terminate();
  }
}
