/**
 * The JS replayer of the object-layer benchmark: replays an op file (ops.ts) through mneme's Heap,
 * @thi.ng/malloc's MemPool or a bump allocator, following the same rules as replay.c, and prints
 * one JSON line. Run as its own process by object.bench.ts (one process per run, like the C
 * replayer), or by hand for profiling:
 *
 *   node --cpu-prof --import tsx bench/malloc/replay-js.ts mneme bench/.build/malloc/perl-wordfreq.ops
 *
 * usage: replay-js.ts mneme|thi.ng|bump OPFILE [--verify] [--max-ops N] [--budget-ms N] [--warmup N]
 *
 * - Warm-up: before the measured replay, the same replay function runs the first --warmup ops
 *   (default 2M; for thi.ng 200k on the traces and none on the synthetic workloads, whose fill
 *   alone takes it seconds) on a throwaway allocator, so the timed replay runs V8's optimized code
 *   rather than measuring the JIT tiering up (the C replayer has nothing to warm up). The cold
 *   figure of that warm-up pass is reported as extra.coldNsPerOp; --warmup 0 measures cold.
 * - Each allocator has its own copy of the replay loop (replayMneme, replayThing, replayBump), so
 *   every call site in a timed loop sees one receiver type; a shared loop calling closures or an
 *   interface would be polymorphic and V8 would measure its own dispatch instead.
 * - Size 0 (`a <id> 0` in the mtrace format; the stress sequence has them) is passed to the
 *   allocator as 1: mneme's malloc(0) throws by design. The touch writes and the checks use the
 *   traced size, as in replay.c (which passes 0 through).
 * - Timing: performance.now() around the loop (ns_per_op) and the main thread's on-CPU time from
 *   /proc/thread-self/schedstat (cpu_ns_per_op, which other processes holding the CPU do not
 *   inflate).
 * - After each a/c/r: one byte written at offset 0 and every 4096 bytes of the block (the tag of
 *   the id); calloc'd blocks are checked for 0 at offsets 0, size/2 and size-1; after a realloc,
 *   byte 0 must still hold the old block's tag. Failed checks are counted in "errors".
 * - --budget-ms stops the loop once that much time has passed since the start (checked every 4096
 *   ops, every 256 for thi.ng whose ops can take milliseconds); "ops" then says how far it got and
 *   ns_per_op covers only what was done.
 * - Arena (mneme and thi.ng alike): the next power of two of 4 x peak live requested bytes,
 *   at least 4 MiB and at most 2 GiB (an arena sized for the workload, as a user would size it:
 *   the heap's root grows with the arena, so a needlessly large one inflates the footprint). The bump allocator never frees (free is a no-op) and
 *   advances through a ring of 1 MiB + the largest request, small enough to stay in cache: it is
 *   the cost of the loop itself (reading the ops, the id tables, the touch writes and checks), not
 *   of fresh memory. Its realloc check can fail when the ring wrapped over the old block; its
 *   "errors" mean nothing.
 * - Footprint: mneme heap.stats().peakFootprint (arena bytes the heap held at its high-water mark,
 *   its root, slab headers and reserve included); thi.ng the high-water mark of its `top`.
 * - --verify runs an untimed correctness replay instead (one generic loop, speed irrelevant):
 *   every block is filled with its tag and checked whole before free/realloc, the kept prefix after
 *   realloc, calloc'd blocks whole, alignment, every live block at the end; for mneme also
 *   heap.check() every 250k ops and, at the end, that freeing everything and shrink() return the
 *   footprint to where it started.
 */
import { readFileSync } from "node:fs";
import { MemPool } from "@thi.ng/malloc";
import { Heap } from "../../src/index.js";
import { type OpFile, readOpFile } from "./ops.js";

const MiB = 2 ** 20;

export interface JsResult {
  allocator: string;
  ns_per_op: number;
  /** On-CPU time of the main thread in the timed loop, per op: not inflated by time spent descheduled. */
  cpu_ns_per_op: number;
  /** Operations replayed (prefill included). */
  ops: number;
  /** Operations the file asked for (after --max-ops). */
  total_ops: number;
  timed_ops: number;
  footprint_bytes: number | null;
  arena_bytes: number;
  errors: number;
  complete: boolean;
  verify: boolean;
  error?: string;
  extra?: Record<string, unknown>;
}

export function arenaBytesFor(peakLive: number): number {
  let a = 4 * MiB;
  while (a < 4 * peakLive && a < 2 ** 31) a *= 2;
  return a;
}

/**
 * On-CPU nanoseconds of the calling thread (/proc/thread-self/schedstat, the scheduler's own
 * account; the C replayer uses CLOCK_THREAD_CPUTIME_ID). Unlike wall time it does not grow while
 * other processes hold the CPU, and unlike process.cpuUsage() it excludes V8's helper threads.
 */
function threadCpuNs(): number {
  try {
    const s = readFileSync("/proc/thread-self/schedstat", "latin1");
    return Number(s.slice(0, s.indexOf(" ")));
  } catch {
    const u = process.cpuUsage();
    return (u.user + u.system) * 1e3;
  }
}

function fail(e: unknown, i: number): string {
  const m = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return `op ${i}: ${m}`;
}

// ------------------------------------------------------------------ timed loops, one per allocator

function replayMneme(f: OpFile, end: number, deadline: number): JsResult {
  const arena = arenaBytesFor(f.peakLiveBytes);
  const heap = new Heap({ bytes: arena });
  const mem = heap.memory;
  const code = f.code;
  const ids = f.id;
  const sizes = f.size;
  const oldIds = f.oldId;
  const ptr = new Int32Array(f.maxId + 1);
  const sz = new Uint32Array(f.maxId + 1);
  const prefill = Math.min(f.nPrefill, end);
  let bad = 0;
  let ri = 0;
  let i = 0;
  let t0 = 0;
  let c0 = threadCpuNs();
  let error: string | undefined;
  try {
    for (let phase = 0; phase < 2; phase++) {
      const stop = phase === 0 ? prefill : end;
      if (phase === 1) {
        c0 = threadCpuNs();
        t0 = performance.now();
      }
      for (; i < stop; i++) {
        if ((i & 4095) === 0 && performance.now() > deadline) break;
        const c = code[i];
        const d = ids[i];
        const op = c & 3;
        if (op === 2) {
          heap.free(ptr[d]);
          continue;
        }
        const s = sizes[i];
        let a: number;
        if (op === 0) {
          const la = c >> 2;
          a = la > 3 ? heap.alignedAlloc(1 << la, s || 1) : heap.malloc(s || 1);
        } else if (op === 1) {
          a = heap.calloc(1, s || 1);
          if (s > 0 && (mem[a] | mem[a + (s >> 1)] | mem[a + s - 1]) !== 0) bad++;
        } else {
          const o = oldIds[ri++];
          a = heap.realloc(ptr[o], s || 1);
          if (s > 0 && sz[o] > 0 && mem[a] !== (0x80 | (o & 0x3f))) bad++;
        }
        ptr[d] = a;
        sz[d] = s;
        const t = 0x80 | (d & 0x3f);
        for (let k = 0; k < s; k += 4096) mem[a + k] = t;
      }
    }
  } catch (e) {
    error = fail(e, i);
  }
  const t1 = performance.now();
  const cpu = threadCpuNs() - c0;
  const timed = Math.max(0, i - prefill);
  let footprint: number | null = null;
  let extra: Record<string, unknown> | undefined;
  try {
    const st = heap.stats();
    footprint = st.peakFootprint;
    extra = { rootBytes: st.rootBytes, footprintEnd: st.footprint };
  } catch (e) {
    error ??= fail(e, i);
  }
  return {
    allocator: "mneme",
    ns_per_op: timed > 0 ? ((t1 - t0) * 1e6) / timed : 0,
    cpu_ns_per_op: timed > 0 ? cpu / timed : 0,
    ops: i,
    total_ops: end,
    timed_ops: timed,
    footprint_bytes: footprint,
    arena_bytes: arena,
    errors: bad,
    complete: i === end && error === undefined,
    verify: false,
    error,
    extra,
  };
}

function replayThing(f: OpFile, end: number, deadline: number): JsResult {
  const arena = arenaBytesFor(f.peakLiveBytes);
  const pool = new MemPool({ size: arena });
  const top = pool as unknown as { top: number };
  const mem = new Uint8Array(pool.buf);
  const code = f.code;
  const ids = f.id;
  const sizes = f.size;
  const oldIds = f.oldId;
  const ptr = new Int32Array(f.maxId + 1);
  const sz = new Uint32Array(f.maxId + 1);
  const prefill = Math.min(f.nPrefill, end);
  let bad = 0;
  let ri = 0;
  let i = 0;
  let t0 = 0;
  let c0 = threadCpuNs();
  let peak = top.top;
  let error: string | undefined;
  try {
    if (f.aligned > 0) throw new Error("MemPool has no per-call alignment");
    for (let phase = 0; phase < 2; phase++) {
      const stop = phase === 0 ? prefill : end;
      if (phase === 1) {
        c0 = threadCpuNs();
        t0 = performance.now();
      }
      for (; i < stop; i++) {
        if ((i & 255) === 0 && performance.now() > deadline) break;
        const c = code[i];
        const d = ids[i];
        const op = c & 3;
        if (op === 2) {
          pool.free(ptr[d]);
          continue;
        }
        const s = sizes[i];
        let a: number;
        if (op === 0) {
          a = pool.malloc(s || 1);
        } else if (op === 1) {
          a = pool.calloc(s || 1);
          if (s > 0 && a !== 0 && (mem[a] | mem[a + (s >> 1)] | mem[a + s - 1]) !== 0) bad++;
        } else {
          const o = oldIds[ri++];
          a = pool.realloc(ptr[o], s || 1);
          if (s > 0 && a !== 0 && sz[o] > 0 && mem[a] !== (0x80 | (o & 0x3f))) bad++;
        }
        if (a === 0) throw new Error("out of memory (MemPool returned 0)");
        const tp = top.top;
        if (tp > peak) peak = tp;
        ptr[d] = a;
        sz[d] = s;
        const t = 0x80 | (d & 0x3f);
        for (let k = 0; k < s; k += 4096) mem[a + k] = t;
      }
    }
  } catch (e) {
    error = fail(e, i);
  }
  const t1 = performance.now();
  const cpu = threadCpuNs() - c0;
  const timed = Math.max(0, i - prefill);
  return {
    allocator: "thi.ng",
    ns_per_op: timed > 0 ? ((t1 - t0) * 1e6) / timed : 0,
    cpu_ns_per_op: timed > 0 ? cpu / timed : 0,
    ops: i,
    total_ops: end,
    timed_ops: timed,
    footprint_bytes: peak,
    arena_bytes: arena,
    errors: bad,
    complete: i === end && error === undefined,
    verify: false,
    error,
  };
}

function replayBump(f: OpFile, end: number, deadline: number): JsResult {
  const ring = MiB + f.maxSize + 4096;
  const mem = new Uint8Array(ring + 4096);
  for (let k = 0; k < mem.length; k += 4096) mem[k] = 0;
  const code = f.code;
  const ids = f.id;
  const sizes = f.size;
  const oldIds = f.oldId;
  const ptr = new Int32Array(f.maxId + 1);
  const sz = new Uint32Array(f.maxId + 1);
  const prefill = Math.min(f.nPrefill, end);
  let bad = 0;
  let ri = 0;
  let i = 0;
  let t0 = 0;
  let c0 = threadCpuNs();
  let cur = 16;
  let error: string | undefined;
  try {
    for (let phase = 0; phase < 2; phase++) {
      const stop = phase === 0 ? prefill : end;
      if (phase === 1) {
        c0 = threadCpuNs();
        t0 = performance.now();
      }
      for (; i < stop; i++) {
        if ((i & 4095) === 0 && performance.now() > deadline) break;
        const c = code[i];
        const d = ids[i];
        const op = c & 3;
        if (op === 2) continue;
        const s = sizes[i];
        const la = c >> 2;
        let a = cur;
        if (la > 4) a = (a + (1 << la) - 1) & -(1 << la);
        if (a + s > ring) a = la > 4 ? 1 << la : 16;
        cur = (a + s + 16) & -16;
        if (op === 1) {
          mem.fill(0, a, a + s);
          if (s > 0 && (mem[a] | mem[a + (s >> 1)] | mem[a + s - 1]) !== 0) bad++;
        } else if (op === 3) {
          const o = oldIds[ri++];
          const from = ptr[o];
          mem.copyWithin(a, from, from + Math.min(sz[o], s));
          if (s > 0 && sz[o] > 0 && mem[a] !== (0x80 | (o & 0x3f))) bad++;
        }
        ptr[d] = a;
        sz[d] = s;
        const t = 0x80 | (d & 0x3f);
        for (let k = 0; k < s; k += 4096) mem[a + k] = t;
      }
    }
  } catch (e) {
    error = fail(e, i);
  }
  const t1 = performance.now();
  const cpu = threadCpuNs() - c0;
  const timed = Math.max(0, i - prefill);
  return {
    allocator: "bump",
    ns_per_op: timed > 0 ? ((t1 - t0) * 1e6) / timed : 0,
    cpu_ns_per_op: timed > 0 ? cpu / timed : 0,
    ops: i,
    total_ops: end,
    timed_ops: timed,
    footprint_bytes: null,
    arena_bytes: ring,
    errors: bad,
    complete: i === end && error === undefined,
    verify: false,
    error,
  };
}

// ------------------------------------------------------------------ --verify (untimed, generic)

interface Adapter {
  mem: Uint8Array;
  malloc(size: number, align: number): number;
  calloc(size: number): number;
  realloc(address: number, size: number): number;
  free(address: number): void;
  footprint(): number | null;
  /** Structural self-check, if the allocator has one. */
  check(): void;
  /** After everything is freed: extra figures for the report. */
  finish(): Record<string, unknown>;
}

function mnemeAdapter(arena: number): Adapter {
  const heap = new Heap({ bytes: arena });
  const start = heap.stats().footprint;
  return {
    mem: heap.memory,
    malloc: (s, align) => (align > 8 ? heap.alignedAlloc(align, s || 1) : heap.malloc(s || 1)),
    calloc: (s) => heap.calloc(1, s || 1),
    realloc: (a, s) => heap.realloc(a, s || 1),
    free: (a) => heap.free(a),
    footprint: () => heap.stats().peakFootprint,
    check: () => heap.check(),
    finish: () => {
      heap.shrink();
      heap.check();
      return { footprintStart: start, footprintAfterFreeAll: heap.stats().footprint };
    },
  };
}

function thingAdapter(arena: number): Adapter {
  const pool = new MemPool({ size: arena });
  const orNull = (a: number) => {
    if (a === 0) throw new Error("out of memory (MemPool returned 0)");
    return a;
  };
  return {
    mem: new Uint8Array(pool.buf),
    malloc: (s, align) => {
      if (align > 8) throw new Error("MemPool has no per-call alignment");
      return orNull(pool.malloc(s || 1));
    },
    calloc: (s) => orNull(pool.calloc(s || 1)),
    realloc: (a, s) => orNull(pool.realloc(a, s || 1)),
    free: (a) => {
      if (!pool.free(a)) throw new Error(`MemPool.free(${a}) returned false`);
    },
    footprint: () => null,
    check: () => {},
    finish: () => ({ statsAfterFreeAll: pool.stats() }),
  };
}

function verifyReplay(name: string, f: OpFile, end: number, ad: Adapter): JsResult {
  const mem = ad.mem;
  const ptr = new Float64Array(f.maxId + 1);
  const sz = new Uint32Array(f.maxId + 1);
  const live = new Uint8Array(f.maxId + 1);
  const zero = new Uint8Array(f.maxSize + 1);
  const patterns: Uint8Array[] = [];
  for (let t = 0; t < 64; t++) patterns.push(new Uint8Array(f.maxSize + 1).fill(0x80 | t));
  const same = (a: number, n: number, expect: Uint8Array): boolean =>
    Buffer.compare(mem.subarray(a, a + n), expect.subarray(0, n)) === 0;
  let bad = 0;
  const problems: string[] = [];
  const report = (i: number, what: string) => {
    bad++;
    if (problems.length < 10) problems.push(`op ${i}: ${what}`);
  };
  let ri = 0;
  let i = 0;
  let error: string | undefined;
  let extra: Record<string, unknown> = {};
  try {
    for (; i < end; i++) {
      const c = f.code[i];
      const d = f.id[i];
      const op = c & 3;
      const s = f.size[i];
      if (op === 2) {
        if (!same(ptr[d], sz[d], patterns[d & 0x3f]))
          report(i, `id ${d} (${sz[d]} B at ${ptr[d]}) was overwritten`);
        ad.free(ptr[d]);
        live[d] = 0;
        continue;
      }
      let a: number;
      if (op === 0) {
        const align = c >> 2 ? 1 << (c >> 2) : 0;
        a = ad.malloc(s, align);
        if (align > 0 && a % align !== 0) report(i, `${a} is not aligned to ${align}`);
      } else if (op === 1) {
        a = ad.calloc(s);
        if (!same(a, s, zero)) report(i, `calloc(${s}) at ${a} is not zeroed`);
      } else {
        const o = f.oldId[ri++];
        if (!same(ptr[o], sz[o], patterns[o & 0x3f]))
          report(i, `id ${o} (${sz[o]} B at ${ptr[o]}) was overwritten`);
        live[o] = 0;
        a = ad.realloc(ptr[o], s);
        const keep = Math.min(sz[o], s);
        if (!same(a, keep, patterns[o & 0x3f]))
          report(i, `realloc ${ptr[o]} -> ${a} (${sz[o]} -> ${s} B) lost data`);
      }
      ptr[d] = a;
      sz[d] = s;
      live[d] = 1;
      mem.fill(0x80 | (d & 0x3f), a, a + s);
      if (i % 250_000 === 249_999) ad.check();
    }
    for (let d = 0; d < live.length; d++) {
      if (live[d] && !same(ptr[d], sz[d], patterns[d & 0x3f])) report(end, `live id ${d} was overwritten`);
    }
    ad.check();
    const footprint = ad.footprint();
    for (let d = 0; d < live.length; d++) if (live[d]) ad.free(ptr[d]);
    extra = { footprint, ...ad.finish() };
  } catch (e) {
    error = fail(e, i);
  }
  return {
    allocator: name,
    ns_per_op: 0,
    cpu_ns_per_op: 0,
    ops: i,
    total_ops: end,
    timed_ops: 0,
    footprint_bytes: null,
    arena_bytes: arenaBytesFor(f.peakLiveBytes),
    errors: bad,
    complete: i === end && error === undefined,
    verify: true,
    error,
    extra: { ...extra, problems },
  };
}

// ------------------------------------------------------------------ command line

function main(argv: readonly string[]): void {
  let verify = false;
  let maxOps = Number.POSITIVE_INFINITY;
  let budgetMs = Number.POSITIVE_INFINITY;
  let warmup: number | undefined;
  const pos: string[] = [];
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k];
    if (a === "--verify") verify = true;
    else if (a === "--max-ops") maxOps = Number(argv[++k]);
    else if (a === "--budget-ms") budgetMs = Number(argv[++k]);
    else if (a === "--warmup") warmup = Number(argv[++k]);
    else pos.push(a);
  }
  const [name, path] = pos;
  if (pos.length !== 2 || !["mneme", "thi.ng", "bump"].includes(name)) {
    console.error(
      "usage: replay-js.ts mneme|thi.ng|bump OPFILE [--verify] [--max-ops N] [--budget-ms N] [--warmup N]",
    );
    process.exit(2);
  }
  const f = readOpFile(path);
  const end = Math.min(f.nOps, maxOps);
  let r: JsResult;
  if (verify) {
    if (name === "bump") throw new Error("the bump allocator reuses memory; nothing to verify");
    const arena = arenaBytesFor(f.peakLiveBytes);
    r = verifyReplay(name, f, end, name === "mneme" ? mnemeAdapter(arena) : thingAdapter(arena));
  } else {
    // warm-up: the same function replays a prefix on a throwaway allocator, untimed by the report
    const warm = Math.min(end, warmup ?? (name === "thi.ng" ? (f.nPrefill > 0 ? 0 : 200_000) : 2_000_000));
    let cold: JsResult | undefined;
    if (warm > 0) {
      if (name === "mneme") cold = replayMneme(f, warm, Number.POSITIVE_INFINITY);
      else if (name === "thi.ng") cold = replayThing(f, warm, Number.POSITIVE_INFINITY);
      else cold = replayBump(f, warm, Number.POSITIVE_INFINITY);
    }
    if (cold?.error) {
      r = { ...cold, error: `warm-up: ${cold.error}`, complete: false };
    } else {
      const deadline = performance.now() + budgetMs;
      if (name === "mneme") r = replayMneme(f, end, deadline);
      else if (name === "thi.ng") r = replayThing(f, end, deadline);
      else r = replayBump(f, end, deadline);
      r.extra = { ...r.extra, warmupOps: warm, coldNsPerOp: cold?.ns_per_op ?? null };
    }
  }
  console.log(JSON.stringify(r));
}

main(process.argv.slice(2));
