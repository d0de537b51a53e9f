import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../src/index.js";
import { type Consumer, ConsumerKilledError, type OomEvent, OomKiller } from "../../src/reclaim/oom.js";

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
