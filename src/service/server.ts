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
 * Connection state (connection.ts): the identity (ACL user, "default" before/without AUTH),
 * whether it is authenticated, RESP version, name, the parse queue and its reply stream. Blocks
 * belong to the identity, so they survive the connection unless `freeOnClose` is set.
 */

import { timingSafeEqual } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { InvalidArgumentError, MnemeError } from "../errors.js";
import { ObserveServer } from "../observe/http.js";
import { CommandTimings } from "../observe/timings.js";
import { Mempool } from "../pool/mempool.js";
import { type Progress, startReplication } from "../replication/recovery.js";
import type { Replicator } from "../replication/replicator.js";
import { type ReplicationStats, replicationOff } from "../replication/stats.js";
import { type Capability, CapabilityTable } from "./capabilities.js";
import { COMMAND_NAMES } from "./commands.js";
import { resolveConfig, type ServiceConfig } from "./config.js";
import { Connection } from "./connection.js";
import { prepareDataDirectory } from "./data-dir.js";
import { ServiceEvents } from "./events.js";
import { MapRegions } from "./maps.js";
import { heldBytes, Quotas } from "./quotas.js";
import { ReplyBuffers } from "./reply-buffers.js";
import type { Reply } from "./resp.js";
import { WorkerPool } from "./workers.js";

/** How long a refused connection (past --max-clients) may stay open for its peer to read the error. */
const REJECT_GRACE_MS = 5000;
/** How long connections may take to answer what they received when the server stops. */
const SHUTDOWN_GRACE_MS = 5000;
/** Refused connections that may be open at once, telling their peers why. */
const REJECT_BURST = 1024;

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
  readonly caps: CapabilityTable;
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
    this.caps = new CapabilityTable({ trackConnections: this.config.freeOnClose });
    try {
      this.pool = Mempool.create(this.config.memory, { maxWorkers: Math.max(16, this.config.workers + 2) });
    } catch (e) {
      // A pool too small for its own structures failed with the heap's words about a size the
      // operator never gave ('invalid size 143648: exceeds the arena's 126976 usable bytes').
      if (!(e instanceof MnemeError)) throw e;
      throw new InvalidArgumentError(
        "memory",
        this.config.memory,
        `too small for the pool and its own structures (${e.message})`,
      );
    }
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
    prepareDataDirectory(this.config.data);
    // Replication (its file backend prepares its own directory): recover before the first client
    // can see the pool.
    if (this.config.replicate !== null) {
      this.replication = await startReplication(this, this.recoveryProgress);
      // Recovery charges the regions it maps no bytes: each identity is charged what it holds.
      this.quotas.recount(this.caps.all());
    }
    if (this.config.workers > 0) {
      this.workers = new WorkerPool(this.config.workers, this.pool, this.replyBuffers);
      await this.workers.ready();
    }
    const server = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.accept(socket));
    // Past this, Node closes new sockets without a word; below it, those past --max-clients are
    // told why (accept()). The margin is for a burst of them, each open until its peer has read
    // the error (Redis tells every one).
    server.maxConnections = this.config.maxClients + REJECT_BURST;
    this.server = server;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen({ host: this.config.host, port: this.config.port, backlog: 2048 }, () => {
          server.off("error", reject);
          resolve();
        });
      });
    } catch (e) {
      // The workers and the replication log started above stop with it.
      await this.close();
      throw listenError("RESP", this.config.host, this.config.port, e as Error);
    }
    const addr = server.address();
    this.port = typeof addr === "object" && addr !== null ? addr.port : this.config.port;
    if (this.config.http) {
      this.timings = new CommandTimings(COMMAND_NAMES);
      try {
        this.observer = new ObserveServer(this);
        this.httpPort = await this.observer.listen(this.config.host, this.config.httpPort);
      } catch (e) {
        await this.close();
        throw listenError("HTTP", this.config.host, this.config.httpPort, e as Error);
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
    const stopped = server ? new Promise<void>((resolve) => server.close(() => resolve())) : null;
    await this.closeConnections();
    if (stopped) await stopped;
    if (this.workers) await this.workers.close();
    this.workers = null;
    await this.replication?.close();
    await this.maps.close();
  }

  /**
   * Every connection answers what it has received and closes (Connection.shutdown); those still
   * open after SHUTDOWN_GRACE_MS (a client that does not read its replies) are cut.
   */
  private async closeConnections(): Promise<void> {
    const open = [...this.sockets].filter((s) => !s.destroyed);
    const connections = new Set([...this.clients.values()].map((c) => c.socket));
    for (const s of open) if (!connections.has(s)) s.destroy();
    for (const c of [...this.clients.values()]) c.shutdown();
    const closed = Promise.all(
      open.map((s) => (s.destroyed ? null : new Promise((r) => s.once("close", r)))),
    );
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise((r) => {
      timer = setTimeout(r, SHUTDOWN_GRACE_MS);
    });
    await Promise.race([closed, grace]);
    clearTimeout(timer);
    for (const s of this.sockets) s.destroy();
  }

  /**
   * Whether `pass` is the password of `user`. Without requirepass the default user has no
   * password (Redis's `nopass`): any password logs in as it, as Redis answers `AUTH default x`.
   */
  authenticate(user: string, pass: string): boolean {
    if (user === "default" && this.config.requirepass === null) return true;
    // Own properties only: a name like "constructor" must not find Object's members.
    const users = this.config.users;
    const expected =
      user === "default" ? this.config.requirepass : Object.hasOwn(users, user) ? users[user] : null;
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
   * Frees a block and revokes its handle (the block now, or when its worker jobs finish). For a MAP
   * region, see releaseRegion.
   */
  release(cap: Capability): Promise<void> {
    if (cap.kind === "map") return this.releaseRegion(cap);
    this.caps.revoke(cap);
    this.replication?.logFree(cap);
    // The identity no longer holds it, whether or not a worker still copies: refunded now, so
    // its next ALLOC is not refused for a block it freed (as inline, --workers 0).
    this.quotas.refund(cap.owner, heldBytes(cap));
    if (cap.inflight > 0) cap.freeing = true;
    else this.pool.heap.free(cap.address);
    return Promise.resolve();
  }

  /**
   * Unmaps a MAP region; resolves once it is unmapped: a file region's dirty pages are in its file
   * by then, so a region mapped on the same file afterwards reads them (not the file's older
   * bytes, which the late writeback then overwrote under it).
   *
   * The region's dirty pages are written back first, the region still mapped and its handle
   * hidden (a READ, WRITE or second FREE meanwhile gets the unknown-handle error). When that fails
   * (the store refused the writeback: a full disk, an I/O error) the handle comes back as it was,
   * the quota and the log untouched, and the promise rejects: the client is told and can retry,
   * rather than told OK while the bytes it wrote were never stored. Only then is the handle
   * revoked, the UNMAP logged and the region unmapped, in the order a checkpoint expects (one
   * taken meanwhile either holds the whole region, or none of it). Anonymous regions have nothing
   * to write back: their pages are discarded with the swap.
   */
  private async releaseRegion(cap: Capability): Promise<void> {
    if (cap.freeing) return;
    cap.freeing = true;
    try {
      await this.maps.syncRegion(cap.address, cap.size);
    } catch (e) {
      cap.freeing = false;
      throw e;
    }
    this.caps.revoke(cap);
    this.replication?.logFree(cap);
    this.quotas.refund(cap.owner, heldBytes(cap));
    // A writeback failing now (a WRITE that was already under way when the FREE came dirtied a
    // page again, and the store broke meanwhile) leaves the region mapped without a handle until
    // close; the FREE stands.
    await this.maps.unmap(cap.address).catch(() => {
      this.maps.orphaned++;
    });
  }

  /** A job finished using these blocks. */
  unpin(caps: Capability[]): void {
    for (const cap of caps) {
      cap.inflight--;
      if (cap.inflight === 0 && cap.freeing) this.pool.heap.free(cap.address);
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

  /**
   * CLIENT LIST for a connection of `identity`: every connection for the default user (the
   * server's operator), only its own identity's for an ACL user, so that one tenant does not learn
   * another's addresses, names and libraries.
   */
  describeClients(identity: string): string {
    let out = "";
    for (const c of this.clients.values())
      if (identity === "default" || c.identity === identity) out += `${c.describe()}\n`;
    return out;
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
      // Its input is read and dropped, so that the peer's close ends the socket: unread, the
      // socket stayed open for good, and past REJECT_BURST of them every new connection was cut
      // without a word. A peer that does not close is cut after a grace period.
      socket.resume();
      socket.setTimeout(REJECT_GRACE_MS, () => socket.destroy());
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
    for (const cap of this.caps.takeMadeBy(conn.id)) void this.release(cap);
  }
}

/**
 * A port that cannot be listened on, saying which of the two it is (`--port` or `--http-port`)
 * and why, with the system's code ("cannot serve HTTP on 127.0.0.1:6390: EADDRINUSE: address
 * already in use").
 */
function listenError(what: "RESP" | "HTTP", host: string, port: number, e: Error): MnemeError {
  const code = (e as NodeJS.ErrnoException).code ?? "ELISTEN";
  const why = e.message.replace(/^listen /, "").replace(/ \S+:\d+$/, "");
  return new MnemeError(code, `cannot serve ${what} on ${host}:${port}: ${why}`);
}
