/**
 * close() with other calls running. Two closes at once each unmapped every mapping they saw, and
 * the second to reach a mapping failed with InvalidAddressError ("is not the start of a mapping"),
 * as did a close whose caller unmapped a mapping meanwhile; a mapping made while a close ran was
 * never unmapped, so its dirty pages were never written back. Calls made during a close now share
 * it, and it unmaps whatever is mapped until nothing is.
 */
import { describe, expect, it } from "vitest";
import { AddressSpace } from "../../src/index.js";
import { MemoryStore } from "./helpers.js";

const PS = 1024;

/** Anonymous-style memory (it has discard) whose discard waits for finish(): a close held there. */
class HeldDiscard extends MemoryStore {
  private held: (() => void)[] = [];

  async discard(): Promise<void> {
    await new Promise<void>((resolve) => this.held.push(resolve));
  }

  waiting(): number {
    return this.held.length;
  }

  finish(): void {
    for (const h of this.held.splice(0)) h();
  }
}

/** A space whose close() stops in the unmap of its first mapping until `gate.finish()`. */
async function closeHeldInFirstUnmap(space: AddressSpace) {
  const gate = new HeldDiscard("gate");
  // Mapped first: the B+ tree hands mappings to close() in address order.
  const v = space.map({ length: PS, store: gate });
  await space.write(v, new Uint8Array([1]));
  return gate;
}

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not reached in 10 s");
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

async function spaceWithDirtyMappings(n: number) {
  const space = new AddressSpace({ frames: 4, pageSize: PS });
  const stores: MemoryStore[] = [];
  const vs: number[] = [];
  for (let i = 0; i < n; i++) {
    stores.push(new MemoryStore(`m${i}`));
    vs.push(space.map({ length: 3 * PS + 1, store: stores[i] }));
    await space.write(vs[i] + 3 * PS, new Uint8Array([i + 1]));
  }
  return { space, stores, vs };
}

describe("close() beside other calls", () => {
  it("three closes at once all resolve, and every page reaches its store", async () => {
    const { space, stores } = await spaceWithDirtyMappings(5);
    await Promise.all([space.close(), space.close(), space.close()]);
    expect(space.stats()).toMatchObject({ mappings: 0, resident: 0, dirty: 0 });
    for (const [i, s] of stores.entries()) expect(s.data.get(3 * PS)?.[0]).toBe(i + 1);
    await space.close();
  });

  it("a close during which the caller unmaps a mapping resolves", async () => {
    const space = new AddressSpace({ frames: 4, pageSize: PS });
    const gate = await closeHeldInFirstUnmap(space);
    const v = space.map({ length: PS, store: new MemoryStore() });
    const closing = space.close();
    await until(() => gate.waiting() === 1);
    await space.unmap(v);
    gate.finish();
    await closing;
    expect(space.stats().mappings).toBe(0);
  });

  it("a mapping made while a close runs is unmapped too, its writes in its store", async () => {
    const space = new AddressSpace({ frames: 4, pageSize: PS });
    const gate = await closeHeldInFirstUnmap(space);
    const closing = space.close();
    await until(() => gate.waiting() === 1);
    const late = new MemoryStore("late");
    const v = space.map({ length: PS, store: late });
    await space.write(v + 10, new Uint8Array([77]));
    gate.finish();
    await closing;
    expect(space.stats()).toMatchObject({ mappings: 0, resident: 0, dirty: 0 });
    expect(late.data.get(0)?.[10]).toBe(77);
  });
});
