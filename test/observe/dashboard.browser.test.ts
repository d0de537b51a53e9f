/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core): it loads, shows
 * the arena and the numbers, follows an ALLOC and a FREE made through the server, and its hover
 * names the block's address, size and owner. Saves test-artifacts/dashboard.png.
 * Skips loudly without chromium, fails under CI=true (.ci/run installs it).
 */
import { mkdirSync } from "node:fs";
import { Redis } from "ioredis";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ArenaMap } from "../../src/observe/feed.js";
import { freePort, requireProgram, type ServerProcess, spawnServer } from "../service/helpers.js";

const haveChromium = requireProgram("chromium", "chromium");

const addressOf = (handle: string) => Number.parseInt(handle.split(".")[0], 16);

async function statsOf(redis: Redis): Promise<Record<string, number>> {
  const flat = (await redis.call("STATS")) as unknown[];
  const out: Record<string, number> = {};
  for (let i = 0; i < flat.length; i += 2) out[String(flat[i])] = Number(flat[i + 1]);
  return out;
}

/** The canvas as far as the test reads it (the test compiles without the DOM's types). */
interface Canvas {
  width: number;
  height: number;
  toDataURL(): string;
}

/** Page-side conditions, as expressions evaluated in the browser. */
const shows = (key: string, value: number) =>
  `Number(document.querySelector('td[data-stat="${key}"]')?.dataset.value) === ${value}`;
const legendSays = (kind: string, pages: number) =>
  `document.querySelector('b.count[data-kind="${kind}"]')?.textContent === "${pages}"`;

/** What the page shows: a number panel value, a legend count, the canvas pixels. */
const shown = {
  stat: (page: Page, key: string) =>
    page.$eval(`td[data-stat="${key}"]`, (td) => Number(td.getAttribute("data-value"))),
  legend: (page: Page, kind: string) =>
    page.$eval(`b.count[data-kind="${kind}"]`, (b) => Number(b.textContent)),
  pixels: (page: Page) => page.$eval("#arena", (c) => (c as unknown as Canvas).toDataURL()),
};

describe.skipIf(!haveChromium)("dashboard in chromium", () => {
  let srv: ServerProcess;
  let httpPort: number;
  let browser: Browser;
  let redis: Redis;

  beforeAll(async () => {
    httpPort = await freePort();
    srv = await spawnServer(["--http-port", String(httpPort)]);
    browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    redis = new Redis({ port: srv.port, lazyConnect: true });
    await redis.connect();
  });

  afterAll(async () => {
    redis?.disconnect();
    await browser?.close();
    await srv?.stop();
  });

  it("draws the arena and the numbers, follows ALLOC and FREE to match STATS, hovers with owner", async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${httpPort}/`);
    await page.waitForSelector('#status[data-state="live"]');
    await page.waitForFunction("Number(document.body.dataset.statsUpdates ?? 0) >= 2");
    expect(await page.$eval("#arena", (c) => (c as unknown as Canvas).height)).toBeGreaterThan(0);
    const before = await statsOf(redis);
    expect(await shown.stat(page, "pool.free")).toBe(before.free);
    expect(await shown.legend(page, "large")).toBe(0);
    const pixelsBefore = await shown.pixels(page);

    // 1 MiB is a large allocation: 256 pages of their own in the map.
    const big = String(await redis.call("ALLOC", String(1 << 20)));
    for (let i = 0; i < 20; i++) await redis.call("ALLOC", "3000");
    const after = await statsOf(redis);
    await page.waitForFunction(shows("pool.free", after.free));
    expect(await shown.stat(page, "handles")).toBe(after.handles);
    expect(await shown.stat(page, "allocs")).toBe(after.allocs);
    await page.waitForFunction(legendSays("large", 256));
    expect(await shown.pixels(page)).not.toBe(pixelsBefore);

    // Hover the block: its cell is its first page (a 32 MiB pool has one page per cell).
    const map = (await (await fetch(`http://127.0.0.1:${httpPort}/api/map`)).json()) as ArenaMap;
    const pageIndex = addressOf(big) / map.segments[0].pageSize;
    const box = (await page.locator("#arena").boundingBox())!;
    const canvasWidth = await page.$eval("#arena", (c) => (c as unknown as Canvas).width);
    const px = canvasWidth / 256;
    const scale = box.width / canvasWidth;
    await page.mouse.move(
      box.x + ((pageIndex % 256) * px + px / 2) * scale,
      box.y + (Math.floor(pageIndex / 256) * px + px / 2) * scale,
    );
    const tip = page.locator("#tip");
    await expect.poll(() => tip.getAttribute("data-kind")).toBe("large");
    expect(await tip.getAttribute("data-owner")).toBe("default");
    expect(Number(await tip.getAttribute("data-address"))).toBe(addressOf(big));
    expect(Number(await tip.getAttribute("data-size"))).toBe(1 << 20);
    expect(await tip.textContent()).toContain(`address 0x${addressOf(big).toString(16)}`);

    // The page cache panel: a MAP region written through the server shows its resident pages.
    const region = String(await redis.call("MAP", String(64 * 1024)));
    await redis.call("WRITE", region, "0", "y".repeat(9000));
    const info = String(await redis.call("INFO", "mneme"));
    const resident = Number(/map_resident:(\d+)/.exec(info)![1]);
    expect(resident).toBeGreaterThan(0);
    await page.waitForFunction(
      `Number(document.querySelector('#pagecache-table td[data-stat="resident"]')?.dataset.value) === ${resident}`,
    );

    mkdirSync("test-artifacts", { recursive: true });
    await page.screenshot({ path: "test-artifacts/dashboard.png", fullPage: true });

    await redis.call("FREE", big);
    const freed = await statsOf(redis);
    await page.waitForFunction(shows("pool.free", freed.free));
    await page.waitForFunction(legendSays("large", 0));
    expect(await page.$$eval("#identities tbody tr", (rows) => rows.length)).toBe(1);
    expect(errors).toEqual([]);
  });
});
