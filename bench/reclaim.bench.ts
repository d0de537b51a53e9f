/**
 * Reclaim benchmark (issue 6): a heavy writer on a FileStore mapping 16x larger than its frames,
 * with the flusher's throttling on and off — writer throughput (pages/s) and peak dirty pages —
 * and the time from pressure to recovery: the OOM path (reclaim rounds until the OOM killer frees
 * a grower's frames) and the clean-page-cache path (shrinking clean pages until free frames are
 * back above the high watermark).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AddressSpace,
  AnonymousStore,
  FileStore,
  PageAllocator,
  Reclaimer,
  startReclaim,
  startWriteback,
  systemClock,
  watermarks,
} from "../src/index.js";
import { type BenchOptions, type BenchResult, markdownTable, median, prng, textTable } from "./harness.js";

const PS = 4096;

async function writer(
  throttle: boolean,
  writes: number,
): Promise<{ pagesPerSec: number; peakDirty: number; throttled: number }> {
  const dir = mkdtempSync(join(tmpdir(), "mneme-rb-"));
  try {
    const frames = 256;
    const space = new AddressSpace({ frames });
    const flusher = throttle ? startWriteback(space, { lowRatio: 0.3, highRatio: 0.6, batch: 32 }) : null;
    const store = new FileStore(join(dir, "w.bin"));
    const v = space.map({ length: frames * 16 * PS, store, hint: "random" });
    const r = prng(11);
    const page = new Uint8Array(PS).fill(7);
    let peak = 0;
    const t = performance.now();
    for (let i = 0; i < writes; i++) {
      await space.write(v + Math.floor(r() * frames * 16) * PS, page);
      const d = space.dirtyPages();
      if (d > peak) peak = d;
    }
    await space.sync();
    const ms = performance.now() - t;
    const throttled = flusher?.stats().throttled ?? 0;
    await space.close();
    await store.close();
    return { pagesPerSec: (writes / ms) * 1000, peakDirty: peak, throttled };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** ms from an exhausted page layer to free frames at or above the high watermark. */
async function recovery(kind: "oom" | "clean"): Promise<number> {
  const pages = new PageAllocator({ bytes: 1040 * PS, hotPages: 0 });
  const total = pages.freePages;
  const wm = watermarks(total);
  const victim = new AddressSpace({ frames: 2000, pages });
  const v = victim.map({ length: 2000 * PS, store: new AnonymousStore({ swap: false }) });
  const fillPage = new Uint8Array(PS).fill(1);
  for (let i = 0; ; i++) {
    try {
      if (kind === "oom") await victim.write(v + i * PS, fillPage);
      else await victim.read(v + i * PS, PS);
    } catch {
      break;
    }
  }
  const reclaimer = new Reclaimer({ maxRounds: 2 });
  reclaimer.addSpace(victim, { name: "victim" });
  const t = performance.now();
  while (pages.freePages < wm.high) {
    const r = await reclaimer.reclaim((wm.high - pages.freePages) * PS);
    if (r.freed === 0 && r.killed === null) break;
  }
  const ms = performance.now() - t;
  if (kind === "clean") await victim.close();
  return ms;
}

/**
 * Random reads of a clean mapping 4x larger than its 256 frames, the fault path with and without
 * watermark reclaim in front of it (startReclaim: direct reclaim at min, background below low).
 */
async function faultPath(
  withReclaim: boolean,
  reads: number,
): Promise<{ readsPerSec: number; direct: number; background: number }> {
  const frames = 256;
  const space = new AddressSpace({ frames });
  const fr = withReclaim
    ? startReclaim(space, { reclaimer: new Reclaimer(), name: "reader", clock: systemClock })
    : null;
  const v = space.map({
    length: frames * 4 * PS,
    store: new AnonymousStore({ swap: false }),
    hint: "random",
  });
  const r = prng(5);
  const t = performance.now();
  for (let i = 0; i < reads; i++) await space.read(v + Math.floor(r() * frames * 4) * PS, 64);
  const ms = performance.now() - t;
  const s = fr?.stats();
  await space.close();
  return { readsPerSec: (reads / ms) * 1000, direct: s?.direct ?? 0, background: s?.background ?? 0 };
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const runs = options.quick ? 3 : Math.max(5, options.runs);
  const writes = options.quick ? 2000 : 20_000;
  const on: Awaited<ReturnType<typeof writer>>[] = [];
  const off: Awaited<ReturnType<typeof writer>>[] = [];
  const oom: number[] = [];
  const clean: number[] = [];
  const gated: Awaited<ReturnType<typeof faultPath>>[] = [];
  const plain: Awaited<ReturnType<typeof faultPath>>[] = [];
  for (let i = 0; i < runs; i++) {
    options.log(`reclaim: run ${i + 1}/${runs}`);
    on.push(await writer(true, writes));
    off.push(await writer(false, writes));
    oom.push(await recovery("oom"));
    clean.push(await recovery("clean"));
    plain.push(await faultPath(false, writes * 2));
    gated.push(await faultPath(true, writes * 2));
  }
  const rows = [
    [
      "throttling on",
      median(on.map((x) => x.pagesPerSec)).toFixed(0),
      String(median(on.map((x) => x.peakDirty))),
      String(median(on.map((x) => x.throttled))),
    ],
    [
      "throttling off",
      median(off.map((x) => x.pagesPerSec)).toFixed(0),
      String(median(off.map((x) => x.peakDirty))),
      "0",
    ],
  ];
  const header = ["writer (256 frames, mapping 16x)", "pages/s", "peak dirty pages", "throttled writes"];
  const rec = [
    ["OOM kill of a grower (all pages dirty, no swap)", median(oom).toFixed(2)],
    ["clean page cache shrunk", median(clean).toFixed(2)],
  ];
  const rheader = ["pressure to free frames >= high", "ms (median)"];
  const plainRate = median(plain.map((x) => x.readsPerSec));
  const gatedRate = median(gated.map((x) => x.readsPerSec));
  const fault = [
    ["no watermark reclaim (faults evict inline)", plainRate.toFixed(0), "1.00", "-", "-"],
    [
      "startReclaim (direct at min, background below low)",
      gatedRate.toFixed(0),
      (gatedRate / plainRate).toFixed(2),
      String(median(gated.map((x) => x.direct))),
      String(median(gated.map((x) => x.background))),
    ],
  ];
  const fheader = [
    "random reads, 256 frames, mapping 4x",
    "reads/s",
    "ratio",
    "direct reclaims",
    "background",
  ];
  return {
    name: "reclaim",
    text: `${textTable(header, rows)}\n\n${textTable(rheader, rec)}\n\n${textTable(fheader, fault)}`,
    markdown: `${markdownTable(header, rows)}\n\n${markdownTable(rheader, rec)}\n\n${markdownTable(fheader, fault)}`,
    data: { on, off, oom, clean, plain, gated, runs, writes },
  };
}
