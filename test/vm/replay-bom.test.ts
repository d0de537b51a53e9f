/** A trace saved by a Windows tool may start with a UTF-8 byte order mark; it is not line 1's text. */
import { describe, expect, it } from "vitest";
import { parseTrace } from "../../src/vm/replay.js";

describe("trace text with a byte order mark", () => {
  it("skips a UTF-8 byte order mark before line 1, and only there", () => {
    const t = parseTrace(Buffer.from("\ufeff12\r\n7\r\n12\r\n"));
    expect([...t.refs]).toEqual([0, 1, 0]);
    expect(() => parseTrace(Buffer.from("1\n\ufeff2\n"))).toThrow(/line 2/);
  });
});
