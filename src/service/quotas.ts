/**
 * Per-identity quotas: bytes held and handles held. Charged when a block is granted, refunded
 * when it is freed; a request that would pass a limit is refused before anything is allocated,
 * so a refused ALLOC changes nothing.
 */

export interface QuotaLimits {
  /** Bytes one identity may hold (allocator-charged sizes). */
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
    if (u.bytes + bytes > this.limits.bytes) {
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

  identities(): number {
    return this.usage.size;
  }
}
