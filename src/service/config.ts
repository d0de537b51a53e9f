/**
 * The service's tunables, in one table (defaults, units, meaning, validation). `mneme serve`
 * maps its options onto these; INFO reports every one of them.
 *
 * | option          | default        | unit    | meaning                                                    |
 * |-----------------|----------------|---------|------------------------------------------------------------|
 * | host            | 127.0.0.1      |         | address to bind (loopback unless told otherwise)           |
 * | port            | 6389           |         | RESP port (0 = any free port)                              |
 * | http            | false          |         | serve the dashboard and /metrics (`mneme serve` turns it on) |
 * | httpPort        | 6390           |         | HTTP port of the dashboard and /metrics (0 = any free port) |
 * | data            | ./mneme-data   | path    | directory for file-backed maps and replication             |
 * | memory          | 256 MiB        | bytes   | size of the shared pool that holds every allocation       |
 * | pollers         | 1              | threads | I/O threads reading sockets (only 1 in this version)       |
 * | workers         | 0              | threads | worker threads executing READ/WRITE; 0 = inline on I/O    |
 * | replyBuffers    | 2048           | slots   | fixed pool of reply buffers (backpressure when all used)   |
 * | replyBufferSize | 16 KiB         | bytes   | size of one reply buffer                                   |
 * | maxBulk         | 16 MiB         | bytes   | largest bulk string in a request and largest READ          |
 * | maxArgs         | 1048576        | args    | most arguments in one command                              |
 * | maxInline       | 64 KiB         | bytes   | longest inline command / header line                       |
 * | maxPipeline     | 100000         | cmds    | commands parsed but not yet run, per connection            |
 * | maxClients      | 10000          | conns   | connections at once; more get "max number of clients"      |
 * | quotaBytes      | 0 (no limit)   | bytes   | bytes one identity may hold: blocks, MAP regions in pages  |
 * | quotaHandles    | 1048576        | handles | handles one identity may hold                              |
 * | mapFrames       | 1024           | frames  | resident pages (4 KiB) for all MAP regions together         |
 * | mapDirtyLow     | 0.3            | ratio   | MAP page cache: background writeback above this            |
 * | mapDirtyHigh    | 0.6            | ratio   | MAP page cache: writers throttled above this               |
 * | mapFlushInterval | 30000          | ms      | MAP page cache: flusher wake-up (and dirty expiry)         |
 * | mapMinFree      | derived        | frames  | MAP frames kept free (min watermark); 0 = frames/64        |
 * | requirepass     | none           |         | password of the default user; nothing but AUTH/HELLO before |
 * |                 |                |         | it, in requests of at most 10 words of 16 KiB (as Redis)   |
 * | users           | none           |         | extra ACL users name:password (each its own identity)      |
 * | freeOnClose     | false          |         | free a connection's anonymous blocks when it closes        |
 * | replicate       | none           |         | file, file:DIR or redis://HOST:PORT[/NAME]; none = off     |
 * | replicationBatch| 32             | pages   | dirty pages per BATCH record in the log                    |
 * | replicationDelay| 100            | ms      | longest a partial batch waits before it is cut             |
 * | replicationBacklog| 64 MiB       | bytes   | log queued for storage before changing commands wait       |
 * | appendfsync     | batch          |         | always / batch / everysec (docs/replication.md)            |
 * | replicateVma    | true           |         | log ALLOC/FREE/MAP/UNMAP (off: only checkpoints know them) |
 * | checkpointSize  | 64 MiB         | bytes   | log written before a checkpoint lets the old log go        |
 * | segmentSize     | 256 MiB        | bytes   | log segment file size before rotating (file backend)       |
 * | recoverSkipCorrupt | false       |         | skip damaged records mid-log instead of refusing to start  |
 */
import { InvalidArgumentError } from "../errors.js";
import { FSYNC_POLICIES, type FsyncPolicy } from "../replication/backend.js";
import { parseTarget } from "../replication/target.js";

export interface ServiceConfig {
  host: string;
  port: number;
  /** Serve the dashboard and /metrics on httpPort (off for an embedded Service unless asked). */
  http: boolean;
  httpPort: number;
  data: string;
  memory: number;
  pollers: number;
  workers: number;
  replyBuffers: number;
  replyBufferSize: number;
  maxBulk: number;
  maxArgs: number;
  maxInline: number;
  maxPipeline: number;
  maxClients: number;
  quotaBytes: number;
  quotaHandles: number;
  mapFrames: number;
  mapDirtyLow: number;
  mapDirtyHigh: number;
  mapFlushInterval: number;
  mapMinFree: number;
  requirepass: string | null;
  users: Record<string, string>;
  freeOnClose: boolean;
  replicate: string | null;
  replicationBatch: number;
  replicationDelay: number;
  replicationBacklog: number;
  appendfsync: FsyncPolicy;
  replicateVma: boolean;
  checkpointSize: number;
  segmentSize: number;
  recoverSkipCorrupt: boolean;
}

export const DEFAULTS: ServiceConfig = {
  host: "127.0.0.1",
  port: 6389,
  http: false,
  httpPort: 6390,
  data: "./mneme-data",
  memory: 256 * 1024 * 1024,
  pollers: 1,
  workers: 0,
  replyBuffers: 2048,
  replyBufferSize: 16 * 1024,
  maxBulk: 16 * 1024 * 1024,
  maxArgs: 1024 * 1024,
  maxInline: 64 * 1024,
  maxPipeline: 100_000,
  maxClients: 10_000,
  quotaBytes: 0,
  quotaHandles: 1024 * 1024,
  mapFrames: 1024,
  mapDirtyLow: 0.3,
  mapDirtyHigh: 0.6,
  mapFlushInterval: 30_000,
  mapMinFree: 0,
  requirepass: null,
  users: {},
  freeOnClose: false,
  replicate: null,
  replicationBatch: 32,
  replicationDelay: 100,
  replicationBacklog: 64 * 1024 * 1024,
  appendfsync: "batch",
  replicateVma: true,
  checkpointSize: 64 * 1024 * 1024,
  segmentSize: 256 * 1024 * 1024,
  recoverSkipCorrupt: false,
};

/** Defaults filled in and every field validated. */
export function resolveConfig(partial: Partial<ServiceConfig>): ServiceConfig {
  const c: ServiceConfig = { ...DEFAULTS, ...partial };
  const int = (name: keyof ServiceConfig, min: number, max = Number.MAX_SAFE_INTEGER) => {
    const v = c[name];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
      throw new InvalidArgumentError(name, v, `must be an integer from ${min} to ${max}`);
    }
  };
  // An empty host is every interface to Node, not "loopback unless told otherwise"; an empty data
  // directory is the working directory. Neither is what an empty MNEME_HOST / --data "" meant.
  for (const name of ["host", "data"] as const) {
    if (typeof c[name] !== "string" || c[name].trim() === "")
      throw new InvalidArgumentError(name, c[name], "must not be empty");
  }
  int("port", 0, 65535);
  if (typeof c.http !== "boolean") throw new InvalidArgumentError("http", c.http, "must be true or false");
  int("httpPort", 0, 65535);
  int("memory", 64 * 1024);
  int("pollers", 1, 1);
  int("workers", 0, 64);
  int("replyBuffers", 4, 1 << 20);
  int("replyBufferSize", 1024, 16 * 1024 * 1024);
  int("maxBulk", 1, 512 * 1024 * 1024);
  int("maxArgs", 1);
  int("maxInline", 64);
  int("maxPipeline", 1);
  int("maxClients", 1);
  int("quotaBytes", 0);
  int("quotaHandles", 1);
  int("mapFrames", 4, 1 << 24);
  for (const name of ["mapDirtyLow", "mapDirtyHigh"] as const) {
    const v = c[name];
    if (typeof v !== "number" || !(v > 0 && v < 1))
      throw new InvalidArgumentError(name, v, "must be a ratio between 0 and 1");
  }
  if (c.mapDirtyLow >= c.mapDirtyHigh)
    throw new InvalidArgumentError(
      "mapDirtyLow",
      c.mapDirtyLow,
      `must be below mapDirtyHigh (${c.mapDirtyHigh})`,
    );
  int("mapFlushInterval", 10, 24 * 3600 * 1000);
  int("mapMinFree", 0, Math.floor(c.mapFrames / 4));
  int("replicationBatch", 1, 1 << 20);
  int("replicationDelay", 1, 60_000);
  int("replicationBacklog", 64 * 1024);
  int("checkpointSize", 4096);
  int("segmentSize", 4096, 1 << 30);
  if (!FSYNC_POLICIES.includes(c.appendfsync))
    throw new InvalidArgumentError(
      "appendfsync",
      c.appendfsync,
      `must be one of ${FSYNC_POLICIES.join(", ")}`,
    );
  if (c.replicate !== null) parseTarget(c.replicate, c.data);
  if (Math.ceil((c.maxBulk + 64) / c.replyBufferSize) > c.replyBuffers) {
    throw new InvalidArgumentError(
      "maxBulk",
      c.maxBulk,
      `a READ that large would not fit in the reply buffers (${c.replyBuffers} x ${c.replyBufferSize} bytes)`,
    );
  }
  if (c.requirepass !== null && typeof c.requirepass !== "string")
    throw new InvalidArgumentError("requirepass", c.requirepass, "must be a string or null");
  // Redis reads an empty requirepass as none; here it would lock the default user behind a
  // password that clients (ioredis, redis-cli) never send. Omitted means none.
  if (c.requirepass === "")
    throw new InvalidArgumentError("requirepass", c.requirepass, "must not be empty (leave it out for none)");
  for (const [name, password] of Object.entries(c.users)) {
    if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(name) || name === "default") {
      throw new InvalidArgumentError("user", name, "names are 1-64 of A-Z a-z 0-9 _ . @ - and not 'default'");
    }
    if (typeof password !== "string") {
      throw new InvalidArgumentError(`password of user ${name}`, password, "must be a string");
    }
    // As requirepass: '--user alice:$ALICE_PW' with the variable unset made alice a user
    // anyone could log in as, with an empty password.
    if (password === "")
      throw new InvalidArgumentError(`password of user ${name}`, password, "must not be empty");
  }
  return c;
}
