/**
 * A worker whose hot stack is empty refills it with a whole aligned run of 64 pages (page/buddy.ts
 * takeHotRun; 64 is the default hot stack of a 64 MiB pool): the single pages of two workers then share no 64-byte line of the page state map
 * or of the pool's owner map, which two cores would otherwise bounce between them.
 */
import { describe, expect, it } from "vitest";
import { Mempool } from "../../src/index.js";
import type { RemoteCommand, RemoteReply } from "./fixtures/remote-worker.js";
import { fixture, start } from "./helpers.js";

const PS = 4096;
const RUN = 64 * PS;

describe("hot runs", () => {
  it("each worker's first 64 single pages fill one aligned 64-page run of its own", async () => {
    const pool = Mempool.create(64 * 2 ** 20);
    const w = start<RemoteReply>(fixture("remote-worker.ts"), { handle: pool.handle }, pool);
    await w.next();
    // This thread's stack may hold pages from creating the pool; from empty, as the worker's is.
    pool.segments[0].pages.drainHot();
    const mine = Array.from({ length: 64 }, () => pool.alloc(PS));
    const command: RemoteCommand = { op: "alloc", sizes: new Array(64).fill(PS) };
    w.worker.postMessage(command);
    const theirs = (await w.next()).addresses;
    const runOf = (pages: number[]) => new Set(pages.map((a) => Math.floor(a / RUN)));
    expect(runOf(mine).size).toBe(1);
    expect(runOf(theirs).size).toBe(1);
    expect([...runOf(mine)][0]).not.toBe([...runOf(theirs)][0]);
    expect(new Set([...mine, ...theirs]).size).toBe(128);
    pool.check();
    w.worker.postMessage({ op: "close" } satisfies RemoteCommand);
    await w.next();
    await w.exited;
  });
});
