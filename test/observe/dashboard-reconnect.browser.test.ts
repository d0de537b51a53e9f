/**
 * The dashboard in chromium when its server is not there for it: every stream slot taken (the
 * page got a 503, which an EventSource takes as final: it said "reconnecting…" and never did), the
 * HTTP side closed and opened again on the same port; and client names chosen to be HTML, which
 * must show as text. Skips loudly without chromium, fails under CI=true.
 */
import { Redis } from "ioredis";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ObserveServer } from "../../src/observe/http.js";
import type { Service } from "../../src/service/server.js";
import { requireProgram, startService } from "../service/helpers.js";

const haveChromium = requireProgram("chromium", "chromium");

const live = '#status[data-state="live"]';
const updates = (page: Page) => page.evaluate("Number(document.body.dataset.statsUpdates ?? 0)");
/** Waits until the page has rendered `more` stats messages beyond what it had. */
async function updating(page: Page, more = 3): Promise<void> {
  const n = Number(await updates(page));
  await page.waitForFunction(`Number(document.body.dataset.statsUpdates ?? 0) >= ${n + more}`);
}

describe.skipIf(!haveChromium)("dashboard in chromium, its server busy or gone", () => {
  let browser: Browser;
  let svc: Service | undefined;
  let http: ObserveServer | undefined;

  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
  });
  afterAll(async () => {
    await browser?.close();
  });
  afterEach(async () => {
    await http?.close();
    await svc?.close();
    http = undefined;
    svc = undefined;
  });

  it("a page refused for want of a stream slot goes live once one is free", async () => {
    svc = await startService();
    http = new ObserveServer(svc, { intervalMs: 100, maxStreams: 1 });
    const base = `http://127.0.0.1:${await http.listen("127.0.0.1", 0)}/`;
    const first = await browser.newPage();
    await first.goto(base);
    await first.waitForSelector(live);
    const second = await browser.newPage();
    await second.goto(base);
    // The refusal is visible: the second page is not live while the first holds the slot.
    await second.waitForFunction('document.getElementById("status").dataset.state === "lost"');
    expect(await updates(second)).toBe(0);
    await first.close();
    await second.waitForSelector(live);
    await updating(second);
    await second.close();
  });

  it("a page whose server went away goes live again when it is back on the same port", async () => {
    svc = await startService();
    http = new ObserveServer(svc, { intervalMs: 100 });
    const port = await http.listen("127.0.0.1", 0);
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForSelector(live);
    await updating(page);
    await http.close();
    await page.waitForSelector('#status[data-state="lost"]');
    http = new ObserveServer(svc, { intervalMs: 100 });
    await http.listen("127.0.0.1", port);
    await page.waitForSelector(live);
    await updating(page);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("a page whose event stream was refused for good (a proxy's 502) connects again", async () => {
    // Regression (fixed): an EventSource gives up on a response that is not a stream (a 502 from
    // a proxy in front); the page said "reconnecting…" and never tried again.
    svc = await startService();
    http = new ObserveServer(svc, { intervalMs: 100 });
    const port = await http.listen("127.0.0.1", 0);
    const page = await browser.newPage();
    let refused = 0;
    await page.route("**/events", (route) => {
      if (refused < 2) {
        refused++;
        return route.fulfill({ status: 502, contentType: "text/plain", body: "bad gateway" });
      }
      return route.continue();
    });
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForSelector(live);
    await updating(page);
    expect(refused).toBe(2);
    await page.close();
  });

  it("client names and identities are shown as text, never run as HTML", async () => {
    svc = await startService({ users: { alice: "pw" } });
    http = new ObserveServer(svc, { intervalMs: 100 });
    const port = await http.listen("127.0.0.1", 0);
    const redis = new Redis({ port: svc.port, lazyConnect: true, maxRetriesPerRequest: 0 });
    await redis.connect();
    const page = await browser.newPage();
    try {
      const name = "<img/src=x/onerror=window.pwned=1><b>bold</b>";
      await redis.call("AUTH", "alice", "pw");
      await redis.call("CLIENT", "SETNAME", name);
      await redis.call("ALLOC", "4096");
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.waitForSelector(live);
      // Shown as the very text given (JSON-quoted into the page-side expression).
      await page.waitForFunction(
        `[...document.querySelectorAll("#clients td")].some((td) => td.textContent === ${JSON.stringify(name)})`,
      );
      expect(await page.evaluate("window.pwned")).toBeUndefined();
      expect(await page.$$eval("#clients b, #clients img", (els) => els.length)).toBe(0);
    } finally {
      redis.disconnect();
      await page.close();
    }
  });
});
