/**
 * An out-of-core array: a 1 GiB file of float64 mapped through an AddressSpace with 64 MiB of
 * frames (16384 frames of 4 KiB), used with access hints.
 *
 *     npm run build && node --import tsx examples/out-of-core/main.ts [--region-mib 96] [--updates 20000] [--file PATH]
 *
 * | phase    | hint                  | what happens                                                  |
 * |----------|-----------------------|---------------------------------------------------------------|
 * | fill     | sequential            | writes f(i) over a region larger than the frames: full-page    |
 * |          |                       | writes need no read, dropped-behind pages are written back     |
 * | scan     | sequential            | reads the region back with read-ahead, checks every element    |
 * | random   | random                | single-element updates at random indices (no read-ahead)       |
 * | far      | willneed              | prefetches a window near the end of the file (a sparse hole)   |
 * | release  | dontneed, then sync() | dirty pages of the region written back and dropped             |
 * | verify   | (none: plain fs)      | the file itself holds the updates                              |
 *
 * The file is created sparse (truncate), so it occupies on disk only what was written.
 */
import { mkdtemp, open, rm, stat, truncate } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { AddressSpace, FileStore, type VmStats } from "mneme";
import { PagedFloat64Array } from "./paged-array.js";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const FRAMES = 16_384;
/** Elements per read/write call in the scans: 64 KiB. */
const CHUNK = 8192;

export interface Options {
  /** The backing file (created, or cut to 1 GiB). Default: a new temporary file, removed after. */
  file?: string;
  /** MiB of the array the scans cover; more than the 64 MiB of frames. Default 96. */
  regionMiB?: number;
  /** Random single-element updates. Default 20000. */
  updates?: number;
  /** Prints progress and the vm stats of each phase. Default true. */
  log?: boolean;
}

type Figures = Pick<
  VmStats,
  | "faults"
  | "hits"
  | "evictions"
  | "writebacks"
  | "readahead"
  | "prefetched"
  | "dropped"
  | "resident"
  | "dirty"
>;

export interface Summary {
  fileBytes: number;
  /** Bytes the file occupies on disk (sparse: about what was written). */
  diskBytes: number;
  frames: number;
  regionBytes: number;
  updates: number;
  /** Elements of the region whose value was wrong after the fill (the scan checks all of them). */
  scanMismatches: number;
  scanSumOk: boolean;
  updatesOk: boolean;
  untouchedOk: boolean;
  /** The window near the end read as zeros (a hole) without a fault: willneed had read it in. */
  farOk: boolean;
  /** After dontneed and sync, reading the file directly gives the updated values. */
  fileOk: boolean;
  phases: Record<string, Figures>;
  stats: Figures;
}

/** The value the fill writes at i: never 0, so a hole (zeros) never passes for data. */
const f = (i: number) => (i % 1_000_003) * 0.25 + 1;

function figures(s: VmStats): Figures {
  const { faults, hits, evictions, writebacks, readahead, prefetched, dropped, resident, dirty } = s;
  return { faults, hits, evictions, writebacks, readahead, prefetched, dropped, resident, dirty };
}

function delta(a: Figures, b: Figures): Figures {
  const out = { ...b };
  for (const k of [
    "faults",
    "hits",
    "evictions",
    "writebacks",
    "readahead",
    "prefetched",
    "dropped",
  ] as const)
    out[k] = b[k] - a[k];
  return out;
}

export async function main(options: Options = {}): Promise<Summary> {
  const log = (options.log ?? true) ? (s: string) => console.log(s) : () => {};
  const regionBytes = (options.regionMiB ?? 96) * MiB;
  const updates = options.updates ?? 20_000;
  const dir = options.file === undefined ? await mkdtemp(join(tmpdir(), "mneme-ooc-")) : undefined;
  const file = options.file ?? join(dir!, "array.f64");
  await (await open(file, "a")).close();
  await truncate(file, GiB); // sparse: no block is written

  const space = new AddressSpace({ frames: FRAMES });
  const store = new FileStore(file);
  const v = space.map({ length: GiB, store });
  const array = new PagedFloat64Array(space, v, GiB / 8);
  const region = regionBytes / 8;
  const phases: Record<string, Figures> = {};
  let last = figures(space.stats());
  const phase = (name: string) => {
    const now = figures(space.stats());
    phases[name] = delta(last, now);
    last = now;
    const p = phases[name];
    log(
      `${name.padEnd(8)} faults ${p.faults}, hits ${p.hits}, evictions ${p.evictions}, writebacks ${p.writebacks}, ` +
        `readahead ${p.readahead}, prefetched ${p.prefetched}, dropped ${p.dropped}; resident ${p.resident}, dirty ${p.dirty}`,
    );
  };

  try {
    log(
      `1 GiB file ${file}, ${FRAMES} frames (${(FRAMES * 4096) / MiB} MiB), region ${regionBytes / MiB} MiB`,
    );

    await array.advise(0, region, "sequential");
    const chunk = new Float64Array(CHUNK);
    let written = 0;
    for (let i = 0; i < region; i += CHUNK) {
      const n = Math.min(CHUNK, region - i);
      for (let j = 0; j < n; j++) {
        chunk[j] = f(i + j);
        written += chunk[j];
      }
      await array.write(i, n === CHUNK ? chunk : chunk.subarray(0, n));
    }
    phase("fill");

    let sum = 0;
    let scanMismatches = 0;
    for (let i = 0; i < region; i += CHUNK) {
      const values = await array.read(i, Math.min(CHUNK, region - i));
      for (let j = 0; j < values.length; j++) {
        sum += values[j];
        if (values[j] !== f(i + j)) scanMismatches++;
      }
    }
    phase("scan");

    await array.advise(0, region, "random");
    let seed = 0x2545f491;
    const random = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % region;
    };
    const changed = new Map<number, number>();
    for (let u = 0; u < updates; u++) {
      const i = random();
      const value = -f(i) - u;
      await array.set(i, value);
      changed.set(i, value);
    }
    let updatesOk = true;
    for (const [i, value] of changed) if ((await array.get(i)) !== value) updatesOk = false;
    let untouchedOk = true;
    for (let k = 0; k < 2000; k++) {
      const i = random();
      if (!changed.has(i) && (await array.get(i)) !== f(i)) untouchedOk = false;
    }
    phase("random");

    // A window of 256 pages near the end: read in by willneed (in read-ahead batches), then read
    // without a single fault: all zeros, as the file has a hole there.
    const far = GiB / 8 - 300 * 512;
    await array.advise(far, 256 * 512, "willneed");
    const beforeRead = space.stats().faults;
    const window = await array.read(far, 256 * 512);
    const farOk = space.stats().faults === beforeRead && window.every((x) => x === 0);
    phase("far");

    await array.advise(0, region, "dontneed");
    await space.sync();
    phase("release");

    // The file itself, read without the vm: the updates and the fill are there.
    const fh = await open(file, "r");
    let fileOk = true;
    try {
      const b = new Float64Array(1);
      const bytes = new Uint8Array(b.buffer);
      const probes = [...changed].slice(0, 500);
      for (const i of [0, 1, region - 1, 12_345]) if (!changed.has(i)) probes.push([i, f(i)]);
      for (const [i, value] of probes) {
        await fh.read(bytes, 0, 8, i * 8);
        if (b[0] !== value) fileOk = false;
      }
    } finally {
      await fh.close();
    }
    const st = await stat(file);
    const summary: Summary = {
      fileBytes: st.size,
      diskBytes: st.blocks * 512,
      frames: FRAMES,
      regionBytes,
      updates,
      scanMismatches,
      scanSumOk: sum === written,
      updatesOk,
      untouchedOk,
      farOk,
      fileOk,
      phases,
      stats: figures(space.stats()),
    };
    log(
      `file ${st.size / MiB} MiB, ${(summary.diskBytes / MiB).toFixed(1)} MiB on disk; ` +
        `total faults ${summary.stats.faults}, evictions ${summary.stats.evictions}, writebacks ${summary.stats.writebacks}`,
    );
    return summary;
  } finally {
    await space.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      file: { type: "string" },
      "region-mib": { type: "string" },
      updates: { type: "string" },
    },
  });
  const summary = await main({
    file: values.file,
    regionMiB: values["region-mib"] === undefined ? undefined : Number(values["region-mib"]),
    updates: values.updates === undefined ? undefined : Number(values.updates),
  });
  console.log(JSON.stringify(summary));
}
