/**
 * A double free racing across workers: two workers free the same block of the main thread at the
 * same moment. Exactly one free may succeed; the other is a DoubleFreeError (or, when it comes
 * while the winner releases the block, an InvalidAddressError); and the pool stays
 * consistent (the block is not parked twice, so it is not handed out twice). Sequential double
 * frees across workers are in block-cache.test.ts; this is the concurrent one.
 */
import { describe, expect, it } from "vitest";
import { Mempool } from "../../src/index.js";
import { fixture, start } from "./helpers.js";

const PS = 4096;
const ROUNDS = 3000;

describe("two workers freeing the same block at once", () => {
  for (const pages of [1, 2, 5]) {
    it(`blocks of ${pages} page(s): one free wins, the other gets a typed error, the pool stays sound`, async () => {
      const pool = Mempool.create(16 << 20, { maxWorkers: 4 });
      const control = new SharedArrayBuffer(64);
      const c = new Int32Array(control);
      const workers = [0, 1].map((id) =>
        start<string>(fixture("racing-free-worker.ts"), { handle: pool.handle, control, id }, pool),
      );
      for (const w of workers) await w.next();
      for (let round = 1; round <= ROUNDS; round++) {
        const block = pool.alloc(pages * PS);
        Atomics.store(c, 1, block);
        Atomics.store(c, 2, 0);
        Atomics.store(c, 0, round);
        while (Atomics.load(c, 2) < 2) Atomics.wait(c, 2, Atomics.load(c, 2), 1000);
      }
      Atomics.store(c, 1, 0);
      Atomics.add(c, 0, 1);
      await Promise.all(workers.map((w) => w.exited));
      const ok = c[3] + c[4];
      const refused = c[5] + c[6] + c[7];
      expect(c[8], "errors other than DoubleFreeError and InvalidAddressError").toBe(0);
      expect(ok, "frees that succeeded: one per round").toBe(ROUNDS);
      expect(refused, "frees refused: one per round").toBe(ROUNDS);
      expect(c[5] + c[6], "the loser is told it is a double free, but for a moment").toBeGreaterThan(0);
      pool.check();
      // Every block is back exactly once: the pool can be filled and emptied to its start figures.
      const blocks = new Set<number>();
      for (;;) {
        let a: number;
        try {
          a = pool.alloc(PS);
        } catch {
          break;
        }
        expect(blocks.has(a), `page ${a} handed out twice`).toBe(false);
        blocks.add(a);
      }
      for (const a of blocks) pool.free(a);
      pool.check();
    });
  }
});
