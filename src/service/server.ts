/**
 * The memory service: a RESP server over the shared pool (LegoOS memory manager).
 *
 *   socket ─data─► RequestParser ─► queue ─drain─► dispatch ─► ReplyStream (reply buffers) ─► socket
 *                                     │                  │
 *                                     │                  └─ READ/WRITE: inline, or a job for a worker
 *                                     └─ stalls (socket paused) when the reply buffers are short
 *
 * One I/O thread (the poller) owns every socket, parses requests, checks capabilities and
 * quotas, and runs the commands. With `workers > 0`, the memory copies of READ and WRITE are
 * handed to worker threads over the shared pool (workers.ts); a connection with a job out waits
 * for it before running its next command, so its replies stay in order.
 *
 * Connection state: the identity (ACL user, "default" before/without AUTH), whether it is
 * authenticated, RESP version, name, the parse queue and its reply stream. Blocks belong to the
 * identity, so they survive the connection unless `freeOnClose` is set.
 */

import { timingSafeEqual } from "node:crypto";
import { mkdirSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { ObserveServer } from "../observe/http.js";
import { CommandTimings } from "../observe/timings.js";
import { Mempool } from "../pool/mempool.js";
import { type Progress, startReplication } from "../replication/recovery.js";
import type { Replicator } from "../replication/replicator.js";
import { type ReplicationStats, replicationOff } from "../replication/stats.js";
import { copyBytes } from "../util/shared-bytes.js";
import { type Capability, CapabilityTable } from "./capabilities.js";
import { COMMAND_NAMES, dispatch, parseCount } from "./commands.js";
import { resolveConfig, type ServiceConfig } from "./config.js";
import { ServiceEvents } from "./events.js";
import { MapRegions } from "./maps.js";
import { Quotas } from "./quotas.js";
import { ReplyBuffers, ReplyStream } from "./reply-buffers.js";
import { encode, ProtocolError, type Reply, RequestParser } from "./resp.js";
import { type Job, WorkerPool } from "./workers.js";

export interface Counters {
  connections: number;
  rejected: number;
  commands: number;
  protocolErrors: number;
  allocs: number;
  frees: number;
  reads: number;
  writes: number;
  bytesRead: number;
  bytesWritten: number;
  workerJobs: number;
}

/** Every layer's figures in one plain object: STATS, INFO, /metrics and the dashboard read this. */
export interface ServiceStats {
  pool: ReturnType<Mempool["stats"]>;
  heap: ReturnType<Mempool["heap"]["stats"]>;
  maps: Record<string, number>;
  replyBuffers: ReturnType<ReplyBuffers["stats"]>;
  counters: Counters;
  clients: number;
  handles: number;
  uptimeMs: number;
  replication: ReplicationStats;
}

export class Service {
  readonly config: ServiceConfig;
  readonly pool: Mempool;
  /** MAP regions (pageable, backed by the vm layer). */
  readonly maps: MapRegions;
  readonly caps = new CapabilityTable();
  readonly quotas: Quotas;
  readonly replyBuffers: ReplyBuffers;
  readonly counters: Counters = {
    connections: 0,
    rejected: 0,
    commands: 0,
    protocolErrors: 0,
    allocs: 0,
    frees: 0,
    reads: 0,
    writes: 0,
    bytesRead: 0,
    bytesWritten: 0,
    workerJobs: 0,
  };
  readonly started = Date.now();
  /** What happened (reclaim, throttling, OOM kills, recoveries, replication), newest last. */
  readonly events = new ServiceEvents();
  /** The replication layer, when a backend is configured (`--replicate`); set by listen(). */
  replication: Replicator | null = null;
  /** Called during a recovery on listen() with bytes of log read so far and in all. */
  recoveryProgress: Progress | undefined = undefined;
  readonly clients = new Map<number, Connection>();
  workers: WorkerPool | null = null;
  port = 0;
  /** The HTTP side (dashboard, /metrics) while it runs (config.http), and its port. */
  observer: ObserveServer | null = null;
  httpPort = 0;
  /** Per-command service times for /metrics; null (and free) while HTTP is off. */
  timings: CommandTimings | null = null;
  private nextId = 1;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();

  constructor(config: Partial<ServiceConfig> = {}) {
    this.config = resolveConfig(config);
    this.pool = Mempool.create(this.config.memory, { maxWorkers: Math.max(16, this.config.workers + 2) });
    this.maps = new MapRegions(this.config.data, this.config.mapFrames, this.events, {
      dirtyLow: this.config.mapDirtyLow,
      dirtyHigh: this.config.mapDirtyHigh,
      flushInterval: this.config.mapFlushInterval,
      minFree: this.config.mapMinFree,
    });
    this.quotas = new Quotas({ bytes: this.config.quotaBytes, handles: this.config.quotaHandles });
    this.replyBuffers = new ReplyBuffers(this.config.replyBuffers, this.config.replyBufferSize);
  }

  stats(): ServiceStats {
    return {
      pool: this.pool.stats(),
      heap: this.pool.heap.stats(),
      maps: this.maps.stats(),
      replyBuffers: this.replyBuffers.stats(),
      counters: { ...this.counters },
      clients: this.clients.size,
      handles: this.caps.size,
      uptimeMs: Date.now() - this.started,
      replication: this.replication?.stats() ?? replicationOff(this.config.replicationBatch),
    };
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Starts the worker threads and listens; resolves with the port. */
  async listen(): Promise<number> {
    mkdirSync(this.config.data, { recursive: true });
    // Replication: recover before the first client can see the pool.
    if (this.config.replicate !== null)
      this.replication = await startReplication(this, this.recoveryProgress);
    if (this.config.workers > 0) {
      this.workers = new WorkerPool(this.config.workers, this.pool, this.replyBuffers);
      await this.workers.ready();
    }
    const server = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.accept(socket));
    server.maxConnections = this.config.maxClients + 64;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: this.config.host, port: this.config.port, backlog: 2048 }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const addr = server.address();
    this.port = typeof addr === "object" && addr !== null ? addr.port : this.config.port;
    if (this.config.http) {
      this.timings = new CommandTimings(COMMAND_NAMES);
      try {
        this.observer = new ObserveServer(this);
        this.httpPort = await this.observer.listen(this.config.host, this.config.httpPort);
      } catch (e) {
        await this.close();
        throw e;
      }
    }
    return this.port;
  }

  /** Stops listening, closes every connection and the workers; the pool is released. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    const observer = this.observer;
    this.observer = null;
    if (observer) await observer.close();
    for (const s of [...this.sockets]) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (this.workers) await this.workers.close();
    this.workers = null;
    await this.replication?.close();
    await this.maps.close();
  }

  authenticate(user: string, pass: string): boolean {
    const expected = user === "default" ? this.config.requirepass : (this.config.users[user] ?? null);
    if (expected === null) return false;
    const a = Buffer.from(pass);
    const b = Buffer.from(expected);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** Whether a new connection starts authenticated (no password for the default user). */
  get openByDefault(): boolean {
    return this.config.requirepass === null;
  }

  /**
   * Frees a block whose handle was revoked (now, or when its worker jobs finish). For a MAP region,
   * resolves once it is unmapped: a file region's dirty pages are in its file by then, so a region
   * mapped on the same file afterwards reads them (not the file's older bytes, which the late
   * writeback then overwrote under it).
   */
  release(cap: Capability): Promise<void> {
    this.caps.revoke(cap);
    this.replication?.logFree(cap);
    if (cap.kind === "map") {
      this.quotas.refund(cap.owner, cap.charged);
      return this.maps.unmap(cap.address).catch(() => {});
    }
    if (cap.inflight > 0) cap.freeing = true;
    else {
      this.pool.heap.free(cap.address);
      this.quotas.refund(cap.owner, cap.charged);
    }
    return Promise.resolve();
  }

  /** A job finished using these blocks. */
  unpin(caps: Capability[]): void {
    for (const cap of caps) {
      cap.inflight--;
      if (cap.inflight === 0 && cap.freeing) {
        this.pool.heap.free(cap.address);
        this.quotas.refund(cap.owner, cap.charged);
      }
    }
  }

  configValues(): [string, Reply][] {
    const c = this.config;
    return [
      ["save", ""],
      ["appendonly", c.replicate === null ? "no" : "yes"],
      ["appendfsync", c.appendfsync],
      ["databases", "1"],
      ["port", String(this.port)],
      ["bind", c.host],
      ["maxclients", String(c.maxClients)],
      ["maxmemory", String(c.memory)],
      ["proto-max-bulk-len", String(c.maxBulk)],
      ["dir", c.data],
      ["pollers", String(c.pollers)],
      ["workers", String(c.workers)],
      ["reply-buffers", String(c.replyBuffers)],
      ["replication-batch", String(c.replicationBatch)],
      ["map-frames", String(c.mapFrames)],
      ["map-dirty-low", String(c.mapDirtyLow)],
      ["map-dirty-high", String(c.mapDirtyHigh)],
      ["map-flush-interval", String(c.mapFlushInterval)],
      ["map-min-free", String(c.mapMinFree)],
      ["replicate", c.replicate ?? ""],
    ];
  }

  describeClients(): string {
    return [...this.clients.values()].map((c) => `${c.describe()}\n`).join("");
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
    if (this.server === null) {
      socket.destroy();
      return;
    }
    if (this.clients.size >= this.config.maxClients) {
      this.counters.rejected++;
      socket.on("error", () => {});
      socket.end("-ERR max number of clients reached\r\n");
      return;
    }
    this.counters.connections++;
    const conn = new Connection(this, this.nextId++, socket);
    this.clients.set(conn.id, conn);
  }

  /** A connection is gone: its blocks stay with the identity unless freeOnClose. */
  closed(conn: Connection): void {
    this.clients.delete(conn.id);
    if (this.config.freeOnClose) {
      for (const cap of this.caps.madeBy(conn.id, "anon")) void this.release(cap);
    }
    this.caps.orphan(conn.id);
  }
}

export class Connection {
  readonly id: number;
  readonly socket: Socket;
  readonly stream: ReplyStream;
  identity = "default";
  authed: boolean;
  proto: 2 | 3 = 2;
  name = "";
  readonly libInfo: Record<string, string> = {};
  /** For CLIENT INFO's age and idle (ms since the epoch). */
  readonly since = Date.now();
  lastActive = this.since;
  /** The last command run, Redis style ("client|info" for a subcommand); CLIENT INFO's cmd. */
  lastCommand = "NULL";
  private readonly svc: Service;
  private readonly parser: RequestParser;
  private queue: Buffer[][] = [];
  private head = 0;
  private stalled = false;
  private closing = false;
  private quitting = false;
  /** A protocol error, answered after the replies of the commands before it; then the close. */
  private lastWords: string | null = null;
  private gone = false;
  /** Worker job being assembled / out. */
  private job: Job | null = null;
  private jobOut = false;
  /** An asynchronous command (MAP regions) is running: later commands wait for its reply. */
  private asyncOut = false;
  /** A reply waiting for reply buffers (hold), as registered with them; later commands wait for it. */
  private held: (() => boolean) | null = null;
  private readonly resume = () => this.unstall();

  constructor(svc: Service, id: number, socket: Socket) {
    this.svc = svc;
    this.id = id;
    this.socket = socket;
    this.authed = svc.openByDefault;
    const share = Math.max(2, Math.floor(svc.replyBuffers.count / 2));
    this.stream = new ReplyStream(svc.replyBuffers, socket, share);
    this.parser = new RequestParser({
      maxBulk: svc.config.maxBulk,
      maxArgs: svc.config.maxArgs,
      maxInline: svc.config.maxInline,
    });
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", () => {});
    socket.on("close", () => this.onClose());
    socket.on("end", () => {
      // Half-close from the client: finish what was asked, then close.
      this.closing = true;
      if (!this.busy()) this.socket.end();
    });
  }

  login(user: string): void {
    this.identity = user;
    this.authed = true;
  }

  reset(): void {
    this.proto = 2;
    this.name = "";
    this.identity = "default";
    this.authed = this.svc.openByDefault;
  }

  /**
   * A CLIENT INFO / CLIENT LIST line with Redis 7's fields that mean something here (clients such
   * as node-redis parse fd, age, idle, db, ... as numbers). No pub/sub, MULTI or WATCH: those are 0
   * or -1 as Redis shows them for a client that uses none.
   */
  describe(): string {
    const s = this.socket;
    const now = Date.now();
    // Node exposes a socket's descriptor only on its internal handle; -1 (Redis's "none") without.
    const fd = (s as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
    return (
      `id=${this.id} addr=${s.remoteAddress ?? "?"}:${s.remotePort ?? 0} ` +
      `laddr=${s.localAddress ?? "?"}:${s.localPort ?? 0} fd=${fd} name=${this.name} ` +
      `age=${Math.floor((now - this.since) / 1000)} idle=${Math.floor((now - this.lastActive) / 1000)} ` +
      `flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 watch=0 cmd=${this.lastCommand} user=${this.identity} ` +
      `redir=-1 resp=${this.proto} lib-name=${this.libInfo["lib-name"] ?? ""} lib-ver=${this.libInfo["lib-ver"] ?? ""}`
    );
  }

  /** Encodes a reply value into the stream; one the reply buffers cannot take now waits for them (hold). */
  reply(value: Reply): undefined {
    if (typeof value === "object" && value !== null && "error" in value) {
      const s = `-${value.error.replace(/[\r\n]/g, " ")}\r\n`;
      if (this.stream.fits(s.length)) this.stream.ascii(s);
      else this.hold(Buffer.from(s, "latin1"));
      return;
    }
    const b = encode(value, this.proto);
    if (this.stream.fits(b.length)) this.stream.bytes(b);
    else this.hold(b);
  }

  /**
   * A reply larger than what the reply buffers have left for this connection: an asynchronous
   * command's, finished after other connections took the slots that were free when it started, or
   * one whose size is known only once it ran (INFO, CLIENT LIST, past the one slot replyBound
   * assumes). It goes out in pieces as slots come back; the commands after it wait, as behind a
   * stall. Writing it at once took slots that were not there: an exception that ended the server.
   */
  private hold(bytes: Buffer): void {
    let at = 0;
    const more = (): boolean => {
      const n = Math.min(bytes.length - at, this.stream.writable());
      this.stream.bytes(bytes, at, n);
      at += n;
      if (at < bytes.length) {
        // What it wrote goes out (its slots come back), unless READs of a job are still unfilled.
        if (n > 0 && !this.unfilled()) this.stream.flush();
        return false;
      }
      this.held = null;
      this.proceed();
      return true;
    };
    this.held = more;
    more();
    this.svc.replyBuffers.wait(more);
  }

  closeAfterReply(): void {
    this.closing = true;
    this.quitting = true;
  }

  writeBlock(cap: Capability, offset: number, data: Buffer): void {
    if (this.svc.workers === null) {
      copyBytes(this.svc.pool.view(cap.address + offset, data.length), 0, data);
      this.stream.ascii(`:${data.length}\r\n`);
      return;
    }
    this.jobFor().write(cap, offset, data);
    this.stream.ascii(`:${data.length}\r\n`);
  }

  /**
   * Copies a WRITE's bytes now (its reply is written by the caller), unless READs and WRITEs of
   * this connection wait in the job being assembled: then it is the job's next operation, so a
   * READ before it does not see it (copied at once, it landed before the worker ran that READ).
   */
  writeNow(cap: Capability, offset: number, data: Buffer): void {
    if (this.job !== null && !this.job.empty) this.job.write(cap, offset, data);
    else copyBytes(this.svc.pool.view(cap.address + offset, data.length), 0, data);
  }

  readBlock(cap: Capability, offset: number, length: number): void {
    this.stream.ascii(`$${length}\r\n`);
    if (this.svc.workers === null) {
      this.stream.bytes(this.svc.pool.view(cap.address + offset, length));
    } else {
      this.jobFor().read(cap, offset, this.stream.reserve(length));
    }
    this.stream.ascii("\r\n");
  }

  private jobFor(): Job {
    if (this.job === null) this.job = this.svc.workers!.job();
    return this.job;
  }

  private busy(): boolean {
    return (
      this.jobOut || this.asyncOut || this.held !== null || this.stalled || this.head < this.queue.length
    );
  }

  /** Whether the stream holds READ bytes a worker has yet to copy in (it must not be sent yet). */
  private unfilled(): boolean {
    return this.jobOut || (this.job !== null && !this.job.empty);
  }

  /** An asynchronous step finished: the queued commands run, or the replies go out. */
  private proceed(): void {
    // With a job out, its READ bytes are not in the stream yet: its completion sends and goes on.
    if (this.jobOut) return;
    if (!this.stalled && this.head < this.queue.length) this.drain();
    else this.afterBatch();
  }

  /**
   * Runs an asynchronous command: the replies before it go out, the commands after it wait, and
   * its reply (or its error as a Redis error) takes its place in order.
   */
  defer(work: Promise<Reply>): undefined {
    this.asyncOut = true;
    work
      .then(
        (value) => value,
        (e: unknown) => ({ error: `ERR ${e instanceof Error ? e.message : String(e)}` }) as Reply,
      )
      .then((value) => {
        this.asyncOut = false;
        if (this.gone) {
          if (!this.jobOut) this.stream.detach();
          return;
        }
        this.reply(value);
        if (this.held === null) this.proceed();
      });
    return undefined;
  }

  private onData(chunk: Buffer): void {
    if (this.closing || this.gone) return;
    this.lastActive = Date.now();
    try {
      this.parser.feed(chunk, (args) => this.queue.push(args));
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.svc.counters.protocolErrors++;
      // Commands before the bad frame still run (after a job or an asynchronous command that is
      // out, when it is done); then the error, then the connection closes (afterBatch).
      this.closing = true;
      this.lastWords = e.message;
      this.drain();
      return;
    }
    if (this.queue.length - this.head > this.svc.config.maxPipeline) {
      // The pipeline is refused whole: none of its commands run.
      this.queue = [];
      this.head = 0;
      this.closing = true;
      this.lastWords = `ERR Protocol error: more than ${this.svc.config.maxPipeline} commands pipelined`;
      if (!this.busy()) this.afterBatch();
      return;
    }
    this.drain();
  }

  /** The worst-case reply size of a command before it runs (for backpressure). */
  private replyBound(args: Buffer[]): number {
    const small = this.svc.replyBuffers.slotSize;
    const n = args[0].length;
    if (n === 4 && args.length === 4 && (args[0][0] | 32) === 114 /* r */) {
      const len = parseCount(args[3]);
      return len > 0 ? Math.min(len, this.svc.config.maxBulk) + 32 : small;
    }
    if (args.length === 2 && n === 4 && (args[0][0] | 32) === 101 /* e */) return args[1].length + 32;
    if (args.length === 2 && n === 4 && (args[0][0] | 32) === 112 /* p */) return args[1].length + 32;
    return small;
  }

  /** Runs queued commands while reply buffers allow; flushes; stalls when they do not. */
  private drain(): void {
    if (this.jobOut || this.asyncOut || this.held !== null || this.gone) return;
    const q = this.queue;
    while (this.head < q.length) {
      const args = q[this.head];
      if (!this.stream.fits(this.replyBound(args))) {
        this.stall();
        break;
      }
      this.head++;
      this.svc.counters.commands++;
      dispatch(this.svc, this, args);
      if (this.quitting) {
        this.queue = [];
        this.head = 0;
        break;
      }
      if (this.asyncOut || this.held !== null) break;
    }
    if (this.head === q.length && q === this.queue) {
      this.queue = [];
      this.head = 0;
    }
    const job = this.job;
    if (job !== null && !job.empty) {
      this.job = null;
      this.jobOut = true;
      this.svc.counters.workerJobs++;
      this.svc.workers!.submit(job, () => {
        this.jobOut = false;
        this.svc.unpin(job.caps);
        this.afterBatch();
        if (!this.gone && this.head < this.queue.length && !this.stalled) this.drain();
      });
      return;
    }
    this.afterBatch();
  }

  private afterBatch(): void {
    if (this.closing && !this.busy()) {
      const message = this.lastWords;
      this.lastWords = null;
      if (message !== null && this.stream.fits(message.length + 3)) this.stream.ascii(`-${message}\r\n`);
      this.stream.flush();
      this.socket.end();
      return;
    }
    this.stream.flush();
  }

  private stall(): void {
    if (this.stalled) return;
    this.stalled = true;
    this.socket.pause();
    this.svc.replyBuffers.wait(this.resume);
  }

  private unstall(): boolean {
    if (this.gone) return true;
    const args = this.queue[this.head];
    if (args !== undefined && !this.stream.fits(this.replyBound(args))) return false;
    this.stalled = false;
    if (!this.closing) this.socket.resume();
    this.drain();
    return true;
  }

  private onClose(): void {
    if (this.gone) return;
    this.gone = true;
    this.queue = [];
    this.head = 0;
    this.svc.replyBuffers.forget(this.resume);
    if (this.held !== null) this.svc.replyBuffers.forget(this.held);
    this.held = null;
    if (!this.jobOut && !this.asyncOut) this.stream.detach();
    this.svc.closed(this);
  }
}
