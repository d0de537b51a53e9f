/**
 * A read-ahead batch through a store without readPages (the Store interface makes it optional,
 * so users' own stores often lack it) is one readPage per page, all started together. When one
 * of them fails, the fault fails and its frames go back to the page layer; the other reads of the
 * batch may still be running, writing into those frames. They must be over before the frames go
 * back, or their bytes land in whatever page the frame holds next (here: another page of the same
 * space, faulted in right after the failure).
 */
import { describe, expect, it } from "vitest";
import { AddressSpace, type Store, StoreError } from "../../src/index.js";

const PS = 1024;

/**
 * While failPage0: page 0 fails at once, page 1's read waits for `finish()`. Page 1 reads as 0xbb,
 * page p as p.
 */
class SlowNeighbourStore implements Store {
  readonly description = "test store (page 0 fails, page 1 slow)";
  private waiting: (() => void)[] = [];
  failPage0 = true;

  async readPage(offset: number, into: Uint8Array): Promise<void> {
    if (offset === 0 && this.failPage0) throw new Error("injected read failure of page 0");
    if (offset === PS && this.failPage0) await new Promise<void>((resolve) => this.waiting.push(resolve));
    into.fill(offset === PS ? 0xbb : (offset / PS) & 0xff);
  }

  async writePage(): Promise<void> {}

  async close(): Promise<void> {}

  pending(): number {
    return this.waiting.length;
  }

  finish(): void {
    for (const w of this.waiting.splice(0)) w();
  }
}

describe("a read-ahead batch with a failed page", () => {
  it("its other reads end before their frames are reused: a page faulted in after the failure keeps its bytes", async () => {
    const store = new SlowNeighbourStore();
    const space = new AddressSpace({ frames: 4, pageSize: PS, policy: "lru" });
    const v = space.map({ length: 8 * PS, store, hint: "sequential" });
    const failed = space.read(v, 1);
    // The batch is page 0 and page 1 (read-ahead); page 1's read is held.
    const deadline = Date.now() + 10_000;
    while (store.pending() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    expect(store.pending()).toBe(1);
    const settled = failed.then(
      () => "resolved",
      (e) => e,
    );
    // Either the fault waits for page 1's read (the fix), or it failed already and gave its frames
    // back; then a page faulted in now may get page 1's frame.
    const raced = await Promise.race([settled, new Promise((r) => setTimeout(() => r("waiting"), 50))]);
    let other: Promise<Uint8Array> | undefined;
    if (raced !== "waiting") {
      other = (async () => {
        for (let p = 5; p < 8; p++) await space.read(v + p * PS, PS);
        return space.read(v + 5 * PS, PS);
      })();
      await other;
    }
    store.finish();
    expect(await settled).toBeInstanceOf(StoreError);
    await new Promise((r) => setTimeout(r, 1));
    for (let p = 5; p < 8; p++) {
      const got = await space.read(v + p * PS, PS);
      expect(got.every((x) => x === p)).toBe(true);
    }
    expect(space.stats().resident).toBeLessThanOrEqual(4);
    space.check();
    store.failPage0 = false;
    expect((await space.read(v + PS, 1))[0]).toBe(0xbb);
    await space.close();
  });
});
