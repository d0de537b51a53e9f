/**
 * Cache names: kept in the arena as up to 63 bytes of UTF-8 (layout.ts NAME_BYTES), so another
 * thread, stats() and debug reports read them back. A name reads back exactly or is refused.
 */
import { describe, expect, it } from "vitest";
import { Heap, HeapCorruptionError, InvalidArgumentError } from "../../src/index.js";
import { expectCleanFailure, thrown } from "./helpers.js";

describe("cache names", () => {
  it("read back exactly up to 63 bytes of UTF-8, multi-byte characters included", () => {
    const heap = new Heap({ bytes: 1 << 20, shared: true });
    const names = ["a".repeat(63), `${"é".repeat(31)}x`, `${"x".repeat(59)}😀`, "名前"];
    for (const name of names) {
      const cache = heap.createCache(name, 24);
      expect(cache.name).toBe(name);
      expect(heap.stats().caches.at(-1)?.name).toBe(name);
    }
    const other = Heap.attach(heap.memory.buffer as SharedArrayBuffer);
    const read = other.stats().caches.map((c) => c.name);
    expect(read.slice(-names.length)).toEqual(names);
  });

  it("refuse what would not read back, and change nothing", () => {
    // Regression (fixed): a longer name was cut at 63 bytes, mid-character if need be ("ééé…é"
    // read back with a U+FFFD at its end), and a NUL cut it short: cache.name, stats() and debug
    // reports named a cache the caller never created.
    const heap = new Heap({ bytes: 1 << 20 });
    const bad = ["a".repeat(64), "é".repeat(32), `${"x".repeat(60)}😀`, "a\0b", "\0", "lone \ud800"];
    for (const name of bad) {
      const e = expectCleanFailure(heap, InvalidArgumentError, () => heap.createCache(name, 24));
      expect(e.argument).toBe("name");
    }
  });

  it("name the cache exactly in a debug report", () => {
    const heap = new Heap({ bytes: 1 << 20, debug: true });
    const name = `${"ü".repeat(30)}end`;
    const cache = heap.createCache(name, 40);
    const a = cache.alloc();
    heap.memory[a + 40] = 0;
    const e = thrown(HeapCorruptionError, () => cache.free(a));
    expect(e.cache).toBe(name);
    expect(e.address).toBe(a);
    expect(e.message).toContain(`cache ${name}:`);
  });
});
