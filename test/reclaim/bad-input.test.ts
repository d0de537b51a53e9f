import { describe, expect, it } from "vitest";
import {
  AddressSpace,
  AnonymousStore,
  InvalidArgumentError,
  Reclaimer,
  startReclaim,
} from "../../src/index.js";

/** A space holding one page: as a registered consumer, the OOM killer could choose it. */
async function holding(): Promise<AddressSpace> {
  const space = new AddressSpace({ frames: 64 });
  const v = space.map({ length: 4096, store: new AnonymousStore({ swap: false }) });
  await space.write(v, new Uint8Array([1]));
  return space;
}

describe("the reclaim layer refuses bad input and changes nothing", () => {
  it("addSpace with a bad oomScoreAdj, priority or name registers neither shrinker nor consumer", async () => {
    const reclaimer = new Reclaimer();
    const space = await holding();
    for (const options of [
      { name: "x", oomScoreAdj: 5000 },
      { name: "x", oomScoreAdj: 0.5 },
      { name: "x", priority: Number.NaN },
      { name: "" },
    ]) {
      expect(() => reclaimer.addSpace(space, options)).toThrow(InvalidArgumentError);
      expect(reclaimer.stats().shrinkers).toEqual([]);
      expect(reclaimer.oom.select()).toBeNull();
    }
    // The space can still join properly afterwards, once.
    reclaimer.addSpace(space, { name: "x" });
    expect(reclaimer.stats().shrinkers).toEqual(["page-cache:x"]);
    expect(reclaimer.oom.select()?.name).toBe("x");
    await space.close();
  });

  it("startReclaim with a bad oomScoreAdj installs nothing", async () => {
    const reclaimer = new Reclaimer();
    const space = await holding();
    expect(() => startReclaim(space, { reclaimer, name: "y", oomScoreAdj: -1001 })).toThrow(
      InvalidArgumentError,
    );
    expect(reclaimer.stats().shrinkers).toEqual([]);
    expect(reclaimer.oom.select()).toBeNull();
    await space.close();
  });
});

describe("shrinkers that misreport", () => {
  it("a scan that returns no number frees nothing known: reclaim goes on to the OOM killer, counters stay numbers", async () => {
    const reclaimer = new Reclaimer({ maxRounds: 2 });
    reclaimer.registerShrinker({
      name: "silent",
      count: () => 1 << 20,
      scan: () => undefined as unknown as number,
    });
    let killed = 0;
    reclaimer.registerConsumer({
      name: "c",
      oomScoreAdj: 0,
      footprint: () => 4096,
      kill: () => void killed++,
    });
    const r = await reclaimer.reclaim(8192);
    expect(r.freed).toBe(0);
    expect(r.killed?.victim).toBe("c");
    expect(killed).toBe(1);
    expect(reclaimer.stats().freed).toBe(0);
  });
});

describe("beforeAllocate", () => {
  it("refuses a frame count that is not a positive integer, reclaiming nothing", async () => {
    const reclaimer = new Reclaimer();
    let scans = 0;
    reclaimer.registerShrinker({
      name: "s",
      count: () => 1 << 20,
      scan: (b) => {
        scans++;
        return b;
      },
    });
    const zone = { free: () => 3, marks: { total: 64, min: 2, low: 4, high: 6 }, pageSize: 4096 };
    for (const frames of [-5, 0, 1.5, Number.NaN, "1" as unknown as number]) {
      await expect(reclaimer.beforeAllocate(zone, frames)).rejects.toThrow(InvalidArgumentError);
    }
    expect(scans).toBe(0);
    expect(reclaimer.stats().reclaims).toBe(0);
  });
});

describe("startReclaim twice on one space", () => {
  it("refuses the second while the first runs, changing nothing; after stop() a new one may start", async () => {
    const space = await holding();
    const first = new Reclaimer();
    const second = new Reclaimer();
    const fr = startReclaim(space, { reclaimer: first, name: "one" });
    expect(() => startReclaim(space, { reclaimer: second, name: "two" })).toThrow(InvalidArgumentError);
    expect(() => startReclaim(space, { reclaimer: first, name: "again" })).toThrow(InvalidArgumentError);
    expect(first.stats().shrinkers).toEqual(["page-cache:one"]);
    expect(second.stats().shrinkers).toEqual([]);
    fr.stop();
    startReclaim(space, { reclaimer: second, name: "two" });
    expect(second.stats().shrinkers).toEqual(["page-cache:two"]);
    await space.close();
  });
});

describe("a shrinker that throws", () => {
  it("is passed over and reported: the shrinkers after it still run, and so does the OOM killer", async () => {
    const reclaimer = new Reclaimer({ maxRounds: 2 });
    const reported: string[] = [];
    reclaimer.on("shrinker-error", (e: { shrinker: string }) => reported.push(e.shrinker));
    reclaimer.registerShrinker({
      name: "broken",
      priority: 1,
      count: () => 1 << 20,
      scan: () => {
        throw new Error("cache is broken");
      },
    });
    let left = 4096;
    reclaimer.registerShrinker({
      name: "good",
      priority: 2,
      count: () => left,
      scan: (bytes) => {
        const n = Math.min(bytes, left);
        left -= n;
        return n;
      },
    });
    const r = await reclaimer.reclaim(4096);
    expect(r.freed).toBe(4096);
    expect(reported).toEqual(["broken"]);
    reclaimer.registerConsumer({ name: "c", oomScoreAdj: 0, footprint: () => 4096, kill: () => {} });
    // Nothing left to free but the broken cache: reclaim ends in the OOM killer, not in its error.
    const r2 = await reclaimer.reclaim(4096);
    expect(r2.killed?.victim).toBe("c");
    expect(reclaimer.stats().errors).toBeGreaterThanOrEqual(2);
  });
});

describe("an async shrinker", () => {
  it("is reported as an error, its rejection too, instead of an unhandled rejection; reclaim goes on", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on("unhandledRejection", onUnhandled);
    try {
      const reclaimer = new Reclaimer({ maxRounds: 1 });
      const reported: unknown[] = [];
      reclaimer.on("shrinker-error", (e: { error: unknown }) => reported.push(e.error));
      reclaimer.registerShrinker({
        name: "async",
        count: () => 4096,
        scan: (async () => {
          throw new Error("evicting failed");
        }) as never,
      });
      reclaimer.registerConsumer({ name: "c", oomScoreAdj: 0, footprint: () => 4096, kill: () => {} });
      const r = await reclaimer.reclaim(4096);
      expect(r.freed).toBe(0);
      expect(r.killed?.victim).toBe("c");
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
      // Every call: the promise is refused, then its rejection arrives.
      const misuse = reported.filter((e) => e instanceof InvalidArgumentError);
      const rejected = reported.filter((e) => (e as Error).message === "evicting failed");
      expect(misuse.length).toBeGreaterThan(0);
      expect(rejected).toHaveLength(misuse.length);
      expect(reported).toHaveLength(2 * misuse.length);
      expect(reclaimer.stats().errors).toBe(reported.length);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });
});
