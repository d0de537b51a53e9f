/**
 * Reclaim writes back the added spaces' dirty pages one space after the other, awaiting each. A
 * space detached meanwhile (the function addSpace returned, startReclaim's stop()) was still
 * written back from the list taken before: a writeback its owner had withdrawn it from.
 */
import { describe, expect, it } from "vitest";
import { AddressSpace, Reclaimer } from "../../src/index.js";
import { MemoryStore } from "../vm/helpers.js";

const PS = 4096;

/** A store whose writes wait until release() once hold() was called. */
class HeldStore extends MemoryStore {
  private held: Promise<void> | null = null;
  private open: () => void = () => {};
  holdWrites(): void {
    this.held = new Promise((resolve) => {
      this.open = resolve;
    });
  }
  releaseWrites(): void {
    this.held = null;
    this.open();
  }
  override async writePage(offset: number, data: Uint8Array): Promise<void> {
    if (this.held !== null) await this.held;
    return super.writePage(offset, data);
  }
}

describe("reclaim's writeback of dirty pages", () => {
  it("passes over a space detached while another space's writeback was under way", async () => {
    const a = new AddressSpace({ frames: 16 });
    const b = new AddressSpace({ frames: 16 });
    const storeA = new HeldStore("a");
    const storeB = new MemoryStore("b");
    const va = a.map({ length: 4 * PS, store: storeA });
    const vb = b.map({ length: 4 * PS, store: storeB });
    await a.write(va, new Uint8Array([1]));
    for (let p = 0; p < 4; p++) await b.write(vb + p * PS, new Uint8Array([2]));
    const reclaimer = new Reclaimer({ maxRounds: 1 });
    reclaimer.addSpace(a, { name: "a", oomScoreAdj: -1000 });
    const detachB = reclaimer.addSpace(b, { name: "b", oomScoreAdj: -1000 });
    storeA.holdWrites();
    // Two pages asked: a's one dirty page is not enough, so b would be next.
    const reclaiming = reclaimer.reclaim(2 * PS);
    await new Promise((resolve) => setImmediate(resolve));
    detachB();
    const writesB = storeB.writes;
    storeA.releaseWrites();
    await reclaiming;
    expect(storeB.writes).toBe(writesB);
    expect(b.dirtyPages()).toBe(4);
    expect(reclaimer.stats().errors).toBe(0);
    expect(storeA.writes).toBeGreaterThan(0);
    await a.close();
    await b.close();
  });
});
