import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../src/index.js";
import { mayAllocate, watermarks, zoneOf } from "../../src/page/watermarks.js";

describe("free-frame watermarks", () => {
  it("derives min < low < high from the size", () => {
    for (const total of [4, 16, 64, 1000, 262144]) {
      const w = watermarks(total);
      expect(w.min).toBeGreaterThanOrEqual(2);
      expect(w.min).toBeLessThan(w.low);
      expect(w.low).toBeLessThan(w.high);
      expect(w.high).toBeLessThanOrEqual(total);
    }
    expect(watermarks(6400)).toEqual({ total: 6400, min: 100, low: 132, high: 164 });
    expect(watermarks(256)).toEqual({ total: 256, min: 4, low: 20, high: 36 });
  });

  it("puts every free count in its zone", () => {
    const w = watermarks(1000, { min: 10, low: 20, high: 30 });
    expect(zoneOf(30, w)).toBe("ok");
    expect(zoneOf(20, w)).toBe("ok");
    expect(zoneOf(19, w)).toBe("background");
    expect(zoneOf(10, w)).toBe("background");
    expect(zoneOf(9, w)).toBe("direct");
    expect(zoneOf(1, w)).toBe("direct");
    expect(zoneOf(0, w)).toBe("critical");
  });

  it("keeps the frames below min for critical allocations", () => {
    const w = watermarks(1000, { min: 10, low: 20, high: 30 });
    expect(mayAllocate(11, w, false)).toBe(true);
    expect(mayAllocate(10, w, false)).toBe(false);
    expect(mayAllocate(1, w, true)).toBe(true);
    expect(mayAllocate(0, w, true)).toBe(false);
  });

  it("rejects low >= high, min >= low, high beyond the frames and bad numbers", () => {
    expect(() => watermarks(100, { min: 5, low: 10, high: 10 })).toThrow(InvalidArgumentError);
    expect(() => watermarks(100, { min: 10, low: 10, high: 20 })).toThrow(InvalidArgumentError);
    expect(() => watermarks(100, { min: 5, low: 10, high: 101 })).toThrow(InvalidArgumentError);
    expect(() => watermarks(100, { min: -1, low: 10, high: 20 })).toThrow(InvalidArgumentError);
    expect(() => watermarks(100, { min: 1.5, low: 10, high: 20 })).toThrow(InvalidArgumentError);
    expect(() => watermarks(3)).toThrow(InvalidArgumentError);
  });

  it("keeps the defaults of low and high within the frames for a min given near the total", () => {
    // Regression (fixed): watermarks(100, { min: 95 }) was refused as 'high 100: must be above low
    // (118)', a low the caller never gave, past the frames.
    expect(watermarks(100, { min: 95 })).toEqual({ total: 100, min: 95, low: 99, high: 100 });
    expect(watermarks(100, { min: 90, low: 95 })).toEqual({ total: 100, min: 90, low: 95, high: 100 });
    // No room left: the error names what the caller gave.
    for (const [options, field] of [
      [{ min: 99 }, "min"],
      [{ min: 90, low: 100 }, "low"],
    ] as const) {
      let caught: unknown;
      try {
        watermarks(100, options);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(InvalidArgumentError);
      expect((caught as Error).message).toContain(field);
      expect((caught as Error).message).not.toMatch(/118|119/);
    }
  });
});
