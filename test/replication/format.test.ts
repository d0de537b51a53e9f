import { describe, expect, it } from "vitest";
import {
  BatchBuilder,
  batchEntrySize,
  check,
  decode,
  encodeAlloc,
  encodeEnd,
  encodeFree,
  encodeMap,
  HEADER,
  RecordType,
  resync,
  walk,
} from "../../src/replication/format.js";

describe("record format", () => {
  it("a batch of entries copied from shared memory, handles repeated and alternating, decodes entry by entry", () => {
    const memory = new SharedArrayBuffer(4 * 4096);
    const bytes = new Uint8Array(memory);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + 3) & 0xff;
    const entries: [string, number, number, number, number][] = [
      ["1000.aa", 0, 8, 0 + 8, 4088],
      ["1000.aa", 1, 0, 4096, 4096],
      ["1000.aa", 2, 16, 8192 + 16, 8],
      ["2000.bbbb", 0, 0, 12288, 100],
      ["1000.aa", 3, 24, 12288 + 24, 1],
    ];
    const b = new BatchBuilder(entries.reduce((a, [h, , , , n]) => a + batchEntrySize(h, n), 0));
    for (const [h, p, at, from, n] of entries) b.addFrom(h, p, at, memory, from, n);
    const seen: { handle: string; page: number; at: number; bytes: number[] }[] = [];
    const res = walk(b.finish(9), 0, (e) => {
      if (e.record.type !== RecordType.BATCH) throw new Error("not a batch");
      for (const p of e.record.pages)
        seen.push({ handle: p.handle, page: p.page, at: p.at, bytes: [...p.bytes] });
    });
    expect(res.bad).toBeNull();
    expect(seen).toEqual(
      entries.map(([handle, page, at, from, n]) => ({
        handle,
        page,
        at,
        bytes: [...bytes.subarray(from, from + n)],
      })),
    );
  });

  it("every record type round-trips with its seq", () => {
    const page = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    const b = new BatchBuilder(batchEntrySize("h1", 300) + batchEntrySize("h2", 1));
    b.add("h1", 7, 100, page);
    b.add("h2", 0, 0, Uint8Array.of(9));
    const recs = [
      encodeAlloc(1, { handle: "ab.01", owner: "alice", size: 2 ** 40, align: 4096 }),
      encodeFree(2, RecordType.FREE, "ab.01"),
      encodeMap(3, {
        handle: "m.1",
        owner: "bob",
        length: 65536,
        store: "file",
        name: "f.bin",
        hint: "random",
      }),
      encodeFree(4, RecordType.UNMAP, "m.1"),
      b.finish(5),
      encodeEnd(6, 5),
    ];
    const log = Buffer.concat(recs);
    const seen: unknown[] = [];
    const res = walk(log, 0, (e) => {
      const r = e.record;
      const plain =
        r.type === RecordType.BATCH
          ? { ...r, pages: r.pages.map((p) => ({ ...p, bytes: Uint8Array.from(p.bytes) })) }
          : r;
      seen.push([e.seq, plain]);
    });
    expect(res.bad).toBeNull();
    expect(seen).toEqual([
      [1, { type: 1, handle: "ab.01", owner: "alice", size: 2 ** 40, align: 4096 }],
      [2, { type: 2, handle: "ab.01" }],
      [
        3,
        { type: 3, handle: "m.1", owner: "bob", length: 65536, store: "file", name: "f.bin", hint: "random" },
      ],
      [4, { type: 4, handle: "m.1" }],
      [
        5,
        {
          type: 5,
          pages: [
            { handle: "h1", page: 7, at: 100, bytes: page },
            { handle: "h2", page: 0, at: 0, bytes: Uint8Array.of(9) },
          ],
        },
      ],
      [6, { type: 6, count: 5 }],
    ]);
  });

  it("detects a flipped bit anywhere, a short record, and finds the next good one", () => {
    const a = encodeAlloc(1, { handle: "x", owner: "o", size: 10, align: 0 });
    const f = encodeFree(2, RecordType.FREE, "x");
    for (let i = 0; i < a.length; i++) {
      const bad = Buffer.concat([a, f]);
      bad[i] ^= 1;
      const c = check(bad, 0);
      if (c.ok) throw new Error(`flip at ${i} not detected`);
      expect(resync(bad, 0)).toBe(a.length);
    }
    const short = check(a.subarray(0, a.length - 1), 0);
    expect(short.ok).toBe(false);
    expect(short.ok === false && short.short).toBe(true);
    expect(check(a.subarray(0, HEADER - 1), 0)).toMatchObject({ ok: false, short: true });
    expect(decode(a, 0, a.length, RecordType.ALLOC)).toMatchObject({ handle: "x" });
  });
});
