import { describe, expect, it } from "vitest";
import { InvalidArgumentError, OutOfMemoryError } from "../../src/errors.js";
import { AddressSpace, PageAllocator } from "../../src/index.js";
import { watermarks } from "../../src/page/watermarks.js";
import { ManualClock } from "../../src/reclaim/clock.js";
import { startReclaim } from "../../src/reclaim/frame-reclaim.js";
import { type FrameZone, Reclaimer } from "../../src/reclaim/reclaimer.js";
import { MemoryStore } from "../vm/helpers.js";

const PS = 4096;

function fill(page: number): number {
  return (page * 37 + 11) & 0xff;
}

/** A store holding `pages` pages, page p filled with fill(p). */
function prefilled(pages: number): MemoryStore {
  const store = new MemoryStore();
  for (let p = 0; p < pages; p++) store.data.set(p * PS, new Uint8Array(PS).fill(fill(p)));
  return store;
}

describe("watermark reclaim in the fault path", () => {
  it("a fault at min reclaims directly first; ordinary faults never take the frames below min", async () => {
    const space = new AddressSpace({ frames: 64 });
    const v = space.map({ length: 256 * PS, store: prefilled(256) });
    const reclaimer = new Reclaimer();
    const fr = startReclaim(space, {
      reclaimer,
      name: "a",
      marks: { min: 8, low: 12, high: 16 },
      clock: new ManualClock(),
    });
    let lowest = space.freeFrames();
    for (let p = 0; p < 256; p++) {
      const b = await space.read(v + p * PS, PS);
      expect(b[0]).toBe(fill(p));
      expect(b[PS - 1]).toBe(fill(p));
      lowest = Math.min(lowest, space.freeFrames());
    }
    expect(lowest).toBeGreaterThan(8);
    const s = fr.stats();
    expect(s.direct).toBeGreaterThan(0);
    expect(s.directFreed + s.backgroundFreed).toBeGreaterThan(0);
    expect(reclaimer.stats().kills).toBe(0);
    space.check();
    await space.close();
  });

  it("below low a fault wakes background reclaim, which frees frames up to high", async () => {
    const space = new AddressSpace({ frames: 64 });
    const v = space.map({ length: 256 * PS, store: prefilled(256), hint: "random" });
    const reclaimer = new Reclaimer();
    const fr = startReclaim(space, {
      reclaimer,
      name: "a",
      marks: { min: 4, low: 24, high: 40 },
      clock: new ManualClock(),
    });
    for (let p = 0; p < 41; p++) await space.read(v + p * PS, 1);
    expect(space.freeFrames()).toBe(23);
    await space.read(v + 41 * PS, 1);
    await fr.settled();
    expect(fr.stats().background).toBeGreaterThan(0);
    // Reclaimed up to high before the fault took its frame.
    expect(space.freeFrames()).toBeGreaterThanOrEqual(39);
    expect(fr.stats().direct).toBe(0);
    await space.close();
  });

  it("background reclaim also runs on its timer", async () => {
    const space = new AddressSpace({ frames: 64 });
    const v = space.map({ length: 64 * PS, store: prefilled(64), hint: "random" });
    const reclaimer = new Reclaimer();
    const clock = new ManualClock();
    const fr = startReclaim(space, {
      reclaimer,
      name: "a",
      marks: { min: 4, low: 24, high: 40 },
      clock,
      interval: 50,
    });
    // Pages come in without the gate (a prefetch through the same space is still a fault, so
    // detach the gate for the setup and put the space under pressure by hand).
    fr.stop();
    for (let p = 0; p < 50; p++) await space.read(v + p * PS, 1);
    expect(space.freeFrames()).toBe(14);
    const fr2 = startReclaim(space, {
      reclaimer,
      name: "b",
      marks: { min: 4, low: 24, high: 40 },
      clock,
      interval: 50,
    });
    await clock.advance(49);
    expect(space.freeFrames()).toBe(14);
    await clock.advance(1);
    await fr2.settled();
    expect(space.freeFrames()).toBeGreaterThanOrEqual(40);
    fr2.stop();
    await space.close();
  });

  it("with every page dirty, reclaim frees nothing, faults evict their own pages, nothing is killed or lost", async () => {
    const space = new AddressSpace({ frames: 32 });
    const store = new MemoryStore();
    const v = space.map({ length: 128 * PS, store });
    const reclaimer = new Reclaimer({ maxRounds: 2 });
    const fr = startReclaim(space, {
      reclaimer,
      name: "w",
      marks: { min: 4, low: 6, high: 8 },
      clock: new ManualClock(),
    });
    for (let p = 0; p < 128; p++) await space.write(v + p * PS, new Uint8Array(PS).fill(fill(p)));
    expect(reclaimer.stats().kills).toBe(0);
    expect(fr.stats().direct).toBeGreaterThan(0);
    expect(space.freeFrames()).toBeGreaterThan(4);
    await space.sync();
    for (let p = 0; p < 128; p++) expect(store.data.get(p * PS)?.[PS - 1]).toBe(fill(p));
    await space.close();
  });

  it("a space with no pages of its own at min fails with a watermark OutOfMemoryError, state unchanged", async () => {
    const pages = new PageAllocator({ bytes: 40 * PS });
    const hog: number[] = [];
    while (pages.freePages > 6) hog.push(pages.alloc(PS));
    const space = new AddressSpace({ frames: 16, pages });
    const v = space.map({ length: 16 * PS, store: new MemoryStore() });
    const zone: FrameZone = {
      free: () => pages.freePages,
      marks: watermarks(40, { min: 6, low: 8, high: 10 }),
      pageSize: PS,
    };
    const fr = startReclaim(space, {
      reclaimer: new Reclaimer({ maxRounds: 1 }),
      name: "late",
      zone,
      clock: new ManualClock(),
    });
    const before = space.stats();
    const e = await space.read(v, 1).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(OutOfMemoryError);
    expect((e as OutOfMemoryError).reason).toBe("watermark");
    expect(pages.freePages).toBe(6);
    expect(space.stats().resident).toBe(before.resident);
    for (const a of hog.splice(0, 4)) pages.free(a);
    expect((await space.read(v, 1))[0]).toBe(0);
    fr.stop();
    await space.close();
  });
});

/** A reclaimer whose direct reclaim gives its verdict only once `late` resolves (a slow shrinker). */
class LateReclaimer extends Reclaimer {
  late: Promise<unknown> = Promise.resolve();
  override async directReclaim(zone: FrameZone, frames: number, critical = false, mayKill = true) {
    const r = await super.directReclaim(zone, frames, critical, mayKill);
    await this.late;
    return r;
  }
}

describe("a fault refused a fresh frame when it began", () => {
  it("does not fail once the frames that refusal counted are free: the pages unmapped meanwhile", async () => {
    // The service's MAP frames: 6, min 2. Three dirty pages of A hold frames, so a fault on B is
    // refused a fresh frame (reclaim finds nothing clean); A is unmapped before the verdict comes:
    // every frame is free then, and none holds a page to reuse. It failed with "free frames are
    // at the min watermark", found by the service's pipelines test with 6 MAP frames.
    const space = new AddressSpace({ frames: 6 });
    const reclaimer = new LateReclaimer();
    startReclaim(space, {
      reclaimer,
      name: "maps",
      marks: { min: 2, low: 3, high: 4 },
      clock: new ManualClock(),
    });
    const a = space.map({ length: 4 * PS, store: new MemoryStore("a"), hint: "random" });
    const b = space.map({ length: 4 * PS, store: prefilled(4), hint: "random" });
    for (let p = 0; p < 4; p++) await space.write(a + p * PS, new Uint8Array(PS).fill(1));
    expect(space.freeFrames()).toBe(3);
    let unmap: () => void = () => {};
    reclaimer.late = new Promise<void>((resolve) => {
      unmap = () => void space.unmap(a).then(resolve);
    });
    const read = space.read(b + 2 * PS, 1);
    unmap();
    expect((await read)[0]).toBe(fill(2));
    expect(space.freeFrames()).toBe(5);
    expect(reclaimer.stats().kills).toBe(0);
    space.check();
    await space.close();
  });
});

/**
 * A store whose writeback needs a page of its own (a journal entry) from the same page layer the
 * frames come from: the case where reclaim could deadlock on itself.
 */
class JournalStore extends MemoryStore {
  journaled = 0;
  /** Fewest free pages seen right after taking a journal page. */
  lowest = Number.POSITIVE_INFINITY;
  constructor(
    private readonly pages: PageAllocator,
    private readonly reclaimer: Reclaimer,
    private readonly zone: FrameZone,
    private readonly critical: boolean,
  ) {
    super("journal");
  }

  /** One journal entry at a time, as on a log device: the reserve covers one writer, not many. */
  private tail: Promise<unknown> = Promise.resolve();

  override writePage(offset: number, data: Uint8Array): Promise<void> {
    const run = this.tail.then(() => this.journal(offset, data));
    this.tail = run.catch(() => {});
    return run;
  }

  private async journal(offset: number, data: Uint8Array): Promise<void> {
    if (!(await this.reclaimer.beforeAllocate(this.zone, 1, this.critical))) {
      throw new OutOfMemoryError(PS, 0, this.pages.freeBytes, "watermark", "no page for the journal");
    }
    const entry = this.pages.alloc(PS);
    this.lowest = Math.min(this.lowest, this.pages.freePages);
    this.pages.memory.set(data.subarray(0, Math.min(data.length, PS)), entry);
    await super.writePage(offset, this.pages.memory.slice(entry, entry + data.length));
    this.pages.free(entry);
    this.journaled++;
  }
}

async function journalRun(critical: boolean) {
  const pages = new PageAllocator({ bytes: 80 * PS });
  const total = pages.freePages;
  const zone: FrameZone = {
    free: () => pages.freePages,
    marks: watermarks(total, { min: 6, low: 8, high: 10 }),
    pageSize: PS,
  };
  const reclaimer = new Reclaimer({ maxRounds: 2 });
  const store = new JournalStore(pages, reclaimer, zone, critical);
  const clock = new ManualClock();
  // Every page the writer touches is dirty: reclaim finds nothing clean, so the only way forward
  // is eviction, whose writeback needs a journal page while free pages sit at min.
  const space = new AddressSpace({ frames: total, pages });
  const v = space.map({ length: 256 * PS, store });
  startReclaim(space, { reclaimer, name: "writer", zone, clock });
  let error: unknown = null;
  try {
    for (let p = 0; p < 256; p++) await space.write(v + p * PS, new Uint8Array(PS).fill(fill(p)));
    await space.sync();
  } catch (e) {
    error = e;
  }
  return { store, reclaimer, error, space, pages, zone };
}

describe("reclaim when writeback itself needs memory", () => {
  it("writeback's own allocations use the reserve below min: no deadlock, no kill, nothing lost", async () => {
    const { store, reclaimer, error, space, pages, zone } = await journalRun(true);
    expect(error).toBeNull();
    expect(reclaimer.stats().kills).toBe(0);
    expect(store.journaled).toBeGreaterThanOrEqual(256);
    // The journal pages came from the reserve below min, which ordinary faults never touch.
    expect(store.lowest).toBeLessThanOrEqual(zone.marks.min);
    for (let p = 0; p < 256; p++) expect(store.data.get(p * PS)?.[0]).toBe(fill(p));
    expect(pages.freePages).toBeGreaterThan(zone.marks.min);
    await space.close();
  });

  it("without the reserve the same writeback cannot get its page (the failure the reserve prevents)", async () => {
    const { reclaimer, error } = await journalRun(false);
    expect(error).not.toBeNull();
    expect(reclaimer.stats().kills).toBe(1);
  });
});

describe("bad arguments", () => {
  it("startReclaim refuses a missing reclaimer, an empty name and a bad interval, installing nothing", async () => {
    const space = new AddressSpace({ frames: 16 });
    const v = space.map({ length: 4 * PS, store: new MemoryStore() });
    const reclaimer = new Reclaimer();
    for (const bad of [
      { reclaimer: {} as Reclaimer, name: "a" },
      { reclaimer, name: "" },
      { reclaimer, name: "a", interval: 0 },
      { reclaimer, name: "a", interval: Number.NaN },
      { reclaimer, name: "a", marks: { min: 8, low: 4, high: 12 } },
    ]) {
      expect(() => startReclaim(space, bad)).toThrow(InvalidArgumentError);
    }
    expect(reclaimer.stats().shrinkers).toEqual([]);
    expect((await space.read(v, 1))[0]).toBe(0);
    await space.close();
  });
});
