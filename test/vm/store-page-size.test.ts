/**
 * A store whose slots are one page (AnonymousStore's swap, RedisStore's keys) takes the page size
 * of its first map(); a space of another page size is refused with InvalidArgumentError and maps
 * nothing (stores/store.ts samePageSize).
 */
import { describe, expect, it } from "vitest";
import { AddressSpace, AnonymousStore, InvalidArgumentError } from "../../src/index.js";
import { tempDir } from "./helpers.js";

describe("one store, two page sizes", () => {
  it("the second space's map() is refused and changes nothing; the first goes on", async () => {
    const dir = tempDir();
    const store = new AnonymousStore({ swap: `${dir.path}/swap` });
    const a = new AddressSpace({ frames: 2, pageSize: 4096 });
    const b = new AddressSpace({ frames: 2, pageSize: 8192 });
    try {
      const va = a.map({ length: 4 * 4096, store });
      await a.write(va, Uint8Array.of(1));
      // Given up by the first space, the store may be mapped again, at its page size only.
      await a.close();
      expect(() => b.map({ length: 4 * 8192, store })).toThrow(InvalidArgumentError);
      expect(() => b.map({ length: 4 * 8192, store })).toThrow(/already serves 4096-byte pages/);
      expect(b.stats().resident).toBe(0);
    } finally {
      await a.close();
      await b.close();
      dir.remove();
    }
  });
});
