/**
 * What the dashboard is sent: a snapshot of every layer's figures (several times a second) and
 * the arena map (when it changed). Both are built from Service.stats(), the pool's block map and
 * the capability table only.
 *
 * The map is run-length encoded: one run per block, five numbers each, flat, so 65,536 pages of a
 * 256 MiB pool with a few thousand blocks cost a few tens of kilobytes, and nothing is sent while
 * the map stays the same.
 *
 * | run field | meaning                                                                  |
 * |-----------|--------------------------------------------------------------------------|
 * | start     | first page (in its segment)                                              |
 * | pages     | pages in the block                                                       |
 * | kind      | index into `kinds` (object/inspect.ts BLOCK_KINDS)                       |
 * | detail    | free: the order; slab/kmalloc: index into `caches`; else -1              |
 * | owner     | index into `owners` (the identity holding the handle), -1 none, -2 several |
 */
import { BLOCK_KINDS } from "../object/inspect.js";
import { SEGMENT_SPAN } from "../pool/layout.js";
import { EVENT_KINDS } from "../service/events.js";
import type { Service, ServiceStats } from "../service/server.js";
import { type IdentityUsage, identities } from "./identities.js";

export const RUN_FIELDS = 5;
export const OWNER_NONE = -1;
export const OWNER_SEVERAL = -2;

export interface ArenaMap {
  kinds: readonly string[];
  /** Cache names, per segment (index = detail of slab and kmalloc runs). */
  caches: string[][];
  owners: string[];
  segments: { base: number; pageSize: number; pageCount: number; runs: number[] }[];
}

export interface ClientInfo {
  id: number;
  identity: string;
  name: string;
  addr: string;
}

export interface Snapshot {
  time: number;
  stats: ServiceStats;
  identities: IdentityUsage[];
  clients: ClientInfo[];
  events: Record<string, number>;
  http: { intervalMs: number };
}

export function snapshot(svc: Service, intervalMs: number): Snapshot {
  const events: Record<string, number> = {};
  for (const kind of EVENT_KINDS) events[kind] = svc.events.count(kind);
  return {
    time: Date.now(),
    stats: svc.stats(),
    identities: identities(svc),
    clients: [...svc.clients.values()].map((c) => ({
      id: c.id,
      identity: c.identity,
      name: c.name,
      addr: `${c.socket.remoteAddress ?? "?"}:${c.socket.remotePort ?? 0}`,
    })),
    events,
    http: { intervalMs },
  };
}

export function arenaMap(svc: Service): ArenaMap {
  const maps = svc.pool.blockMap();
  const owners: string[] = [];
  const ownerIndex = new Map<string, number>();
  const segments = maps.map((m, i) => {
    const runs: number[] = new Array(m.start.length * RUN_FIELDS);
    for (let r = 0; r < m.start.length; r++) {
      const o = r * RUN_FIELDS;
      runs[o] = m.start[r];
      runs[o + 1] = m.pages[r];
      runs[o + 2] = m.kind[r];
      runs[o + 3] = m.detail[r];
      runs[o + 4] = OWNER_NONE;
    }
    return { base: i * SEGMENT_SPAN, pageSize: m.pageSize, pageCount: m.pageCount, runs };
  });
  for (const cap of svc.caps.all()) {
    if (cap.kind !== "anon") continue;
    const seg = segments[Math.floor(cap.address / SEGMENT_SPAN)];
    if (seg === undefined) continue;
    const page = Math.floor((cap.address - seg.base) / seg.pageSize);
    const r = runAt(seg.runs, page);
    if (r < 0) continue;
    let idx = ownerIndex.get(cap.owner);
    if (idx === undefined) {
      idx = owners.length;
      owners.push(cap.owner);
      ownerIndex.set(cap.owner, idx);
    }
    const o = r * RUN_FIELDS + 4;
    const was = seg.runs[o];
    seg.runs[o] = was === OWNER_NONE || was === idx ? idx : OWNER_SEVERAL;
  }
  return { kinds: BLOCK_KINDS, caches: maps.map((m) => m.caches), owners, segments };
}

/** The run holding `page` (binary search over the starts), or -1. */
export function runAt(runs: readonly number[], page: number): number {
  let lo = 0;
  let hi = runs.length / RUN_FIELDS - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const start = runs[mid * RUN_FIELDS];
    if (page < start) hi = mid - 1;
    else if (page >= start + runs[mid * RUN_FIELDS + 1]) lo = mid + 1;
    else return mid;
  }
  return -1;
}
