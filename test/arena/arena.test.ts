import { describe, expect, it } from "vitest";
import { Arena, InvalidArgumentError, MnemeError, PageAllocator } from "../../src/index.js";
import { thrown } from "../page/helpers.js";

/** The header is little-endian Int32 words; read it the way a foreign reader would. */
function headerWord(buffer: ArrayBuffer | SharedArrayBuffer, word: number): number {
  return new DataView(buffer).getInt32(word * 4, true);
}

describe("arena geometry", () => {
  it("defaults to 4096-byte pages", () => {
    const pages = new PageAllocator({ bytes: 64 * 1024 });
    expect(pages.arena.pageSize).toBe(4096);
    expect(pages.stats().pageSize).toBe(4096);
  });

  it.each([512, 1024, 2048, 4096, 8192, 16384, 32768, 65536])("accepts page size %i", (pageSize) => {
    const pages = new PageAllocator({ bytes: pageSize * 8, pageSize });
    expect(pages.arena.pageSize).toBe(pageSize);
    expect(pages.arena.pageCount).toBe(8);
    expect(pages.arena.buffer.byteLength).toBe(pageSize * 8);
    expect(pages.stats().total).toBe((8 - pages.stats().headerPages) * pageSize);
    pages.check();
  });

  it.each([
    0,
    1,
    256,
    511,
    513,
    1000,
    3000,
    131072,
    -4096,
    4096.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    "4096",
  ])("rejects page size %o", (pageSize) => {
    const e = thrown(
      InvalidArgumentError,
      () => new PageAllocator({ bytes: 1 << 20, pageSize: pageSize as number }),
    );
    expect(e.argument).toBe("pageSize");
  });

  it.each([
    [1, 4096, 1],
    [4097, 4096, 2],
    [10 * 4096 + 1, 4096, 11],
    [10 * 4096 - 1, 4096, 10],
    [100_000, 512, 196],
    [65536 * 2 + 1, 65536, 3],
  ])("rounds %i bytes up to whole pages of %i (%i pages)", (bytes, pageSize, count) => {
    if (count < 2) {
      // One page is all header: nothing would be left to hand out.
      thrown(InvalidArgumentError, () => new PageAllocator({ bytes, pageSize }));
      return;
    }
    const pages = new PageAllocator({ bytes, pageSize });
    expect(pages.arena.pageCount).toBe(count);
    expect(pages.arena.buffer.byteLength).toBe(count * pageSize);
    expect(pages.memory.byteLength).toBe(count * pageSize);
    const s = pages.stats();
    expect(s.total).toBe((count - s.headerPages) * pageSize);
    expect(s.free).toBe(s.total);
  });

  it.each([0, -1, -4096, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "65536", undefined, null, 2 ** 53])(
    "rejects bytes %o",
    (bytes) => {
      const e = thrown(InvalidArgumentError, () => new PageAllocator({ bytes: bytes as number }));
      expect(e.argument).toBe("bytes");
    },
  );

  it.each([null, undefined, 4096, "4096"])("rejects options %o", (options) => {
    thrown(InvalidArgumentError, () => new PageAllocator(options as never));
  });

  it("rejects an arena with no page left after the header", () => {
    for (const pageSize of [512, 4096, 65536]) {
      const e = thrown(InvalidArgumentError, () => new PageAllocator({ bytes: pageSize, pageSize }));
      expect(e.argument).toBe("bytes");
      expect(e.message).toMatch(/too small/);
      // The smallest arena that works has exactly one usable page.
      const smallest = new PageAllocator({ bytes: pageSize + 1, pageSize });
      expect(smallest.stats().total).toBe(pageSize);
      expect(smallest.stats().headerPages).toBe(1);
      expect(smallest.sizeOf(smallest.alloc(1))).toBe(pageSize);
      smallest.check();
    }
  });

  it("counts the page metadata in the header: an arena too small for it is rejected", () => {
    thrown(InvalidArgumentError, () => new PageAllocator({ bytes: 512, pageSize: 512 }));
    // 512-byte pages: a hot stack of a slot a page (4 bytes each) takes 200 pages' 800 bytes.
    const bare = new PageAllocator({ bytes: 200 * 512, pageSize: 512, hotPages: 0 });
    const full = new PageAllocator({ bytes: 200 * 512, pageSize: 512, hotPages: 200 });
    expect(bare.stats().headerPages).toBe(3);
    expect(full.stats().headerPages).toBe(5);
    // A hot stack never has more slots than the arena has pages.
    const big = new PageAllocator({ bytes: 128 * 4096, hotPages: 65536 });
    expect(big.stats().hotCapacity).toBe(128);
    big.check();
  });

  it.each([-1, 31, 1.5, Number.NaN, "3", Number.POSITIVE_INFINITY])("rejects maxOrder %o", (maxOrder) => {
    const e = thrown(
      InvalidArgumentError,
      () => new PageAllocator({ bytes: 1 << 20, maxOrder: maxOrder as number }),
    );
    expect(e.argument).toBe("maxOrder");
  });

  it.each([0, 10, 30])("accepts maxOrder %i", (maxOrder) => {
    const pages = new PageAllocator({ bytes: 1 << 20, maxOrder });
    expect(pages.maxOrder).toBe(maxOrder);
    expect(pages.stats().freeBlocksPerOrder).toHaveLength(maxOrder + 1);
    pages.check();
  });

  it.each([-1, 1.5, Number.NaN, 2 ** 24 + 1, "4"])("rejects hotPages %o", (hotPages) => {
    const e = thrown(
      InvalidArgumentError,
      () => new PageAllocator({ bytes: 1 << 20, hotPages: hotPages as number }),
    );
    expect(e.argument).toBe("hotPages");
  });

  it("uses an ArrayBuffer unless shared is asked for", () => {
    const plain = new PageAllocator({ bytes: 1 << 16 });
    expect(plain.arena.buffer).toBeInstanceOf(ArrayBuffer);
    expect(plain.arena.shared).toBe(false);
    const shared = new PageAllocator({ bytes: 1 << 16, shared: true });
    expect(shared.arena.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(shared.arena.shared).toBe(true);
    expect(shared.memory.buffer).toBe(shared.arena.buffer);
  });

  it("all errors it throws are MnemeErrors with a stable code", () => {
    const e = thrown(InvalidArgumentError, () => new PageAllocator({ bytes: 0 }));
    expect(e).toBeInstanceOf(MnemeError);
    expect(e.code).toBe("EINVAL");
    expect(e.name).toBe("InvalidArgumentError");
  });
});

describe("arena header", () => {
  it("starts with the magic, the version, the page size and the page count", () => {
    for (const shared of [false, true]) {
      const pages = new PageAllocator({ bytes: 37 * 1024 + 5, pageSize: 1024, shared });
      const buffer = pages.arena.buffer;
      // "MNME" is what a hex dump of any arena starts with.
      expect(new TextDecoder().decode(pages.memory.subarray(0, 4))).toBe("MNME");
      expect(headerWord(buffer, 0)).toBe(0x454d4e4d);
      expect(headerWord(buffer, 1)).toBeGreaterThanOrEqual(1);
      expect(headerWord(buffer, 2)).toBe(1024);
      expect(headerWord(buffer, 3)).toBe(38);
      expect(headerWord(buffer, 4)).toBe(pages.stats().headerPages);
      expect(headerWord(buffer, 5) & 1).toBe(shared ? 1 : 0);
    }
  });

  it("Arena.attach reads the same geometry back", () => {
    const pages = new PageAllocator({ bytes: 300 * 512, pageSize: 512, shared: true });
    const arena = Arena.attach(pages.arena.buffer);
    expect(arena.pageSize).toBe(512);
    expect(arena.pageCount).toBe(300);
    expect(arena.headerPages).toBe(pages.stats().headerPages);
    expect(arena.shared).toBe(true);
    expect(arena.metaOffset).toBe(pages.arena.metaOffset);
    expect(arena.buffer).toBe(pages.arena.buffer);
  });

  it("PageAllocator.attach on the same buffer sees the same allocations", () => {
    const pages = new PageAllocator({ bytes: 64 * 4096, maxOrder: 4 });
    const a = pages.alloc(3 * 4096);
    const b = pages.allocPages(2);
    const other = PageAllocator.attach(pages.arena.buffer);
    expect(other.sizeOf(a)).toBe(3 * 4096);
    expect(other.sizeOf(b)).toBe(4 * 4096);
    expect(other.maxOrder).toBe(4);
    other.free(a);
    expect(JSON.stringify(pages.stats())).toBe(JSON.stringify(other.stats()));
    pages.check();
  });

  it("a copy of the buffer is a snapshot of the allocator", () => {
    const pages = new PageAllocator({ bytes: 64 * 4096 });
    const a = pages.alloc(5 * 4096, 8 * 4096);
    const before = JSON.stringify(pages.stats());
    const snapshot = PageAllocator.attach(pages.arena.buffer.slice(0));
    pages.free(a);
    expect(JSON.stringify(snapshot.stats())).toBe(before);
    expect(snapshot.sizeOf(a)).toBe(5 * 4096);
    snapshot.check();
  });

  it("root slots live in the header and are bounds-checked", () => {
    const pages = new PageAllocator({ bytes: 64 * 4096 });
    pages.arena.setRoot(3, 17);
    expect(Arena.attach(pages.arena.buffer).root(3)).toBe(17);
    expect(pages.arena.root(0)).toBe(0);
    for (const slot of [-1, 16, 1.5, Number.NaN]) {
      thrown(InvalidArgumentError, () => pages.arena.root(slot));
      thrown(InvalidArgumentError, () => pages.arena.setRoot(slot, 1));
    }
  });
});

describe("attaching something that is not an arena", () => {
  it.each([
    ["a zeroed ArrayBuffer", () => new ArrayBuffer(65536)],
    ["a zeroed SharedArrayBuffer", () => new SharedArrayBuffer(65536)],
    ["a buffer smaller than the header", () => new ArrayBuffer(16)],
    ["an empty buffer", () => new ArrayBuffer(0)],
    ["a Uint8Array (not its buffer)", () => new PageAllocator({ bytes: 1 << 16 }).memory],
    ["a plain object", () => ({ byteLength: 65536 })],
    ["null", () => null],
    ["a number", () => 4096],
  ])("rejects %s with InvalidArgumentError", (_, make) => {
    const buffer = make() as ArrayBuffer;
    thrown(InvalidArgumentError, () => Arena.attach(buffer));
    thrown(InvalidArgumentError, () => PageAllocator.attach(buffer));
  });

  it("rejects a wrong magic, a wrong version and a truncated buffer", () => {
    const pages = new PageAllocator({ bytes: 64 * 4096 });
    const magic = pages.arena.buffer.slice(0) as ArrayBuffer;
    new DataView(magic).setInt32(0, 0x12345678, true);
    thrown(InvalidArgumentError, () => PageAllocator.attach(magic));

    const version = pages.arena.buffer.slice(0) as ArrayBuffer;
    new DataView(version).setInt32(4, headerWord(version, 1) + 1, true);
    thrown(InvalidArgumentError, () => PageAllocator.attach(version));

    const truncated = pages.arena.buffer.slice(0, 63 * 4096) as ArrayBuffer;
    thrown(InvalidArgumentError, () => PageAllocator.attach(truncated));

    const pageSize = pages.arena.buffer.slice(0) as ArrayBuffer;
    new DataView(pageSize).setInt32(8, 3000, true);
    thrown(InvalidArgumentError, () => PageAllocator.attach(pageSize));
  });

  it("rejects a header whose page counts or offsets are out of place", () => {
    // Regression (fixed): only the magic, the version and the geometry were checked, so a bad
    // HEADER_PAGES gave an allocator of -133160960 usable bytes, and bad metadata offsets had
    // it read its maps from wherever they pointed.
    const pages = new PageAllocator({ bytes: 64 * 4096 });
    const headerPages = headerWord(pages.arena.buffer, 4);
    const metaBytes = headerWord(pages.arena.buffer, 7);
    const bad: Array<[number, number]> = [
      [4, 0], // HEADER_PAGES
      [4, 64],
      [4, headerPages ^ 0x7fff],
      [6, 0], // META_OFFSET: inside the header words
      [6, headerPages * 4096], // past the header pages
      [7, -1], // META_BYTES
      [7, metaBytes + headerPages * 4096],
    ];
    for (const [word, value] of bad) {
      const copy = pages.arena.buffer.slice(0) as ArrayBuffer;
      new DataView(copy).setInt32(word * 4, value, true);
      const e = thrown(InvalidArgumentError, () => PageAllocator.attach(copy));
      expect(e.message).toMatch(/corrupt arena header/);
    }
    expect(PageAllocator.attach(pages.arena.buffer.slice(0)).stats()).toEqual(pages.stats());
  });
});

describe("address 0", () => {
  it.each([
    { pageSize: 512, bytes: 100 * 512 },
    { pageSize: 4096, bytes: 64 * 4096 },
    { pageSize: 65536, bytes: 5 * 65536 },
  ])("is never handed out (pageSize $pageSize), nor is any header page", ({ pageSize, bytes }) => {
    const pages = new PageAllocator({ bytes, pageSize, hotPages: 0 });
    const { headerPages, total } = pages.stats();
    const headerEnd = headerPages * pageSize;
    // Every way of asking: single pages, then whole blocks, then odd sizes.
    const all = pages.allocBulk(total / pageSize);
    expect(Math.min(...all)).toBe(headerEnd);
    for (const a of all) pages.free(a);
    const seen: number[] = [];
    for (let order = pages.maxOrder; order >= 0; order--) {
      for (;;) {
        try {
          seen.push(pages.allocPages(order));
        } catch {
          break;
        }
      }
    }
    expect(seen.length).toBeGreaterThan(0);
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(headerEnd);
    for (const a of seen) pages.free(a);
    const whole = pages.alloc(total);
    expect(whole).toBe(headerEnd);
    expect(whole).not.toBe(0);
    pages.free(whole);
    pages.check();
  });
});
