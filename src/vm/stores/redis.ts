/**
 * RedisStore: pages kept in a Redis server (or a Redis Cluster) as one string key per page, for
 * far memory beyond one machine.
 *
 *     key  <prefix>:<byte offset>   value: the page's bytes (a missing key reads as zeros,
 *                                           a short value is zero-padded)
 *
 * Writeback uses SETRANGE at 0, so writing a page's dirty prefix keeps the rest of the value, as
 * the Store contract asks. Reads of a read-ahead batch go out together through ioredis's
 * auto-pipelining, which also works across Cluster slots (keys of neighbouring pages land on
 * different nodes, which spreads the load). Commands are not retried forever: a server that is
 * gone fails the operation with StoreError after `maxRetriesPerRequest`, and one that stops
 * answering after `commandTimeout` (5 s by default; `redisOptions` overrides both).
 *
 * Pages of one prefix are of one size: a page of another size would read the wrong keys (a
 * 4 KiB page at offset 4096 is key <prefix>:4096, but inside the value of <prefix>:0 for 8 KiB
 * pages). The first store to use a prefix records its page size at <prefix>:pagesize; a store
 * of another page size fails its first read or write with StoreError, and a store object refuses
 * a second page size at map() (attach). clear() removes the record with the pages.
 *
 * Without a `prefix` a store takes a prefix of its own (`mneme:anon:<16 hex digits>`), like
 * anonymous memory: two stores made with just `{ url }` never share keys, a fresh store reads
 * zeros whatever earlier runs left on the server, and close() deletes its keys (nobody else can
 * name them). Give a `prefix` to keep pages past close() or share them with a later store.
 *
 * An outage is not the end of the store. Once its reconnect attempts run out, ioredis ends the
 * connection for good and fails every later command at once; the store's own client is then
 * connected again by the next operation, so a server that comes back (restarted, failed over)
 * serves the dirty pages that waited for it. Only close() ends the store.
 */
import { randomBytes } from "node:crypto";
import { Cluster, type ClusterNode, Redis, type RedisOptions } from "ioredis";
import { InvalidArgumentError } from "../../errors.js";
import { fillBytes } from "../../util/shared-bytes.js";
import { type Store, StoreError, samePageSize, zeroTail } from "./store.js";

export interface RedisStoreOptions {
  /** `redis://host:port/db` of a single server. */
  url?: string;
  /** Seed nodes of a Redis Cluster (instead of `url`). */
  cluster?: ClusterNode[];
  /** An existing client (Redis or Cluster); the store does not close it. */
  client?: Redis | Cluster;
  /**
   * Key prefix: the pages outlive the store and a later store of the same prefix reads them. By
   * default a prefix of the store's own, whose keys close() deletes.
   */
  prefix?: string;
  /** Passed to ioredis (merged over the store's defaults). */
  redisOptions?: RedisOptions;
}

type Client = Redis | Cluster;

/** What follows the prefix in a page key: ":" and a byte offset. */
const PAGE_SUFFIX = /^:\d+$/;

/** `text` as a Redis glob pattern that matches only itself. */
function globEscape(text: string): string {
  return text.replace(/[\\*?[\]^-]/g, "\\$&");
}

export class RedisStore implements Store {
  readonly description: string;
  /**
   * The server, database and prefix (Store.identity): two stores given one server and prefix name
   * the same keys, so one address space must not cache them through both. Unknown for a cluster
   * (its seed nodes do not name it).
   */
  readonly identity: string | undefined;
  readonly prefix: string;
  readonly client: Client;
  private readonly ownsClient: boolean;
  private closed = false;
  /** The prefix is the store's own (none given): close() deletes its keys. */
  private readonly temporary: boolean;
  private cleared = false;
  /** The page size of the mappings (attach), and whether the prefix's record agrees with it. */
  private pageSize = 0;
  private sized = false;
  private sizing: Promise<void> | undefined;
  private reads = 0;
  private writes = 0;

  constructor(options: RedisStoreOptions) {
    if (options === null || typeof options !== "object") {
      throw new InvalidArgumentError("options", options, "must be an object with url, cluster or client");
    }
    const { url, cluster, client, redisOptions = {} } = options;
    this.temporary = options.prefix === undefined;
    const prefix = options.prefix ?? `mneme:anon:${randomBytes(8).toString("hex")}`;
    const given = [url, cluster, client].filter((x) => x !== undefined).length;
    if (given !== 1)
      throw new InvalidArgumentError("options", "{...}", "give exactly one of url, cluster, client");
    if (typeof prefix !== "string" || prefix.length === 0) {
      throw new InvalidArgumentError("prefix", prefix, "must be a non-empty string");
    }
    this.prefix = prefix;
    const defaults: RedisOptions = {
      lazyConnect: true,
      enableAutoPipelining: true,
      maxRetriesPerRequest: 2,
      connectTimeout: 5000,
      // A server that keeps the connection but stops answering (paused, swapping, partitioned)
      // would otherwise hold a fault, and every fault waiting for its frame, forever.
      commandTimeout: 5000,
      retryStrategy: (times) => (times > 5 ? null : Math.min(times * 100, 1000)),
    };
    if (client) {
      this.client = client;
      this.ownsClient = false;
      this.description = `redis (client) ${prefix}`;
    } else if (cluster) {
      if (!Array.isArray(cluster) || cluster.length === 0) {
        throw new InvalidArgumentError("cluster", cluster, "must be a non-empty array of nodes");
      }
      this.client = new Cluster(cluster, {
        lazyConnect: true,
        enableAutoPipelining: true,
        redisOptions: { ...defaults, ...redisOptions },
      });
      this.ownsClient = true;
      this.description = `redis cluster ${prefix}`;
    } else {
      if (typeof url !== "string" || !/^rediss?:\/\//.test(url)) {
        throw new InvalidArgumentError("url", url, "must be a redis:// or rediss:// URL");
      }
      this.client = new Redis(url, { ...defaults, ...redisOptions });
      this.ownsClient = true;
      this.description = `redis ${url.replace(/\/\/[^@]*@/, "//***@")} ${prefix}`;
    }
    if (this.client instanceof Cluster) this.identity = undefined;
    else {
      const o = this.client.options;
      this.identity = `redis:${o.path ?? `${(o.host ?? "localhost").toLowerCase()}:${o.port ?? 6379}`}/${o.db ?? 0} ${prefix}`;
    }
    // Connection errors reach the operations they fail (as StoreError); without a listener
    // ioredis would also print each failed reconnect attempt as an unhandled error event.
    if (this.ownsClient) this.client.on("error", () => {});
  }

  /** The client, connected again if an outage outlasted its reconnect attempts (see above). */
  private connected(): Client {
    const c = this.client;
    if (c.status === "end" && this.ownsClient && !this.closed) c.connect().catch(() => {});
    return c;
  }

  private key(offset: number): string {
    return `${this.prefix}:${offset}`;
  }

  private get sizeKey(): string {
    return `${this.prefix}:pagesize`;
  }

  attach(pageSize: number): void {
    this.pageSize = samePageSize(this.pageSize, pageSize);
  }

  /**
   * Records the page size for the prefix, or checks the recorded one (once per store). First the
   * database: ioredis only reports a failed SELECT of the URL's database (index out of range) as
   * an error event and goes on in database 0, where the pages would land among other stores' keys.
   */
  private checkSize(): Promise<void> {
    this.sizing ??= (async () => {
      const c = this.connected();
      if (this.ownsClient && c instanceof Redis && (c.options.db ?? 0) !== 0) await c.select(c.options.db!);
      const want = String(this.pageSize);
      await c.set(this.sizeKey, want, "NX");
      const got = await c.get(this.sizeKey);
      if (got !== null && got !== want) {
        throw new Error(`prefix ${this.prefix} holds ${got}-byte pages, not ${want}-byte ones`);
      }
      this.sized = true;
    })().finally(() => {
      this.sizing = undefined;
    });
    return this.sizing;
  }

  async readPage(offset: number, into: Uint8Array): Promise<void> {
    let value: Buffer | null;
    try {
      if (!this.sized && this.pageSize !== 0) await this.checkSize();
      value = await this.connected().getBuffer(this.key(offset));
    } catch (e) {
      throw new StoreError(this.description, "read", offset, e);
    }
    this.reads++;
    if (value === null) {
      fillBytes(into, 0);
      return;
    }
    const n = Math.min(value.length, into.length);
    into.set(value.subarray(0, n));
    zeroTail(into, n);
  }

  async readPages(offset: number, into: readonly Uint8Array[]): Promise<void> {
    let pos = offset;
    const reads: Promise<void>[] = [];
    for (const buf of into) {
      reads.push(this.readPage(pos, buf));
      pos += buf.length;
    }
    const results = await Promise.allSettled(reads);
    for (const r of results) if (r.status === "rejected") throw r.reason;
  }

  async writePage(offset: number, data: Uint8Array): Promise<void> {
    try {
      if (!this.sized && this.pageSize !== 0) await this.checkSize();
      await this.connected().setrange(this.key(offset), 0, Buffer.from(data));
    } catch (e) {
      throw new StoreError(this.description, "write", offset, e);
    }
    this.writes++;
  }

  /** Deletes every page key of the prefix and its page-size record (SCAN, then DEL); returns the pages deleted. */
  async clear(): Promise<number> {
    const client = this.connected();
    const nodes = client instanceof Cluster ? client.nodes("master") : [client];
    let deleted = 0;
    try {
      for (const node of nodes) {
        let cursor = "0";
        do {
          const [next, keys] = await node.scan(
            cursor,
            "MATCH",
            `${globEscape(this.prefix)}:*`,
            "COUNT",
            1000,
          );
          cursor = next;
          // "<prefix>:*" also matches the keys of a longer prefix (p:a's pages under p's),
          // another store's: only this store's page keys and its record go.
          const mine = keys.filter(
            (k) => k === this.sizeKey || PAGE_SUFFIX.test(k.slice(this.prefix.length)),
          );
          // One DEL per key (a Cluster node's keys span slots), all in flight at once: awaited
          // one by one, each was a round trip (20,000 pages: 0.47 s on loopback, 0.14 s at once).
          const counts = await Promise.all(mine.map((k) => node.del(k)));
          mine.forEach((k, i) => {
            if (k !== this.sizeKey) deleted += counts[i];
          });
        } while (cursor !== "0");
      }
    } catch (e) {
      throw new StoreError(this.description, "discard", 0, e);
    }
    this.sized = false;
    return deleted;
  }

  async close(): Promise<void> {
    if (this.temporary && !this.cleared && (this.writes > 0 || this.sized)) {
      this.cleared = true;
      // Best effort: a server that is gone keeps the keys (a later FLUSHDB or expiry is the operator's).
      await this.clear().catch(() => {});
    }
    if (!this.ownsClient) return;
    this.closed = true;
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  stats(): Record<string, number | string> {
    return { reads: this.reads, writes: this.writes, status: this.client.status };
  }
}
