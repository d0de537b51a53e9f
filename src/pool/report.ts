/**
 * What a pool reports: stats() (total, free, contiguous, and each worker's blocks and cached pages)
 * and debugInfo() (who allocated what). Both read every segment's page states under its lock
 * (Segment.census), so the figures of one segment agree with each other; the workers' fast paths
 * run meanwhile, so they are a snapshot, not a balance.
 */
import { formatBytes } from "../util/validate.js";
import * as P from "./layout.js";
import type { Segment } from "./segment.js";

export interface WorkerFigures {
  slot: number;
  threadId: number;
  /**
   * "dead": its thread is gone, recovery pending; "gone": recovered, but blocks it allocated are
   * still allocated (they stay charged to it until someone frees them).
   */
  state: "alive" | "dead" | "gone";
  allocations: number;
  bytes: number;
  /**
   * Free pages kept for the worker: its hot stack, its block cache and the blocks other workers
   * freed for it that it has not taken back yet.
   */
  cachedPages: number;
}

export interface MempoolStats {
  total: number;
  free: number;
  /** Largest block alloc() can still return. */
  contiguous: number;
  segments: number;
  workers: WorkerFigures[];
  recoveries: number;
}

/** A slot's STATE as reported (a slot being claimed is its new worker's already). */
function stateName(state: number): WorkerFigures["state"] {
  return state === P.SLOT_ALIVE || state === P.SLOT_CLAIMING
    ? "alive"
    : state === P.SLOT_DEAD
      ? "dead"
      : "gone";
}

/** The figures of a pool made of `segments` (Mempool.stats). */
export function poolStats(segments: readonly Segment[]): MempoolStats {
  let total = 0;
  let free = 0;
  let contiguous = 0;
  let recoveries = 0;
  const workers = new Map<number, WorkerFigures>();
  for (const s of segments) {
    total += s.pages.capacity;
    // One walk under the segment's lock: the figures agree with each other (Segment.census).
    s.mutex?.lock();
    let charged: ReturnType<Segment["census"]>;
    try {
      // As Heap.stats(): the heap's cached large runs go back first, so that free and contiguous
      // read as if a freed large block had gone straight back (object/large-runs.ts); the census
      // would count them as pages in use. Without a lock (a closed pool) nothing may change.
      if (s.mutex) s.heap.slabs.runs.release();
      charged = s.census();
    } finally {
      s.mutex?.unlock();
    }
    free += charged.freePages * s.pages.pageSize;
    contiguous = Math.max(contiguous, charged.largestPages * s.pages.pageSize);
    recoveries += s.recoveries;
    for (let slot = 1; slot <= s.maxSlots; slot++) {
      const state = s.state(slot);
      if (state === P.SLOT_FREE && charged.blocks[slot] === 0) continue;
      const threadId = s.threadOf(slot);
      const f = workers.get(threadId) ?? {
        slot,
        threadId,
        state: stateName(state),
        allocations: 0,
        bytes: 0,
        cachedPages: 0,
      };
      f.allocations += charged.blocks[slot];
      f.cachedPages += s.cachedPages(slot);
      f.bytes += charged.pages[slot] * s.pages.pageSize;
      workers.set(threadId, f);
    }
  }
  return {
    total,
    free,
    contiguous,
    segments: segments.length,
    workers: [...workers.values()],
    recoveries,
  };
}

/** Who allocated what: every pool.alloc block, by worker, with its size; then the heap's own report. */
export function poolDebugInfo(segments: readonly Segment[], heap: { debugInfo(): string }): string {
  const st = poolStats(segments);
  const lines = [
    `Mempool: ${formatBytes(st.total)} in ${st.segments} segment(s), ${formatBytes(st.free)} free, ` +
      `largest free block ${formatBytes(st.contiguous)}, ${st.recoveries} dead worker(s) recovered`,
  ];
  const ps = segments[0].pages.pageSize;
  for (const s of segments) {
    const byOwner = new Map<number, string[]>();
    for (let p = 0; p < s.owners.length; p++) {
      const o = s.owners[p];
      if (o === 0) continue;
      let bytes: number;
      try {
        bytes = s.pages.sizeOf(p * ps);
      } catch {
        continue; // freed by another worker while we looked (its owner entry goes first)
      }
      if (s.blocks.holds(o, p)) continue;
      const list = byOwner.get(o) ?? [];
      list.push(`${s.index * P.SEGMENT_SPAN + p * ps} (${formatBytes(bytes)})`);
      byOwner.set(o, list);
    }
    for (let slot = 1; slot <= s.maxSlots; slot++) {
      const state = s.state(slot);
      const blocks = byOwner.get(slot) ?? [];
      if (state === P.SLOT_FREE && blocks.length === 0) continue;
      const who = stateName(state);
      const parked = s.blocks.parkedPages(slot);
      lines.push(
        `  segment ${s.index} slot ${slot} (thread ${s.threadOf(slot)}, ${who}): ${blocks.length} block(s)` +
          (parked ? `, ${parked} free page(s) parked for it` : "") +
          (blocks.length ? `: ${blocks.join(", ")}` : ""),
      );
    }
  }
  lines.push(heap.debugInfo());
  return lines.join("\n");
}
