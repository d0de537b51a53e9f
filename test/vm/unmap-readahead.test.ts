/**
 * An unmap that begins while a fault of the mapping waits for its frame (a dirty victim being
 * written back) knows the faulting page, which is pending, but not the read-ahead pages the fault
 * adds once it has its frame. Those must not come in for a mapping that is gone: they would stay
 * resident with no mapping over them (check() fails, the frame is lost to the space until close,
 * and a later mapping of the store would be served those old bytes).
 */
import { describe, expect, it } from "vitest";
import { AddressSpace } from "../../src/index.js";
import { MemoryStore } from "./helpers.js";

const PS = 1024;

/** A MemoryStore whose writes wait while `holding`, until `finish()`. */
class HeldWrites extends MemoryStore {
  private held: (() => void)[] = [];
  holding = false;

  override async writePage(offset: number, data: Uint8Array): Promise<void> {
    if (this.holding) await new Promise<void>((resolve) => this.held.push(resolve));
    return super.writePage(offset, data);
  }

  waiting(): number {
    return this.held.length;
  }

  finish(): void {
    this.holding = false;
    for (const h of this.held.splice(0)) h();
  }
}

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not reached in 10 s");
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

describe("unmap while a fault of the mapping waits for a victim's writeback", () => {
  it("brings in no read-ahead page of the removed mapping", async () => {
    const victims = new HeldWrites("victims");
    const store = new MemoryStore("sequential");
    // 4 frames: read-ahead windows of 1 page (at most frames / 4).
    const space = new AddressSpace({ frames: 4, pageSize: PS, policy: "lru" });
    const a = space.map({ length: 4 * PS, store: victims, hint: "random" });
    const b = space.map({ length: 4 * PS, store, hint: "sequential" });
    await space.write(a, new Uint8Array([1])); // the least recent page, dirty: the next victim
    for (let i = 1; i < 4; i++) await space.read(a + i * PS, 1);
    victims.holding = true;
    const read = space.read(b, 1);
    await until(() => victims.waiting() === 1);
    const unmapped = space.unmap(b);
    victims.finish();
    await read;
    await unmapped;
    space.check();
    expect(space.stats()).toMatchObject({ mappings: 1, resident: 3 });
    await space.close();
  });
});
