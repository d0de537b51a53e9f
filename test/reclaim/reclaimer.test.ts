import { describe, expect, it } from "vitest";
import { AddressSpace, AnonymousStore, OutOfMemoryError, PageAllocator } from "../../src/index.js";
import { ConsumerKilledError, type OomEvent } from "../../src/reclaim/oom.js";
import { Reclaimer } from "../../src/reclaim/reclaimer.js";

const PS = 4096;

/** Three address spaces drawing frames from one small page layer, anonymous memory without swap. */
function scene() {
  const pages = new PageAllocator({ bytes: 160 * PS, hotPages: 0 });
  const mk = (frames: number) => new AddressSpace({ frames, pages });
  const a = mk(40);
  const b = mk(40);
  const grower = mk(1000);
  const store = () => new AnonymousStore({ swap: false });
  const va = a.map({ length: 32 * PS, store: store() });
  const vb = b.map({ length: 32 * PS, store: store() });
  const vg = grower.map({ length: 1000 * PS, store: store() });
  return { pages, a, b, grower, va, vb, vg };
}

async function fill(space: AddressSpace, v: number, pages: number, tag: number): Promise<void> {
  for (let i = 0; i < pages; i++) await space.write(v + i * PS, new Uint8Array(PS).fill((tag + i) & 0xff));
}

async function verify(space: AddressSpace, v: number, pages: number, tag: number): Promise<void> {
  for (let i = 0; i < pages; i++) {
    const got = await space.read(v + i * PS, PS);
    expect(got[0], `page ${i}`).toBe((tag + i) & 0xff);
    expect(got[PS - 1], `page ${i}`).toBe((tag + i) & 0xff);
  }
}

/** The grower writes new pages until the page layer is exhausted; returns the OOM it hit. */
async function growUntilOom(space: AddressSpace, v: number): Promise<OutOfMemoryError> {
  for (let i = 0; i < 1000; i++) {
    try {
      await space.write(v + i * PS, new Uint8Array(PS).fill(9));
    } catch (e) {
      if (e instanceof OutOfMemoryError) return e;
      throw e;
    }
  }
  throw new Error("never ran out");
}

describe("reclaim and the OOM killer over address spaces", () => {
  it("kills the consumer that grows without bound; the other two keep running and lose nothing", async () => {
    const { a, b, grower, va, vb, vg } = scene();
    await fill(a, va, 32, 10);
    await fill(b, vb, 32, 20);
    const reclaimer = new Reclaimer({ maxRounds: 2 });
    reclaimer.addSpace(a, { name: "a" });
    reclaimer.addSpace(b, { name: "b" });
    reclaimer.addSpace(grower, { name: "grower" });
    const events: OomEvent[] = [];
    reclaimer.on("oom", (e: OomEvent) => events.push(e));
    await growUntilOom(grower, vg);
    // Everything resident is dirty (no swap to write it to): shrinkers free nothing, so reclaim
    // ends in the OOM killer, which picks the biggest consumer.
    const r = await reclaimer.reclaim(8 * PS);
    expect(r.freed).toBe(0);
    expect(r.killed?.victim).toBe("grower");
    expect(events).toHaveLength(1);
    expect(events[0].reason).toMatch(/no progress/);
    await expect(grower.read(vg, 1)).rejects.toBeInstanceOf(ConsumerKilledError);
    // The survivors' dirty data is intact, and they can use the frames the victim gave back.
    await verify(a, va, 32, 10);
    await verify(b, vb, 32, 20);
    await fill(a, va, 32, 30);
    await verify(a, va, 32, 30);
    a.check();
    b.check();
  });

  it("never chooses a consumer with oomScoreAdj -1000", async () => {
    const { a, b, grower, va, vb, vg } = scene();
    await fill(a, va, 32, 1);
    await fill(b, vb, 20, 2);
    const reclaimer = new Reclaimer({ maxRounds: 1 });
    reclaimer.addSpace(a, { name: "a" });
    reclaimer.addSpace(b, { name: "b" });
    reclaimer.addSpace(grower, { name: "grower", oomScoreAdj: -1000 });
    await growUntilOom(grower, vg);
    const r = await reclaimer.reclaim(PS);
    expect(r.killed?.victim).toBe("a");
    await expect(a.read(va, 1)).rejects.toBeInstanceOf(ConsumerKilledError);
    await verify(b, vb, 20, 2);
    expect((await grower.read(vg, 1))[0]).toBe(9);
  });

  it("frees clean page cache first, in eviction order, and kills nobody when that suffices", async () => {
    const { a, b, va, vb } = scene();
    await fill(a, va, 32, 1);
    await b.read(vb, 32 * PS); // clean pages: never written
    const reclaimer = new Reclaimer();
    reclaimer.addSpace(a, { name: "a" });
    reclaimer.addSpace(b, { name: "b" });
    const before = b.stats().resident;
    const r = await reclaimer.reclaim(10 * PS);
    expect(r.killed).toBeNull();
    expect(r.freed).toBeGreaterThanOrEqual(10 * PS);
    expect(b.stats().resident).toBe(before - 10);
    await verify(a, va, 32, 1);
    expect(reclaimer.stats().kills).toBe(0);
  });

  it("validates its arguments", async () => {
    expect(() => new Reclaimer({ maxRounds: 0 })).toThrow();
    await expect(new Reclaimer().reclaim(0)).rejects.toThrow();
  });
});
