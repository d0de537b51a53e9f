/**
 * Per-identity quotas: bytes held and handles held. Charged when a block or a MAP region is
 * granted, refunded when it is freed; a request that would pass a limit is refused before anything
 * is allocated, so a refused ALLOC or MAP changes nothing.
 *
 * The bytes of a MAP region are its length in whole pages: pageable, it holds few frames, but the
 * identity may fill all of it, on disk (its file, or the swap). Not counting them let an identity
 * with a quota of 64 KiB MAP and write terabytes. With no byte limit (the default) the pool
 * bounds ALLOCs and nothing bounds MAPs, so a region may be larger than the pool.
 */
import type { Capability } from "./capabilities.js";
import { MAP_PAGE_SIZE } from "./maps.js";

export interface QuotaLimits {
  /** Bytes one identity may hold (heldBytes of its capabilities); 0 = no limit. */
  bytes: number;
  /** Handles one identity may hold. */
  handles: number;
}

export interface Usage {
  bytes: number;
  handles: number;
}

export class Quotas {
  readonly limits: QuotaLimits;
  private readonly usage = new Map<string, Usage>();

  constructor(limits: QuotaLimits) {
    this.limits = limits;
  }

  of(identity: string): Usage {
    let u = this.usage.get(identity);
    if (u === undefined) {
      u = { bytes: 0, handles: 0 };
      this.usage.set(identity, u);
    }
    return u;
  }

  /** Why `bytes` more for `identity` would pass a limit, or null when it fits. */
  refuse(identity: string, bytes: number): string | null {
    const u = this.of(identity);
    if (u.handles + 1 > this.limits.handles) {
      return `ERR quota exceeded: identity '${identity}' holds ${u.handles} handles, the limit is ${this.limits.handles}`;
    }
    if (this.limits.bytes > 0 && u.bytes + bytes > this.limits.bytes) {
      return (
        `ERR quota exceeded: identity '${identity}' holds ${u.bytes} bytes, ` +
        `${bytes} more would pass the limit of ${this.limits.bytes}`
      );
    }
    return null;
  }

  charge(identity: string, bytes: number): void {
    const u = this.of(identity);
    u.bytes += bytes;
    u.handles++;
  }

  refund(identity: string, bytes: number): void {
    const u = this.of(identity);
    u.bytes -= bytes;
    u.handles--;
  }

  /** Identities holding memory now (one that only asked STATS, or freed all it had, is not counted). */
  identities(): number {
    let n = 0;
    for (const u of this.usage.values()) if (u.handles > 0) n++;
    return n;
  }

  /** Charges every capability again from scratch (after a recovery, which charges regions nothing). */
  recount(caps: Iterable<Capability>): void {
    this.usage.clear();
    for (const cap of caps) this.charge(cap.owner, heldBytes(cap));
  }
}

/** The bytes of a MAP region of `length` bytes: whole pages. */
export function regionBytes(length: number): number {
  return Math.ceil(length / MAP_PAGE_SIZE) * MAP_PAGE_SIZE;
}

/** The bytes a capability holds against its identity's quota. */
export function heldBytes(cap: Capability): number {
  return cap.kind === "map" ? regionBytes(cap.size) : cap.charged;
}
