/**
 * The service's HTTP side (on `httpPort`, loopback by default): the live dashboard, Prometheus
 * metrics and the feeds behind the dashboard. Read-only: nothing here changes the service.
 *
 * | route         | what                                                                  |
 * |---------------|-----------------------------------------------------------------------|
 * | GET /         | the dashboard (static/dashboard/index.html; no build step)            |
 * | GET /<file>   | the dashboard's other static files (a fixed list read at start)       |
 * | GET /metrics  | Prometheus text format (metrics.ts)                                   |
 * | GET /events   | server-sent events: `hello`, then `stats` every intervalMs, `map` when the arena changed (checked once a second), `event` as events happen |
 * | GET /api/stats| one snapshot (feed.ts), JSON                                          |
 * | GET /api/map  | the arena map (feed.ts), JSON                                         |
 *
 * Anything else is 404; a method other than GET or HEAD is 405. The event stream's timer runs
 * only while a dashboard is connected, so an idle server pays nothing for it.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { InvalidArgumentError, MnemeError } from "../errors.js";
import type { ServiceEvent } from "../service/events.js";
import type { Service } from "../service/server.js";
import { arenaMap, snapshot } from "./feed.js";
import { Metrics } from "./metrics.js";

/** Where the dashboard's files are, from dist/observe or src/observe alike. */
export const DASHBOARD_DIR = fileURLToPath(new URL("../../static/dashboard/", import.meta.url));

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

export interface ObserveOptions {
  /** Milliseconds between `stats` messages on /events: 50 to 1000. Default 500. */
  intervalMs?: number;
  /**
   * Bytes an /events client may leave unread in the server's buffer before it is dropped: at
   * least 64 KiB. Default 4 MiB (a big arena map is a few tens of kilobytes). A message is
   * queued whole, so a client holds at most this plus one message.
   */
  maxBufferedBytes?: number;
  /**
   * /events streams open at once: 1 to 10,000, default 64; one more is a 503. The server also
   * takes at most this many connections plus 64 (page loads, scrapes) and closes the rest.
   */
  maxStreams?: number;
}

const MIN_BUFFERED = 64 * 1024;

export class ObserveServer {
  readonly metrics: Metrics;
  readonly intervalMs: number;
  readonly maxBufferedBytes: number;
  readonly maxStreams: number;
  private server: Server | null = null;
  /** A listen() under way (this.server is set once it is bound). */
  private listening = false;
  /** Counts close() calls: a listen() that a close() overtook closes the server it bound. */
  private closes = 0;
  private readonly files = new Map<string, { body: Buffer; type: string }>();
  private readonly streams = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | null = null;
  private lastMap = "";
  private ticks = 0;
  private readonly onEvent = (e: ServiceEvent) => this.broadcast("event", JSON.stringify(e));

  constructor(
    private readonly svc: Service,
    options: ObserveOptions = {},
  ) {
    const interval = options.intervalMs ?? 500;
    if (!Number.isInteger(interval) || interval < 50 || interval > 1000) {
      throw new InvalidArgumentError("intervalMs", interval, "must be an integer from 50 to 1000");
    }
    this.intervalMs = interval;
    const buffered = options.maxBufferedBytes ?? 4 * 1024 * 1024;
    if (!Number.isSafeInteger(buffered) || buffered < MIN_BUFFERED) {
      throw new InvalidArgumentError(
        "maxBufferedBytes",
        buffered,
        `must be an integer of at least ${MIN_BUFFERED}`,
      );
    }
    this.maxBufferedBytes = buffered;
    const streams = options.maxStreams ?? 64;
    if (!Number.isInteger(streams) || streams < 1 || streams > 10_000) {
      throw new InvalidArgumentError("maxStreams", streams, "must be an integer from 1 to 10000");
    }
    this.maxStreams = streams;
    this.metrics = new Metrics(svc);
    for (const name of readdirSync(DASHBOARD_DIR)) {
      const type = TYPES[extname(name)];
      if (type !== undefined) this.files.set(name, { body: readFileSync(DASHBOARD_DIR + name), type });
    }
  }

  /** Listens; resolves with the port (0 picks a free one). */
  async listen(host: string, port: number): Promise<number> {
    // A second listen() left the first server open for good (close() closed only the second) and
    // subscribed to the event log twice, so every dashboard got each event twice.
    if (this.server !== null || this.listening)
      throw new MnemeError("EBUSY", "the HTTP side is listening already (close() it first)");
    this.listening = true;
    try {
      return await this.bind(host, port);
    } finally {
      this.listening = false;
    }
  }

  private async bind(host: string, port: number): Promise<number> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end(`error: ${e instanceof Error ? e.message : String(e)}\n`);
      });
    });
    // Streams aside, a connection is short-lived; the bound keeps a flood of them from holding
    // descriptors and memory without limit (Node closes the ones past it at once).
    server.maxConnections = this.maxStreams + 64;
    const closes = this.closes;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host, port }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    // close() ran while the port was being bound: it found no server to close, so the one bound
    // now would listen (and hold the process open) after its owner had shut down.
    if (this.closes !== closes) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      throw new MnemeError("ECLOSED", "the HTTP side was closed while it started listening");
    }
    this.server = server;
    this.svc.events.on("event", this.onEvent);
    const addr = server.address();
    return typeof addr === "object" && addr !== null ? addr.port : port;
  }

  async close(): Promise<void> {
    this.closes++;
    this.svc.events.off("event", this.onEvent);
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const res of this.streams) res.end();
    this.streams.clear();
    const server = this.server;
    this.server = null;
    if (server === null) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" });
      res.end("method not allowed\n");
      return;
    }
    // A request target URL cannot parse ("//", "http://[::1") is the client's mistake, not ours.
    const path = URL.parse(req.url ?? "/", "http://localhost")?.pathname;
    if (path === undefined) {
      res.writeHead(400, { "content-type": "text/plain" });
      res.end("bad request target\n");
      return;
    }
    if (path === "/metrics") {
      const text = await this.metrics.text();
      res.writeHead(200, { "content-type": this.metrics.contentType });
      res.end(req.method === "HEAD" ? undefined : text);
      return;
    }
    if (path === "/events") return this.subscribe(req, res);
    if (path === "/api/stats") return json(res, snapshot(this.svc, this.intervalMs));
    if (path === "/api/map") return json(res, arenaMap(this.svc));
    const file = this.files.get(path === "/" ? "index.html" : path.slice(1));
    if (file === undefined) {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found\n");
      return;
    }
    res.writeHead(200, { "content-type": file.type, "cache-control": "no-cache" });
    res.end(req.method === "HEAD" ? undefined : file.body);
  }

  private subscribe(req: IncomingMessage, res: ServerResponse): void {
    if (this.streams.size >= this.maxStreams) {
      const why = `too many event streams open (${this.maxStreams})`;
      // An EventSource (the dashboard) treats any status but 200 as final: a 503 left the page
      // saying "reconnecting…" for good. A stream that ends at once, with a retry delay, has it
      // try again in a second, until a stream leaves; other clients get the 503.
      if (req.headers.accept?.includes("text/event-stream") === true) {
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
        res.end(`retry: 1000\n: ${why}\n\n`);
        return;
      }
      res.writeHead(503, { "content-type": "text/plain", "retry-after": "1" });
      res.end(`${why}\n`);
      return;
    }
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
    });
    // HEAD gets the headers only: Node drops the body of a HEAD reply, so a stream would send
    // nothing (not even the headers) and stay open forever.
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    res.write("retry: 1000\n\n");
    this.send(
      res,
      "hello",
      JSON.stringify({ intervalMs: this.intervalMs, events: this.svc.events.recent() }),
    );
    const map = JSON.stringify(arenaMap(this.svc));
    // lastMap is what the open dashboards were sent: taking the newcomer's as theirs kept a change
    // made since the last check from them (the next check found nothing new).
    if (this.streams.size === 0) this.lastMap = map;
    this.send(res, "map", map);
    this.send(res, "stats", JSON.stringify(snapshot(this.svc, this.intervalMs)));
    this.streams.add(res);
    req.on("close", () => {
      this.streams.delete(res);
      if (this.streams.size === 0 && this.timer !== null) {
        clearInterval(this.timer);
        this.timer = null;
      }
    });
    if (this.timer === null) {
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.timer.unref();
    }
  }

  /**
   * One period: the figures always; the map at most once a second (a walk of every block and
   * handle: ~10 ms for 100,000 handles in a 256 MiB pool), and sent only when it changed.
   */
  private tick(): void {
    if (this.streams.size === 0) return;
    this.broadcast("stats", JSON.stringify(snapshot(this.svc, this.intervalMs)));
    if (++this.ticks * this.intervalMs < 1000) return;
    this.ticks = 0;
    const map = JSON.stringify(arenaMap(this.svc));
    if (map !== this.lastMap) {
      this.lastMap = map;
      this.broadcast("map", map);
    }
  }

  private broadcast(event: string, data: string): void {
    for (const res of this.streams) this.send(res, event, data);
  }

  /**
   * Drops a client that has left more than maxBufferedBytes unread: write() queues whatever the
   * socket cannot take, so a dashboard that stopped reading would otherwise grow the queue
   * without bound. Checked before the write, so that one big map to a client that keeps up is
   * not mistaken for a backlog. Dropped, an EventSource reconnects (retry: 1000) and starts
   * afresh from hello.
   */
  private send(res: ServerResponse, event: string, data: string): void {
    if (res.destroyed) return;
    if (res.writableLength > this.maxBufferedBytes) {
      this.streams.delete(res);
      res.destroy();
      return;
    }
    res.write(`event: ${event}\ndata: ${data}\n\n`);
  }
}

function json(res: ServerResponse, value: unknown): void {
  res.writeHead(200, { "content-type": "application/json", "cache-control": "no-cache" });
  res.end(JSON.stringify(value));
}
