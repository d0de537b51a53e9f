/**
 * A worker whose hot stack is empty refills it with a whole aligned run of 128 pages (page/buddy.ts
 * takeHotRun; 128 is the default hot stack of a 64 MiB pool). A shared arena's state map and the
 * pool's owner map start on 128-byte boundaries, so the single pages of two workers share no pair
 * of cache lines in either map: cores fetch lines in adjacent pairs, and two workers writing the
 * two halves of one pair ran at half speed (BENCHMARKS.md, pool).
 */
import { describe, expect, it } from "vitest";
import { Mempool } from "../../src/index.js";
import { M_HOT_HIGH, PAIR_BYTES } from "../../src/page/layout.js";
import type { RemoteCommand, RemoteReply } from "./fixtures/remote-worker.js";
import { fixture, start } from "./helpers.js";

const PS = 4096;
const RUN = 128;

describe("hot runs", () => {
  it("each worker's first 128 single pages fill one aligned 128-page run, on pairs of cache lines of its own", async () => {
    const pool = Mempool.create(64 * 2 ** 20);
    const seg = pool.segments[0];
    expect(seg.pages.state.byteOffset % PAIR_BYTES).toBe(0);
    expect(seg.owners.byteOffset % PAIR_BYTES).toBe(0);
    const w = start<RemoteReply>(fixture("remote-worker.ts"), { handle: pool.handle }, pool);
    await w.next();
    // This thread's stack may hold pages from creating the pool; from empty, as the worker's is.
    seg.pages.drainHot();
    const mine = Array.from({ length: RUN }, () => pool.alloc(PS));
    const command: RemoteCommand = { op: "alloc", sizes: new Array(RUN).fill(PS) };
    w.worker.postMessage(command);
    const theirs = (await w.next()).addresses;
    const runOf = (pages: number[]) => new Set(pages.map((a) => Math.floor(a / (RUN * PS))));
    expect(runOf(mine).size).toBe(1);
    expect(runOf(theirs).size).toBe(1);
    expect([...runOf(mine)][0]).not.toBe([...runOf(theirs)][0]);
    expect(new Set([...mine, ...theirs]).size).toBe(2 * RUN);
    // The pairs of cache lines each worker's pages write in the state map and the owner map.
    const pairs = (pages: number[], base: number) =>
      new Set(pages.map((a) => Math.floor((base + a / PS) / PAIR_BYTES)));
    for (const base of [seg.pages.state.byteOffset, seg.owners.byteOffset]) {
      const a = pairs(mine, base);
      const b = pairs(theirs, base);
      expect(a.size).toBe(1);
      expect(b.size).toBe(1);
      expect([...a][0]).not.toBe([...b][0]);
    }
    pool.check();
    w.worker.postMessage({ op: "close" } satisfies RemoteCommand);
    await w.next();
    await w.exited;
  });

  it("the arena's own hot stack has no slots, whatever options a caller passes", () => {
    // Workers use their own stacks; a closed handle parks its stacks on this stack's count word,
    // which therefore must stay 0 (Segment.release).
    const pool = Mempool.create(8 * 2 ** 20, { hotPages: 64 } as never);
    const pages = pool.segments[0].pages;
    expect(pages.w[pages.mb + M_HOT_HIGH]).toBe(0);
    pool.close();
  });
});
