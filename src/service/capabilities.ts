/**
 * Capabilities: the handles clients hold for their memory.
 *
 * A handle is `<address in hex>.<32 hex digits>`: the address (so a worker can find the block
 * without a lookup) and 128 bits from the system's CSPRNG (so it cannot be guessed or forged).
 * The table maps the whole string to the block and to the identity that owns it; a handle is
 * only honoured for that identity, so a handle leaked to another user is still useless to them.
 * Unknown, forged and foreign handles all get the same answer, which tells a prober nothing.
 *
 * The address in a handle is a hint for people reading logs, never parsed: everything looks the
 * block up through the table. So a handle restored after a restart (replication recovery) keeps
 * its string while its block may sit at another address (`restore`).
 *
 * Allocations belong to the identity, not to the connection: a client that reconnects as the
 * same user keeps them. `conn` remembers which connection made a block, for the free-on-close
 * option, which also keeps an index of each connection's blocks: a connection's close touches its
 * own blocks only. (It scanned every handle of the server, twice, at each close: 15 ms per close
 * with a million handles, for every connection that came and went.)
 */
import { randomFillSync } from "node:crypto";

export type BlockKind = "anon" | "map";

export interface Capability {
  readonly handle: string;
  readonly address: number;
  /** Bytes the client asked for: READ and WRITE must stay inside [0, size). */
  readonly size: number;
  /** Bytes the allocator charged (what quotas count). */
  readonly charged: number;
  readonly owner: string;
  readonly kind: BlockKind;
  /** Id of the connection that made it (0 when restored by recovery); ids are never reused. */
  readonly conn: number;
  /** Operations on worker threads still using the block; FREE waits for them. */
  inflight: number;
  /** Freed by the client while operations were in flight: free when they finish. */
  freeing: boolean;
}

const RANDOM_BATCH = 4096;

export class CapabilityTable {
  private readonly byHandle = new Map<string, Capability>();
  /** The anonymous blocks each connection made, while free-on-close wants them; null when it is off. */
  private readonly byConn: Map<number, Set<Capability>> | null;
  private random = Buffer.alloc(RANDOM_BATCH);
  private randomAt = RANDOM_BATCH;

  constructor(options: { trackConnections?: boolean } = {}) {
    this.byConn = options.trackConnections === true ? new Map() : null;
  }

  get size(): number {
    return this.byHandle.size;
  }

  /** A fresh handle for `address`, registered to `owner`. */
  grant(
    address: number,
    size: number,
    charged: number,
    owner: string,
    kind: BlockKind,
    conn: number,
  ): Capability {
    if (this.randomAt + 16 > RANDOM_BATCH) {
      randomFillSync(this.random);
      this.randomAt = 0;
    }
    const token = this.random.toString("hex", this.randomAt, this.randomAt + 16);
    this.randomAt += 16;
    const handle = `${address.toString(16)}.${token}`;
    const cap: Capability = {
      handle,
      address,
      size,
      charged,
      owner,
      kind,
      conn,
      inflight: 0,
      freeing: false,
    };
    this.byHandle.set(handle, cap);
    if (this.byConn !== null && kind === "anon") {
      const made = this.byConn.get(conn);
      if (made === undefined) this.byConn.set(conn, new Set([cap]));
      else made.add(cap);
    }
    return cap;
  }

  /**
   * Registers an existing handle string (from the replication log) for a block at `address`,
   * which may differ from the address the handle was first made for.
   */
  restore(
    handle: string,
    address: number,
    size: number,
    charged: number,
    owner: string,
    kind: BlockKind,
  ): Capability {
    const cap: Capability = {
      handle,
      address,
      size,
      charged,
      owner,
      kind,
      conn: 0,
      inflight: 0,
      freeing: false,
    };
    this.byHandle.set(handle, cap);
    return cap;
  }

  /** The capability a handle names, whoever holds it (recovery; never for client requests). */
  find(handle: string): Capability | undefined {
    return this.byHandle.get(handle);
  }

  /** The capability a handle names, if `owner` holds it; undefined otherwise (whatever the reason). */
  lookup(handle: string, owner: string): Capability | undefined {
    const cap = this.byHandle.get(handle);
    return cap !== undefined && cap.owner === owner && !cap.freeing ? cap : undefined;
  }

  /** Withdraws a handle (FREE): it names nothing from now on. */
  revoke(cap: Capability): void {
    this.byHandle.delete(cap.handle);
    if (this.byConn !== null && cap.kind === "anon") this.byConn.get(cap.conn)?.delete(cap);
  }

  /**
   * The anonymous blocks a connection made that still have their handles, taken out of the index
   * (the connection is gone); none unless constructed with trackConnections.
   */
  takeMadeBy(conn: number): Capability[] {
    const made = this.byConn?.get(conn);
    if (made === undefined) return [];
    this.byConn!.delete(conn);
    return [...made];
  }

  all(): IterableIterator<Capability> {
    return this.byHandle.values();
  }
}
