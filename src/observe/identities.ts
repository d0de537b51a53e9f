/**
 * Who holds what: each identity's bytes and handles (summed over its capabilities, the same
 * figures the quotas charge), its limits and its connections now. Read by /metrics and the
 * dashboard's clients panel.
 */
import { heldBytes } from "../service/quotas.js";
import type { Service } from "../service/server.js";

export interface IdentityUsage {
  identity: string;
  /** Bytes of its blocks (allocator-charged) and MAP regions (whole pages), as its quota counts them. */
  bytes: number;
  handles: number;
  /** Connections authenticated as it now. */
  connections: number;
  /** 0 = no limit. */
  quotaBytes: number;
  quotaHandles: number;
}

export function identities(svc: Service): IdentityUsage[] {
  const by = new Map<string, IdentityUsage>();
  const of = (identity: string): IdentityUsage => {
    let u = by.get(identity);
    if (u === undefined) {
      u = {
        identity,
        bytes: 0,
        handles: 0,
        connections: 0,
        quotaBytes: svc.quotas.limits.bytes,
        quotaHandles: svc.quotas.limits.handles,
      };
      by.set(identity, u);
    }
    return u;
  };
  for (const cap of svc.caps.all()) {
    const u = of(cap.owner);
    u.bytes += heldBytes(cap);
    u.handles++;
  }
  for (const conn of svc.clients.values()) of(conn.identity).connections++;
  return [...by.values()].sort((a, b) => b.bytes - a.bytes || a.identity.localeCompare(b.identity));
}
