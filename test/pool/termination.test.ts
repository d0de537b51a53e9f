/**
 * Workers terminated with worker.terminate(): one while it holds the pool's lock (the others go
 * on once pool.watch() has recovered it), and victims killed at random moments of a busy run
 * beside two workers that keep going (termination.ts). Single- and multi-segment pools.
 */
import { describe, it } from "vitest";
import { terminateMidRun, terminateWhileHoldingTheLock } from "./termination.js";

describe("a worker terminated", () => {
  it("while it holds the lock: another worker's locked allocations complete, nothing is lost", async () => {
    await terminateWhileHoldingTheLock(8 << 20);
  });

  it("at random moments of a busy run (6 victims): the others go on, the pool stays consistent", async () => {
    await terminateMidRun(8 << 20, undefined, 6, 0x7e51);
  });

  it("while it holds every segment's lock (multi-segment pool)", async () => {
    await terminateWhileHoldingTheLock(4 << 20, { segmentBytes: 1 << 20 });
  });

  it("at random moments of a busy run (multi-segment pool)", async () => {
    await terminateMidRun(4 << 20, { segmentBytes: 1 << 20 }, 6, 0x7e52);
  });
});
