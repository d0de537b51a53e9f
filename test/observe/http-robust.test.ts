/**
 * The HTTP side against clients that misbehave: malformed request targets, HEAD on the event
 * stream, a dashboard that stops reading, many dashboards at once, clients leaving mid-stream and
 * a shutdown with streams open. Real sockets on free loopback ports throughout.
 */
import { connect, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { InvalidArgumentError, MnemeError } from "../../src/errors.js";
import { ObserveServer } from "../../src/observe/http.js";
import type { Service } from "../../src/service/server.js";
import { raw, startService } from "../service/helpers.js";
import { sample, subscribe } from "./helpers.js";

type Observed = { svc: Service; http: ObserveServer; port: number; base: string };

/** A service without its own HTTP side, and an ObserveServer on a free port with `options`. */
async function observed(options: ConstructorParameters<typeof ObserveServer>[1] = {}): Promise<Observed> {
  const svc = await startService();
  const http = new ObserveServer(svc, options);
  const port = await http.listen("127.0.0.1", 0);
  return { svc, http, port, base: `http://127.0.0.1:${port}` };
}

/** A raw socket that has asked for /events and then never reads (paused from the start). */
function stalledSubscriber(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => {
      s.pause();
      s.write("GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
      resolve(s);
    });
    s.on("error", reject);
  });
}

describe("the HTTP side with misbehaving clients", () => {
  let o: Observed | undefined;
  afterEach(async () => {
    await o?.http.close();
    await o?.svc.close();
    o = undefined;
  });

  it("a request target that is not a URL is a 400, and the server goes on", async () => {
    o = await observed();
    for (const target of ["//", "http://[::1", "http://"]) {
      const r = await raw(o.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(r.text, target).toMatch(/^HTTP\/1\.1 400 /);
    }
    expect((await fetch(`${o.base}/api/stats?x=1&y`)).status).toBe(200);
  });

  it("HEAD /events answers with the headers and ends, rather than hanging", async () => {
    o = await observed();
    const started = Date.now();
    const r = await raw(
      o.port,
      "HEAD /events HTTP/1.1\r\nHost: x\r\n\r\n",
      (got) => got.includes("\r\n\r\n"),
      3000,
    );
    expect(r.text).toMatch(/^HTTP\/1\.1 200 /);
    expect(r.text.toLowerCase()).toContain("content-type: text/event-stream");
    expect(Date.now() - started).toBeLessThan(2000);
    // No body follows, and no stream is left behind: a request on the same connection is answered.
    const again = await raw(
      o.port,
      "HEAD /events HTTP/1.1\r\nHost: x\r\n\r\nGET /api/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    expect(again.closed).toBe(true);
    expect(again.text.match(/HTTP\/1\.1 200 /g)).toHaveLength(2);
  });

  it("rejects a per-client buffer under 64 KiB with a typed error", async () => {
    const svc = await startService();
    expect(() => new ObserveServer(svc, { maxBufferedBytes: 1024 })).toThrow(InvalidArgumentError);
    expect(() => new ObserveServer(svc, { maxBufferedBytes: Number.NaN })).toThrow(InvalidArgumentError);
    await svc.close();
  });

  it("drops a dashboard that never reads once its unread bytes pass the bound; readers go on", async () => {
    const limit = 1 << 20;
    o = await observed({ maxBufferedBytes: limit });
    const stalled = await stalledSubscriber(o.port);
    const reader = await subscribe(`${o.base}/events`);
    await reader.next((m) => m.event === "stats");
    // 20 MiB of events in 200 KiB steps: a reader keeps up, the stalled socket cannot.
    const big = "x".repeat(10_000);
    const sawLast = reader.next((m) => m.event === "event" && m.data.includes('"99.19 '), 10_000);
    for (let step = 0; step < 100; step++) {
      for (let i = 0; i < 20; i++) o.svc.events.emitEvent("client", `${step}.${i} ${big}`);
      await sleep(5);
    }
    // Let the stalled socket read now: it gets what the kernel held and the server's end, far
    // less than was sent. Without the bound the server would still hold ~20 MiB for it.
    let received = 0;
    const ended = new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 5000);
      stalled.on("data", (d: Buffer) => {
        received += d.length;
      });
      stalled.on("close", () => {
        clearTimeout(t);
        resolve(true);
      });
      stalled.on("error", () => {});
      stalled.resume();
    });
    expect(await ended).toBe(true);
    expect(received).toBeLessThan(10 * limit);
    // The reader was not dropped: it saw the last event and still gets stats.
    await sawLast;
    await reader.next((m) => m.event === "stats");
    reader.close();
    stalled.destroy();
  });

  it("one message bigger than the bound reaches a dashboard that keeps up (the bound is on the backlog)", async () => {
    o = await observed({ maxBufferedBytes: 64 * 1024 });
    const reader = await subscribe(`${o.base}/events`);
    await reader.next((m) => m.event === "stats");
    const got = reader.next((m) => m.event === "event" && m.data.includes("big one"), 5000);
    o.svc.events.emitEvent("client", `big one ${"y".repeat(1 << 20)}`);
    expect((await got).data.length).toBeGreaterThan(1 << 20);
    o.svc.events.emitEvent("client", "and after it");
    await reader.next((m) => m.data.includes("and after it"), 5000);
    reader.close();
  });

  it("at most maxStreams event streams: one more is a 503 (an EventSource: a retry) until one leaves", async () => {
    o = await observed({ maxStreams: 3 });
    const subs = await Promise.all(Array.from({ length: 3 }, () => subscribe(`${o?.base}/events`)));
    const refused = await fetch(`${o.base}/events`);
    expect(refused.status).toBe(503);
    expect(await refused.text()).toMatch(/too many event streams open \(3\)/);
    expect((await fetch(`${o.base}/api/stats`)).status).toBe(200);
    // An EventSource takes a 503 as final: it is sent a stream that ends at once, with a retry delay.
    const es = await raw(
      o.port,
      "GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n",
    );
    expect(es.text).toMatch(/^HTTP\/1\.1 200 /);
    expect(es.text).toContain("retry: 1000\n");
    expect(es.text).not.toContain("event: hello");
    expect(es.closed).toBe(true);
    subs[0].close();
    let status = 503;
    for (let i = 0; i < 50 && status === 503; i++) {
      await sleep(20);
      const r = await raw(o.port, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n", (got) =>
        got.includes("\r\n\r\n"),
      );
      status = Number(r.text.split(" ")[1]);
    }
    expect(status).toBe(200);
    for (const s of subs) s.close();
    expect(() => new ObserveServer(o?.svc as Service, { maxStreams: 0 })).toThrow(InvalidArgumentError);
    expect(() => new ObserveServer(o?.svc as Service, { maxStreams: 10_001 })).toThrow(InvalidArgumentError);
  });

  it("at most maxStreams + 64 connections: the ones past it are closed at once", async () => {
    o = await observed({ maxStreams: 1 });
    const port = o.port;
    const sockets = await Promise.all(
      Array.from(
        { length: 80 },
        () =>
          new Promise<Socket>((resolve, reject) => {
            const s = connect(port, "127.0.0.1", () => resolve(s));
            s.on("error", reject);
          }),
      ),
    );
    const closed = () => sockets.filter((s) => s.closed || s.readableEnded).length;
    for (let i = 0; i < 50 && closed() < 15; i++) await sleep(20);
    expect(closed()).toBe(15);
    for (const s of sockets) s.destroy();
    for (let i = 0; i < 50; i++) {
      const r = await fetch(`${o.base}/api/stats`).catch(() => null);
      if (r?.status === 200) return;
      await sleep(20);
    }
    throw new Error("the server took no connection after the flood left");
  });

  it("fifty dashboards at once, half leaving mid-stream; /metrics answers meanwhile", async () => {
    o = await observed({ intervalMs: 50, maxStreams: 50 });
    const subs = await Promise.all(Array.from({ length: 50 }, () => subscribe(`${o?.base}/events`)));
    await Promise.all(subs.map((s) => s.next((m) => m.event === "stats")));
    for (const s of subs.slice(0, 25)) s.close();
    const rest = subs.slice(25).map((s) => s.next((m) => m.data.includes("after the half left"), 5000));
    o.svc.events.emitEvent("client", "after the half left");
    const metrics = await fetch(`${o.base}/metrics`);
    expect(metrics.status).toBe(200);
    expect(sample(await metrics.text(), "mneme_pool_bytes", { state: "total" })).toBeGreaterThan(0);
    await Promise.all(rest);
    for (const s of subs.slice(25)) s.close();
  });

  it("close() with streams open (one of them stalled) ends them all at once, and nothing hangs", async () => {
    const obs = await observed({ intervalMs: 50 });
    const stalled = await stalledSubscriber(obs.port);
    const subs = await Promise.all(Array.from({ length: 10 }, () => subscribe(`${obs.base}/events`)));
    await Promise.all(subs.map((s) => s.next((m) => m.event === "stats")));
    const closedStalled = new Promise<void>((resolve) => stalled.on("close", () => resolve()));
    stalled.resume();
    const started = Date.now();
    // A scrape racing the shutdown either gets an answer or a refused/closed connection, no hang.
    const scrape = fetch(`${obs.base}/metrics`).then(
      (r) => r.status,
      () => "refused",
    );
    await obs.http.close();
    expect(Date.now() - started).toBeLessThan(1000);
    await closedStalled;
    expect([200, "refused"]).toContain(await scrape);
    await expect(fetch(`${obs.base}/metrics`)).rejects.toThrow();
    for (const s of subs) s.close();
    await obs.svc.close();
  });

  it("a second listen() is refused (EBUSY): the first server stays the one, each event is sent once", async () => {
    o = await observed({ intervalMs: 50 });
    const e = await o.http.listen("127.0.0.1", 0).then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(MnemeError);
    expect((e as MnemeError).code).toBe("EBUSY");
    expect(
      await Promise.all([o.http.listen("127.0.0.1", 0), o.http.listen("127.0.0.1", 0)]).catch((err) => err),
    ).toBeInstanceOf(MnemeError);
    const sub = await subscribe(`${o.base}/events`);
    await sub.next((m) => m.event === "stats");
    o.svc.events.emitEvent("client", "just once");
    o.svc.events.emitEvent("client", "and a marker after it");
    await sub.next((m) => m.data.includes("and a marker after it"), 5000);
    expect(sub.seen.filter((m) => m.data.includes("just once"))).toHaveLength(1);
    sub.close();
    // close() closes the one server there is: nothing is left listening.
    await o.http.close();
    await expect(fetch(`${o.base}/metrics`)).rejects.toThrow();
    // And it may listen again after close().
    const port = await o.http.listen("127.0.0.1", 0);
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
  });

  it("close() while listen() is binding: the bound server is closed, listen() rejects ECLOSED", async () => {
    const svc = await startService();
    const http = new ObserveServer(svc);
    try {
      const listening = http.listen("127.0.0.1", 0).then(
        (port) => port,
        (err: unknown) => err,
      );
      await http.close();
      const e = await listening;
      expect(e).toBeInstanceOf(MnemeError);
      expect((e as MnemeError).code).toBe("ECLOSED");
      // Nothing left listening for the event log either: an event reaches no one, and a new
      // listen() on the same object works.
      expect(svc.events.listenerCount("event")).toBe(0);
      const port = await http.listen("127.0.0.1", 0);
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
    } finally {
      await http.close();
      await svc.close();
    }
  });
});
