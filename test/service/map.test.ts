import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../src/errors.js";
import type { Service } from "../../src/service/server.js";
import { startService } from "./helpers.js";

let svc: Service;
let r: Redis;

beforeAll(async () => {
  // 8 frames of 4 KiB: every region below is many times larger than what stays resident.
  svc = await startService({ mapFrames: 8, users: { bob: "pw" } });
  r = new Redis({ port: svc.port, lazyConnect: true });
  await r.connect();
});

afterAll(async () => {
  r.disconnect();
  await svc.close();
});

/** A page-sized pattern that names its page, so a wrong page is caught. */
function page(i: number): Buffer {
  return Buffer.alloc(4096, (i * 37 + 11) & 0xff);
}

describe("MAP regions (pageable memory through the vm layer)", () => {
  it("an anonymous region larger than the frames reads back what was written, across evictions", async () => {
    const pages = 64;
    const h = String(await r.call("MAP", pages * 4096, "HINT", "random"));
    expect(h).toMatch(/\./);
    expect(await r.call("SIZE", h)).toBe(pages * 4096);
    for (let i = 0; i < pages; i++) expect(await r.callBuffer("WRITE", h, i * 4096, page(i))).toBe(4096);
    for (let i = pages - 1; i >= 0; i--) {
      expect((await r.callBuffer("READ", h, i * 4096, 4096)) as Buffer).toEqual(page(i));
    }
    // A read across a page boundary, and untouched memory reads as zeros.
    const cross = (await r.callBuffer("READ", h, 4096 - 2, 4)) as Buffer;
    expect([...cross]).toEqual([page(0)[0], page(0)[0], page(1)[0], page(1)[0]]);
    const h2 = String(await r.call("MAP", 1 << 20));
    expect(((await r.callBuffer("READ", h2, 500_000, 16)) as Buffer).every((b) => b === 0)).toBe(true);
    const info = String(await r.call("INFO", "mneme"));
    expect(info).toContain("map_available:1");
    expect(Number(/map_evictions:(\d+)/.exec(info)?.[1])).toBeGreaterThan(0);
    expect(await r.call("FREE", h)).toBe("OK");
    expect(await r.call("FREE", h2)).toBe("OK");
    await expect(r.call("READ", h, 0, 1)).rejects.toThrow(/invalid handle/);
  });

  it("a file region lands in <data>/maps/NAME once SYNC returns", async () => {
    const h = String(await r.call("MAP", 16 * 4096, "STORE", "file", "region.bin"));
    for (let i = 0; i < 16; i++) await r.callBuffer("WRITE", h, i * 4096, page(i));
    expect(await r.call("SYNC")).toBe("OK");
    const file = readFileSync(join(svc.config.data, "maps", "region.bin"));
    for (let i = 0; i < 16; i++) expect(file.subarray(i * 4096, (i + 1) * 4096)).toEqual(page(i));
    expect(await r.call("FREE", h)).toBe("OK");
  });

  it("a file region freed, then mapped again on the same file, reads what the first one wrote", async () => {
    // 256 frames: the first region's 128 pages are all dirty when it is freed. Its FREE replied
    // before they were in the file, and the region mapped next read the file's older bytes.
    const s = await startService({ mapFrames: 256 });
    const c = new Redis({ port: s.port, lazyConnect: true });
    await c.connect();
    try {
      const pages = 128;
      for (let k = 0; k < 3; k++) {
        const name = `again-${k}.bin`;
        const a = String(await c.call("MAP", pages * 4096, "STORE", "file", name));
        const data = Buffer.concat(Array.from({ length: pages }, (_, i) => page(i + k)));
        expect(await c.callBuffer("WRITE", a, 0, data)).toBe(data.length);
        const p = c.pipeline();
        p.call("FREE", a);
        p.call("MAP", pages * 4096, "STORE", "file", name);
        const out = (await p.exec()) ?? [];
        expect(out[0][1]).toBe("OK");
        const b = String(out[1][1]);
        expect(((await c.callBuffer("READ", b, 0, data.length)) as Buffer).equals(data), `round ${k}`).toBe(
          true,
        );
        expect(await c.call("FREE", b)).toBe("OK");
      }
    } finally {
      c.disconnect();
      await s.close();
    }
  });

  it("keeps pipelined commands in order around asynchronous page-ins", async () => {
    const h = String(await r.call("MAP", 32 * 4096));
    const p = r.pipeline();
    for (let i = 0; i < 32; i++) p.callBuffer("WRITE", h, i * 4096, page(i));
    p.call("PING");
    for (let i = 0; i < 32; i++) p.callBuffer("READ", h, i * 4096, 4096);
    const out = (await p.exec()) ?? [];
    expect(out[32][1]).toBe("PONG");
    for (let i = 0; i < 32; i++) expect(out[33 + i][1]).toEqual(page(i));
    await r.call("FREE", h);
  });

  it("refuses another identity's region and out-of-range access, changing nothing", async () => {
    const h = String(await r.call("MAP", 8192));
    await r.callBuffer("WRITE", h, 0, Buffer.from("mine"));
    await expect(r.call("READ", h, 8190, 4)).rejects.toThrow();
    await expect(r.call("WRITE", h, 8191, "xy")).rejects.toThrow();
    const bob = new Redis({ port: svc.port, lazyConnect: true, username: "bob", password: "pw" });
    await bob.connect();
    await expect(bob.call("READ", h, 0, 4)).rejects.toThrow(/invalid handle/);
    await expect(bob.call("FREE", h)).rejects.toThrow(/invalid handle/);
    bob.disconnect();
    expect(((await r.callBuffer("READ", h, 0, 4)) as Buffer).toString()).toBe("mine");
    await r.call("FREE", h);
  });
});

describe("named files of MAP regions", () => {
  it("belong to the identity that maps them: another one naming the same file gets its own", async () => {
    const bob = new Redis({ port: svc.port, lazyConnect: true, username: "bob", password: "pw" });
    await bob.connect();
    try {
      const mine = String(await r.call("MAP", 8 * 4096, "STORE", "file", "shared-name.bin"));
      await r.callBuffer("WRITE", mine, 0, page(1));
      expect(await r.call("SYNC")).toBe("OK");
      // Bob names the same file: before, he read and could overwrite the default identity's bytes.
      const his = String(await bob.call("MAP", 8 * 4096, "STORE", "file", "shared-name.bin"));
      expect(((await bob.callBuffer("READ", his, 0, 4096)) as Buffer).every((b) => b === 0)).toBe(true);
      await bob.callBuffer("WRITE", his, 0, page(2));
      expect(await bob.call("SYNC")).toBe("OK");
      expect(((await r.callBuffer("READ", mine, 0, 4096)) as Buffer).equals(page(1))).toBe(true);
      const maps = join(svc.config.data, "maps");
      expect(readFileSync(join(maps, "shared-name.bin")).subarray(0, 4096)).toEqual(page(1));
      expect(readFileSync(join(maps, "@bob", "shared-name.bin")).subarray(0, 4096)).toEqual(page(2));
      expect(await r.call("FREE", mine)).toBe("OK");
      expect(await bob.call("FREE", his)).toBe("OK");
    } finally {
      bob.disconnect();
    }
  });

  it("two live regions of one identity on one file are one page cache: no write of either is lost", async () => {
    // 8 frames for 32 pages: both regions' pages are evicted and written back again and again.
    // With a store each, a region wrote back its own stale copy of a page over the other's write.
    const pages = 32;
    const a = String(await r.call("MAP", pages * 4096, "STORE", "file", "twice.bin"));
    const b = String(await r.call("MAP", pages * 4096, "STORE", "file", "twice.bin"));
    for (let i = 0; i < pages; i++) {
      const [via, other] = i % 2 === 0 ? [a, b] : [b, a];
      await r.callBuffer("WRITE", via, i * 4096, page(i));
      expect(
        ((await r.callBuffer("READ", other, i * 4096, 4096)) as Buffer).equals(page(i)),
        `page ${i}`,
      ).toBe(true);
    }
    expect(await r.call("SYNC")).toBe("OK");
    const file = readFileSync(join(svc.config.data, "maps", "twice.bin"));
    for (let i = 0; i < pages; i++)
      expect(file.subarray(i * 4096, (i + 1) * 4096), `page ${i}`).toEqual(page(i));
    expect(await r.call("FREE", a)).toBe("OK");
    // The other region still works after its twin is gone, and the file closes with the last one.
    expect(((await r.callBuffer("READ", b, 5 * 4096, 4096)) as Buffer).equals(page(5))).toBe(true);
    await r.callBuffer("WRITE", b, 0, page(40));
    expect(await r.call("FREE", b)).toBe("OK");
    expect(readFileSync(join(svc.config.data, "maps", "twice.bin")).subarray(0, 4096)).toEqual(page(40));
  });
});

describe("MAP regions under memory pressure (reclaim wired into the service)", () => {
  it("writers are throttled, reclaim keeps free frames above min, and both reach the event log", async () => {
    const s = await startService({ mapFrames: 64 });
    const c = new Redis({ port: s.port, lazyConnect: true });
    await c.connect();
    try {
      const pages = 256;
      const h = String(await c.call("MAP", pages * 4096, "HINT", "random"));
      for (let i = 0; i < pages; i++) await c.callBuffer("WRITE", h, i * 4096, page(i));
      for (let i = 0; i < pages; i++) {
        expect((await c.callBuffer("READ", h, i * 4096, 4096)) as Buffer).toEqual(page(i));
      }
      const m = s.stats().maps;
      expect(m.frames).toBe(64);
      expect(m.wmarkMin).toBeLessThan(m.wmarkLow);
      expect(m.wmarkLow).toBeLessThan(m.wmarkHigh);
      expect(m.free).toBeGreaterThan(m.wmarkMin);
      expect(m.throttled).toBeGreaterThan(0);
      expect(m.reclaims).toBeGreaterThan(0);
      expect(m.oomKills).toBe(0);
      expect(m.dirty).toBeLessThanOrEqual(m.dirtyHigh + 32);
      // The event log summarises once a second.
      const seen = new Set<string>();
      s.events.on("event", (e) => seen.add(e.kind));
      for (const e of s.events.recent()) seen.add(e.kind);
      for (let t = 0; t < 30 && !(seen.has("reclaim") && seen.has("throttle")); t++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(seen.has("reclaim")).toBe(true);
      expect(seen.has("throttle")).toBe(true);
    } finally {
      c.disconnect();
      await s.close();
    }
  });
});

describe("the MAP page cache's tunables", () => {
  it("dirty ratios, flush interval and min free frames apply and are reported by INFO and CONFIG GET", async () => {
    const s = await startService({
      mapFrames: 256,
      mapDirtyLow: 0.1,
      mapDirtyHigh: 0.2,
      mapFlushInterval: 5000,
      mapMinFree: 10,
    });
    const c = new Redis({ port: s.port, lazyConnect: true });
    await c.connect();
    try {
      const h = String(await c.call("MAP", 128 * 4096, "HINT", "random"));
      for (let i = 0; i < 128; i++) await c.callBuffer("WRITE", h, i * 4096, page(i));
      const m = s.stats().maps;
      expect(m.wmarkMin).toBe(10);
      // Throttling holds dirty pages near 20% of the cache (plus a batch in flight).
      expect(m.throttled).toBeGreaterThan(0);
      expect(m.dirty).toBeLessThanOrEqual(Math.ceil(0.2 * m.resident) + 32);
      const info = String(await c.call("INFO", "mneme"));
      expect(info).toContain("map_dirty_low_ratio:0.1");
      expect(info).toContain("map_dirty_high_ratio:0.2");
      expect(info).toContain("map_flush_interval_ms:5000");
      expect(info).toContain("map_wmarkMin:10");
      expect(await c.call("CONFIG", "GET", "map-dirty-high")).toEqual(["map-dirty-high", "0.2"]);
    } finally {
      c.disconnect();
      await s.close();
    }
  });

  it("refuses ratios out of order or out of range, and too many reserved frames", async () => {
    for (const bad of [
      { mapDirtyLow: 0.6, mapDirtyHigh: 0.3 },
      { mapDirtyHigh: 1.5 },
      { mapDirtyLow: 0 },
      { mapFlushInterval: 0 },
      { mapFrames: 64, mapMinFree: 40 },
    ]) {
      await expect(startService(bad)).rejects.toThrow(InvalidArgumentError);
    }
  });
});
