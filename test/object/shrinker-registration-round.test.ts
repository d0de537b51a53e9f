/**
 * Shrinkers registered or removed by a scan while a round runs (a cache made on demand, a
 * subsystem shutting down under memory pressure): the round asks each shrinker at most once, and
 * never one removed before its turn.
 */
import { describe, expect, it } from "vitest";
import { ShrinkerRegistry } from "../../src/object/shrinker.js";

describe("a shrink round", () => {
  it("asks no shrinker twice when a scan registers one that sorts before it", () => {
    // Regression (fixed): register() sorted the array the round iterated, so the shrinker that
    // registered the newcomer moved one place on and was asked again (asked: A, A, B).
    const registry = new ShrinkerRegistry();
    const asked: string[] = [];
    const make = (name: string, priority: number, onScan?: () => void) => ({
      name,
      priority,
      count: () => 100,
      scan: () => {
        asked.push(name);
        onScan?.();
        return 0;
      },
    });
    let registered = false;
    registry.register(
      make("A", 10, () => {
        if (!registered) registry.register(make("early", 1));
        registered = true;
      }),
    );
    registry.register(make("B", 20));
    const result = registry.shrink(1000);
    expect(result.asked).toEqual(["A", "B"]);
    expect(asked).toEqual(["A", "B"]);
    // The newcomer takes part from the next round on, in its place.
    asked.length = 0;
    registry.shrink(1000);
    expect(asked).toEqual(["early", "A", "B"]);
  });

  it("does not ask a shrinker that an earlier scan of the round removed", () => {
    const registry = new ShrinkerRegistry();
    const asked: string[] = [];
    let removeC = () => {};
    registry.register({
      name: "A",
      priority: 1,
      count: () => 100,
      scan: () => {
        asked.push("A");
        removeC();
        return 0;
      },
    });
    removeC = registry.register({
      name: "C",
      priority: 2,
      count: () => 100,
      scan: () => {
        asked.push("C");
        return 0;
      },
    });
    expect(registry.shrink(1000).asked).toEqual(["A"]);
    expect(asked).toEqual(["A"]);
    expect(registry.names).toEqual(["A"]);
  });
});
