/**
 * Page numbers longer than a double holds exactly (64-bit keys and addresses) are still page
 * numbers: each distinct one is a distinct page, and leading zeros change nothing.
 */
import { describe, expect, it } from "vitest";
import { parseTrace, replay } from "../../src/vm/replay.js";

describe("trace page numbers of any length", () => {
  it("keeps 64-bit numbers that round to the same double apart", () => {
    // Both are 1.8446744073709552e19 as doubles.
    const t = parseTrace(Buffer.from("18446744073709551615\n18446744073709551614\n18446744073709551615\n"));
    expect(t.distinct).toBe(2);
    expect([...t.refs]).toEqual([0, 1, 0]);
    expect(replay(t, "lru", 1)).toMatchObject({ references: 3, misses: 3 });
    expect(replay(t, "lru", 2)).toMatchObject({ references: 3, misses: 2 });
  });

  it("reads leading zeros as the same number, short or long", () => {
    const t = parseTrace(
      Buffer.from("7\n0000000000000000000007\n9007199254740993\n09007199254740993\r\n9007199254740992\n"),
    );
    expect([...t.refs]).toEqual([0, 0, 1, 1, 2]);
    expect(t.distinct).toBe(3);
  });

  it("still refuses a line with two numbers or a sign", () => {
    expect(() => parseTrace(Buffer.from("18446744073709551615 1\n"))).toThrow(/line 1: more than one/);
    expect(() => parseTrace(Buffer.from("1\n-18446744073709551615\n"))).toThrow(/line 2/);
  });
});
