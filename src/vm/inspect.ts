/**
 * The vm layer's reports: stats() figures, debugInfo() text and check() invariants.
 *
 * Invariants (vmCheck), with the fault path's states (fault.ts, frames.ts):
 *   every index entry (key -> frame): frame holds key, state RESIDENT, key's store registered
 *   dirty counter = frames not FREE with dirtyEnd > 0 (victims in writeback included)
 *   nothing in flight  =>  policy.size = resident pages
 *   sum of frame pins = sum over pin records of their pages
 *   the policy's own invariants (policy.check())
 */
import { CorruptionError } from "../errors.js";
import { formatBytes } from "../util/validate.js";
import type { Pager, PagerStats } from "./fault.js";
import { FREE, KEY_STRIDE, RESIDENT } from "./frames.js";
import type { Mapping } from "./mappings.js";
import type { ReplacementPolicy } from "./policies/policy.js";
import type { SpaceState } from "./space-state.js";

export interface VmStats extends PagerStats {
  frames: number;
  pageSize: number;
  policy: string;
  /** Read-ahead windows in pages, as in force: the options capped at frames / 4. */
  readaheadInitial: number;
  readaheadMax: number;
  resident: number;
  dirty: number;
  pinned: number;
  pins: number;
  mappings: number;
  /** Stores mapped now (each has an id in page keys until its last mapping goes). */
  stores: number;
  inFlight: number;
  arenaBytes: number;
  policyStats: Record<string, number>;
}

export function vmStats(s: SpaceState, policy: ReplacementPolicy): VmStats {
  const p = s.pager;
  return {
    ...p.stats,
    frames: s.frameLimit,
    pageSize: s.pageSize,
    policy: policy.name,
    readaheadInitial: s.raInitial,
    readaheadMax: s.raMax,
    resident: p.index.size,
    dirty: p.dirty,
    pinned: p.pinnedCount(),
    pins: s.pinRecords.size,
    mappings: s.tree.size,
    stores: s.stores.size,
    inFlight: p.inFlight,
    arenaBytes: p.frames.used * s.pageSize,
    policyStats: policy.stats(),
  };
}

/** Verifies the pager's and the policy's invariants against the space's mappings and pins. */
export function spaceCheck(s: SpaceState, policy: ReplacementPolicy): void {
  const ps = s.pageSize;
  const byStore = new Map<number, Mapping[]>();
  for (const m of [...s.tree.all(), ...s.unmapping]) {
    const list = byStore.get(m.storeId);
    if (list) list.push(m);
    else byStore.set(m.storeId, [m]);
  }
  const mapped = (key: number) => {
    const page = key % KEY_STRIDE;
    const list = byStore.get(Math.floor(key / KEY_STRIDE)) ?? [];
    return list.some((m) => page >= m.offset / ps && page < m.offset / ps + m.pages);
  };
  vmCheck(s.pager, policy, (id) => s.stores.has(id), mapped, [...s.pinRecords.values()]);
}

/** A pin() in force: who holds which range, on which frames. */
export interface PinRecord {
  id: number;
  owner: string;
  address: number;
  length: number;
  frames: number[];
}

interface DebugFigures {
  resident: number;
  frames: number;
  pageSize: number;
  dirty: number;
  pinned: number;
  inFlight: number;
  policy: string;
  policyStats: Record<string, number>;
  faults: number;
  hits: number;
  evictions: number;
  writebacks: number;
  readahead: number;
  readaheadHits: number;
  prefetched: number;
  storeErrors: number;
}

export function vmDebugInfo(
  s: DebugFigures,
  mappings: readonly Mapping[],
  pins: readonly PinRecord[],
): string {
  const lines = [
    `address space: ${s.resident}/${s.frames} frames resident (${formatBytes(s.pageSize)} pages), ${s.dirty} dirty, ${s.pinned} pinned, ${s.inFlight} in flight`,
    `policy ${s.policy}: ${JSON.stringify(s.policyStats)}`,
    `faults ${s.faults}, hits ${s.hits}, evictions ${s.evictions}, writebacks ${s.writebacks}, read-ahead ${s.readahead} (hits ${s.readaheadHits}), prefetched ${s.prefetched}, store errors ${s.storeErrors}`,
    `mappings (${mappings.length}):`,
  ];
  for (const m of mappings) {
    const hints = m.hints
      .segments()
      .map((g) => `${g.hint}@${g.start}`)
      .join(" ");
    lines.push(
      `  0x${m.start.toString(16)} +${m.length} ${m.writable ? "rw" : "ro"} ${m.store.description} offset ${m.offset} hints ${hints}`,
    );
  }
  lines.push(`pins (${pins.length}):`);
  for (const r of pins) {
    lines.push(`  "${r.owner}" holds 0x${r.address.toString(16)} +${r.length} (${r.frames.length} pages)`);
  }
  return lines.join("\n");
}

export function vmCheck(
  p: Pager,
  policy: ReplacementPolicy,
  hasStore: (id: number) => boolean,
  mapped: (key: number) => boolean,
  pins: readonly PinRecord[],
): void {
  const fr = p.frames;
  for (const [key, f] of p.index) {
    if (fr.key[f] !== key || fr.state[f] !== RESIDENT)
      throw new CorruptionError(`frame ${f} does not hold key ${key}`);
    if (!hasStore(Math.floor(key / KEY_STRIDE))) throw new CorruptionError(`key ${key} of no store`);
    if (!mapped(key)) throw new CorruptionError(`page ${key} is resident but no mapping covers it`);
  }
  for (let f = 0; f < fr.touched; f++) {
    if (fr.state[f] === FREE && fr.addr[f] !== 0)
      throw new CorruptionError(`free frame slot ${f} holds arena page ${fr.addr[f]}`);
  }
  let dirty = 0;
  for (let f = 0; f < fr.touched; f++) if (fr.state[f] !== FREE && fr.dirtyEnd[f] > 0) dirty++;
  if (dirty !== p.dirty) throw new CorruptionError(`${dirty} dirty frames, counter says ${p.dirty}`);
  if (p.pending.size === 0 && policy.size !== p.index.size) {
    throw new CorruptionError(`policy holds ${policy.size} pages, ${p.index.size} resident`);
  }
  let recorded = 0;
  for (const r of pins) recorded += r.frames.length;
  let framePins = 0;
  for (let f = 0; f < fr.touched; f++) framePins += fr.pins[f];
  if (recorded !== framePins) throw new CorruptionError(`${framePins} frame pins, ${recorded} recorded`);
  policy.check();
}
