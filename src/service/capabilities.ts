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
 * option.
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
  /** Id of the connection that made it (0 once that connection is gone). */
  conn: number;
  /** Operations on worker threads still using the block; FREE waits for them. */
  inflight: number;
  /** Freed by the client while operations were in flight: free when they finish. */
  freeing: boolean;
}

const RANDOM_BATCH = 4096;

export class CapabilityTable {
  private readonly byHandle = new Map<string, Capability>();
  private random = Buffer.alloc(RANDOM_BATCH);
  private randomAt = RANDOM_BATCH;

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
  }

  /** Capabilities made by a connection, optionally of one kind. */
  madeBy(conn: number, kind?: BlockKind): Capability[] {
    const out: Capability[] = [];
    for (const c of this.byHandle.values())
      if (c.conn === conn && (kind === undefined || c.kind === kind)) out.push(c);
    return out;
  }

  /** Forgets the connection behind every block it made (they stay with the identity). */
  orphan(conn: number): void {
    for (const c of this.byHandle.values()) if (c.conn === conn) c.conn = 0;
  }

  all(): IterableIterator<Capability> {
    return this.byHandle.values();
  }
}
