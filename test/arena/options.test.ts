/**
 * Arena options an outside caller gets wrong: sizes past what addresses can reach (they were a
 * bare RangeError from the ArrayBuffer constructor, or an arena whose addresses the typed arrays
 * could not index) and a `shared` that is not a boolean (silently an unshared arena that no
 * worker could attach).
 */
import { describe, expect, it } from "vitest";
import { Heap, InvalidArgumentError, MnemeError, PageAllocator } from "../../src/index.js";

describe("arena options", () => {
  it("an arena larger than 4 GiB is an InvalidArgumentError naming bytes, for every page size", () => {
    for (const pageSize of [512, 4096, 65536]) {
      for (const bytes of [2 ** 32 + 1, 2 ** 33, 2 ** 40, 2 ** 53 - 1]) {
        let error: unknown;
        try {
          new PageAllocator({ bytes, pageSize });
        } catch (e) {
          error = e;
        }
        expect(error, `PageAllocator({ bytes: ${bytes}, pageSize: ${pageSize} })`).toBeInstanceOf(
          InvalidArgumentError,
        );
        expect((error as InvalidArgumentError).argument).toBe("bytes");
        expect(() => new Heap({ bytes, pageSize })).toThrow(InvalidArgumentError);
      }
    }
  });

  it("shared must be a boolean when given", () => {
    for (const shared of ["yes", 1, 0, null, {}]) {
      let error: unknown;
      try {
        new PageAllocator({ bytes: 1 << 20, shared: shared as unknown as boolean });
      } catch (e) {
        error = e;
      }
      expect(error, `shared: ${JSON.stringify(shared)}`).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).argument).toBe("shared");
      expect(() => new Heap({ bytes: 1 << 20, shared: shared as unknown as boolean })).toThrow(MnemeError);
    }
    expect(new PageAllocator({ bytes: 1 << 20, shared: true }).arena.buffer).toBeInstanceOf(
      SharedArrayBuffer,
    );
    expect(new PageAllocator({ bytes: 1 << 20, shared: false }).arena.buffer).toBeInstanceOf(ArrayBuffer);
    expect(new PageAllocator({ bytes: 1 << 20, shared: undefined }).arena.buffer).toBeInstanceOf(ArrayBuffer);
  });
});
