import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../src/index.js";
import { type Consumer, ConsumerKilledError, type OomEvent, OomKiller } from "../../src/reclaim/oom.js";
import { Reclaimer } from "../../src/reclaim/reclaimer.js";

function consumer(
  name: string,
  footprint: number,
  oomScoreAdj = 0,
): Consumer & { killed: string | null; size: number } {
  return {
    name,
    size: footprint,
    oomScoreAdj,
    killed: null,
    footprint() {
      return this.size;
    },
    kill(reason: string) {
      this.killed = reason;
      this.size = 0;
    },
  };
}

describe("the OOM killer", () => {
  it("kills the consumer with the highest badness and reports it", async () => {
    const oom = new OomKiller();
    const a = consumer("a", 100);
    const b = consumer("b", 900);
    const c = consumer("c", 300);
    for (const x of [a, b, c]) oom.register(x);
    const events: OomEvent[] = [];
    oom.on("oom", (e) => events.push(e));
    const e = await oom.kill("reclaim made no progress");
    expect(e?.victim).toBe("b");
    expect(b.killed).toBe("reclaim made no progress");
    expect(a.killed).toBeNull();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ victim: "b", footprint: 900 });
  });

  it("adjusts badness by oomScoreAdj in proportion to the total, and never picks -1000", async () => {
    const oom = new OomKiller();
    const big = consumer("big", 900, -1000);
    const small = consumer("small", 100, 500);
    oom.register(big);
    oom.register(small);
    expect(oom.select()?.name).toBe("small");
    await oom.kill("test");
    expect(oom.select()).toBeNull();
    expect(await oom.kill("test")).toBeNull();
    expect(big.killed).toBeNull();
  });

  it("a victim whose kill() throws is still reported, with the error, and the next one is killed", async () => {
    const oom = new OomKiller();
    const broken: Consumer = {
      name: "broken",
      oomScoreAdj: 0,
      footprint: () => 900,
      kill: async () => {
        throw new Error("terminate failed");
      },
    };
    const b = consumer("b", 300);
    const c = consumer("c", 100);
    for (const x of [broken, b, c]) oom.register(x);
    const events: OomEvent[] = [];
    oom.on("oom", (e) => events.push(e));
    const e = await oom.kill("reclaim made no progress");
    expect(e).toMatchObject({ victim: "b", footprint: 300 });
    expect(e?.error).toBeUndefined();
    expect(events).toEqual([
      expect.objectContaining({ victim: "broken", footprint: 900, error: "terminate failed" }),
      expect.objectContaining({ victim: "b" }),
    ]);
    expect(b.killed).toBe("reclaim made no progress");
    expect(c.killed).toBeNull();
    expect(oom.kills).toBe(1);
    expect(oom.failedKills).toBe(1);
    // The broken consumer is not chosen again: the next kill goes to c, then nobody is left.
    expect((await oom.kill("again"))?.victim).toBe("c");
    expect(await oom.kill("again")).toBeNull();
    expect(events).toHaveLength(3);
  });

  it("a reclaim whose only victim's kill() throws ends without a kill instead of failing", async () => {
    const reclaimer = new Reclaimer({ maxRounds: 2 });
    let kills = 0;
    reclaimer.registerConsumer({
      name: "stuck",
      oomScoreAdj: 0,
      footprint: () => 4096,
      kill: () => {
        kills++;
        throw new Error("cannot die");
      },
    });
    const events: OomEvent[] = [];
    reclaimer.on("oom", (e) => events.push(e));
    const r = await reclaimer.reclaim(4096);
    expect(r).toMatchObject({ freed: 0, killed: null });
    expect(kills).toBe(1);
    expect(events).toEqual([expect.objectContaining({ victim: "stuck", error: "cannot die" })]);
    expect(reclaimer.stats()).toMatchObject({ kills: 0, failedKills: 1 });
    // Asked again, it does not try the same consumer forever.
    expect((await reclaimer.reclaim(4096)).killed).toBeNull();
    expect(kills).toBe(1);
  });

  it("a consumer whose footprint throws or is no number is never chosen, and the others still are", async () => {
    const oom = new OomKiller();
    const throwing: Consumer = {
      name: "throwing",
      oomScoreAdj: 0,
      footprint: () => {
        throw new Error("pool gone");
      },
      kill: () => {},
    };
    const nan: Consumer = { name: "nan", oomScoreAdj: 0, footprint: () => Number.NaN, kill: () => {} };
    // With a NaN total every badness adjusted by a score other than 0 was NaN: nobody was chosen.
    const adjusted = consumer("adjusted", 100, 500);
    for (const x of [throwing, nan, adjusted]) oom.register(x);
    expect(oom.select()?.name).toBe("adjusted");
    const e = await oom.kill("test");
    expect(e).toMatchObject({ victim: "adjusted", footprint: 100 });
    expect(e?.badness).toBe(150);
    expect(await oom.kill("test")).toBeNull();
  });

  it("refuses a consumer without name, footprint() or kill(), registering nothing", async () => {
    const oom = new OomKiller();
    for (const bad of [
      null,
      { oomScoreAdj: 0, footprint: () => 1, kill: () => {} },
      { name: "x", oomScoreAdj: 0, kill: () => {} },
      { name: "x", oomScoreAdj: 0, footprint: () => 1 },
    ]) {
      expect(() => oom.register(bad as never)).toThrow(InvalidArgumentError);
    }
    expect(oom.select()).toBeNull();
    expect(await oom.kill("test")).toBeNull();
  });

  it("validates oomScoreAdj", () => {
    const oom = new OomKiller();
    expect(() => oom.register(consumer("x", 1, 1001))).toThrow(InvalidArgumentError);
    expect(() => oom.register(consumer("x", 1, -0.5))).toThrow(InvalidArgumentError);
  });

  it("has a typed error for using a killed consumer", () => {
    const e = new ConsumerKilledError("space-1", "oom");
    expect(e.code).toBe("EKILLED");
    expect(e.consumer).toBe("space-1");
  });
});
