/**
 * MAP regions: pageable memory for the service, backed by the vm layer. One AddressSpace (with
 * `mapFrames` frames of its own) serves every MAP; each region has its own store: anonymous memory
 * that swaps under `<data>/swap`, or a named file (names are restricted to [A-Za-z0-9._-] so a
 * client cannot reach outside the data directory). Regions may be far larger than the frames:
 * pages come and go on faults.
 *
 * Named files belong to the identity that maps them, like its handles: the default identity's
 * are `<data>/maps/NAME`, another identity's `<data>/maps/@IDENTITY/NAME` ('@' is not allowed in
 * names, so the two never meet). So one identity cannot read or overwrite another's file by
 * naming it. Regions of one identity on one file share one store, so they alias each other (one
 * page cache, as two mmaps of a file do): a write through one is what the other reads, and
 * neither writes back over the other's pages.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { InvalidArgumentError } from "../errors.js";
import type { Flusher } from "../reclaim/flusher.js";
import { type FrameReclaim, startReclaim } from "../reclaim/frame-reclaim.js";
import type { OomEvent } from "../reclaim/oom.js";
import { Reclaimer } from "../reclaim/reclaimer.js";
import { startWriteback } from "../reclaim/writeback.js";
import { AddressSpace } from "../vm/address-space.js";
import type { Hint } from "../vm/hints.js";
import { AnonymousStore } from "../vm/stores/anonymous.js";
import { FileStore } from "../vm/stores/file.js";
import type { Store } from "../vm/stores/store.js";
import type { ServiceEvents } from "./events.js";

const NAME = /^[A-Za-z0-9._-]{1,128}$/;

/** The page size of the MAP regions' address space (a region's quota bytes are whole pages). */
export const MAP_PAGE_SIZE = 4096;

/** The page cache's tunables (the service's map* options); unset ones take the layer's defaults. */
export interface MapTuning {
  dirtyLow?: number;
  dirtyHigh?: number;
  /** ms between flusher wake-ups, also the age after which a dirty page is written regardless. */
  flushInterval?: number;
  /** Frames kept free (the min watermark); 0 or unset: derived from the frames. */
  minFree?: number;
}

/** How often reclaim and throttling are summarised into the event log, in ms. */
const REPORT_EVERY = 1000;

export class MapRegions {
  private space: AddressSpace | null = null;
  private readonly stores = new Map<number, Store>();
  /** The shared store of each file in use, by path, and how many regions map it. */
  private readonly files = new Map<string, { store: FileStore; regions: number }>();
  /** The file path of each file region, by its address. */
  private readonly fileOf = new Map<number, string>();
  /** The identity and length of each file region, by its address (what SYNC of an identity writes). */
  private readonly fileRegions = new Map<number, { owner: string; length: number }>();
  private flusher: Flusher | null = null;
  private reclaim: FrameReclaim | null = null;
  private readonly reclaimer = new Reclaimer();
  private reporter: NodeJS.Timeout | null = null;
  private reported = { direct: 0, background: 0, throttled: 0 };
  /** Stores of unmapped regions whose close failed. */
  private closeErrors = 0;
  /** Regions freed whose unmap then failed: still mapped, with no handle, until close. */
  orphaned = 0;

  constructor(
    private readonly dataDir: string,
    private readonly frames: number,
    private readonly events: ServiceEvents | null = null,
    private readonly tuning: MapTuning = {},
  ) {
    this.reclaimer.on("oom", (e: OomEvent) =>
      this.events?.emitEvent("oom", `OOM killer: ${e.victim} (${e.reason})`, { ...e }),
    );
  }

  /** Maps `length` bytes for `owner` (an identity); returns the region's virtual address. */
  map(
    length: number,
    kind: "anon" | "file",
    name: string | null,
    hint: Hint | undefined,
    owner: string,
  ): number {
    if (kind === "file" && (name === null || !NAME.test(name) || name === "." || name === "..")) {
      throw new InvalidArgumentError("name", name, "file names are 1-128 characters of [A-Za-z0-9._-]");
    }
    if (this.space === null) this.space = this.start();
    if (kind === "anon") {
      const store = new AnonymousStore({ dataDir: this.dataDir });
      const v = this.space.map({ length, store, hint });
      this.stores.set(v, store);
      return v;
    }
    const dir = owner === "default" ? join(this.dataDir, "maps") : join(this.dataDir, "maps", `@${owner}`);
    const path = join(dir, name as string);
    mkdirSync(dir, { recursive: true });
    const file = this.files.get(path) ?? { store: new FileStore(path), regions: 0 };
    const v = this.space.map({ length, store: file.store, hint });
    file.regions++;
    this.files.set(path, file);
    this.fileOf.set(v, path);
    this.fileRegions.set(v, { owner, length });
    this.stores.set(v, file.store);
    return v;
  }

  read(v: number, offset: number, length: number): Promise<Uint8Array> {
    return this.need().read(v + offset, length);
  }

  write(v: number, offset: number, data: Uint8Array): Promise<void> {
    return this.need().write(v + offset, data);
  }

  /**
   * Unmaps a region. When the vm layer refuses (its store failed the writeback), the region stays
   * mapped with its dirty pages and this rejects. Once it is unmapped the region is gone whatever
   * follows: a store whose close fails then is counted (closeErrors), not reported as a failed unmap.
   */
  async unmap(v: number): Promise<void> {
    // Out of SYNC's list first: the vm layer takes the mapping out at once, and a range sync of
    // it meanwhile would fail. Back in when the unmap is refused (the region stays mapped).
    const region = this.fileRegions.get(v);
    this.fileRegions.delete(v);
    try {
      await this.need().unmap(v);
    } catch (e) {
      if (region !== undefined) this.fileRegions.set(v, region);
      throw e;
    }
    const store = this.stores.get(v);
    this.stores.delete(v);
    const path = this.fileOf.get(v);
    this.fileOf.delete(v);
    const file = path === undefined ? undefined : this.files.get(path);
    if (path !== undefined && file !== undefined && --file.regions > 0) return;
    if (path !== undefined) this.files.delete(path);
    await store?.close().catch(() => {
      this.closeErrors++;
    });
  }

  /** Writes the dirty pages of one region to its store (none for an anonymous region). */
  async syncRegion(v: number, length: number): Promise<void> {
    await this.need().sync(v, length);
  }

  /**
   * Writes the dirty pages of `owner`'s file regions to their files (anonymous regions have none
   * to keep). Only its own: another identity's file failing is none of its business, and that
   * identity's error is not to be told to others.
   */
  async syncOwner(owner: string): Promise<void> {
    const space = this.space;
    if (space === null) return;
    const writes: Promise<void>[] = [];
    for (const [v, r] of this.fileRegions) if (r.owner === owner) writes.push(space.sync(v, r.length));
    await Promise.all(writes);
  }

  get count(): number {
    return this.stores.size;
  }

  /**
   * The page cache of the MAP regions: residency and faults, free frames against the watermarks,
   * dirty pages against the flusher's thresholds (in pages of the current cache), and what
   * reclaim and throttling did.
   */
  stats(): Record<string, number> {
    if (this.space === null || this.reclaim === null || this.flusher === null)
      return { regions: 0, frames: this.frames, closeErrors: this.closeErrors, orphaned: this.orphaned };
    const s = this.space.stats() as unknown as Record<string, number>;
    const r = this.reclaim.stats();
    const f = this.flusher.stats();
    const cached = this.space.cachedPages();
    return {
      regions: this.stores.size,
      frames: this.frames,
      ...pick(s),
      free: r.free,
      wmarkMin: r.min,
      wmarkLow: r.low,
      wmarkHigh: r.high,
      dirtyLow: Math.floor(cached * f.lowRatio),
      dirtyHigh: Math.floor(cached * f.highRatio),
      throttled: f.throttled,
      flushed: f.written,
      reclaims: r.direct + r.background,
      directReclaims: r.direct,
      reclaimedFrames: r.directFreed + r.backgroundFreed,
      oomKills: this.reclaimer.oom.kills,
      closeErrors: this.closeErrors,
      orphaned: this.orphaned,
    };
  }

  async close(): Promise<void> {
    if (this.reporter !== null) clearInterval(this.reporter);
    this.reporter = null;
    if (this.space !== null) await this.space.close();
    this.space = null;
    this.flusher = null;
    this.reclaim = null;
    this.stores.clear();
    this.files.clear();
    this.fileOf.clear();
    this.fileRegions.clear();
  }

  /** The address space, with the flusher (dirty thresholds, throttling) and watermark reclaim. */
  private start(): AddressSpace {
    const space = new AddressSpace({ frames: this.frames, pageSize: MAP_PAGE_SIZE });
    const t = this.tuning;
    this.flusher = startWriteback(space, {
      lowRatio: t.dirtyLow,
      highRatio: t.dirtyHigh,
      interval: t.flushInterval,
      expire: t.flushInterval,
    });
    // The regions are the service's whole page cache: they are never the OOM victim of their own
    // faults (which evict instead), and say so to any other consumer's reclaim.
    this.reclaim = startReclaim(space, {
      reclaimer: this.reclaimer,
      name: "map-regions",
      oomScoreAdj: -1000,
      marks: t.minFree ? { min: t.minFree } : undefined,
    });
    if (this.events !== null) {
      this.reporter = setInterval(() => this.report(), REPORT_EVERY);
      this.reporter.unref();
    }
    return space;
  }

  /** Summarises reclaim rounds and throttled writes since the last report into the event log. */
  private report(): void {
    if (this.reclaim === null || this.flusher === null || this.events === null) return;
    const r = this.reclaim.stats();
    const throttled = this.flusher.stats().throttled;
    const last = this.reported;
    const direct = r.direct - last.direct;
    const background = r.background - last.background;
    if (direct + background > 0) {
      this.events.emitEvent("reclaim", `reclaim: ${direct} direct, ${background} background rounds`, {
        direct,
        background,
        free: r.free,
        low: r.low,
        high: r.high,
      });
    }
    if (throttled > last.throttled) {
      this.events.emitEvent(
        "throttle",
        `${throttled - last.throttled} writes throttled above the dirty high ratio`,
        {
          throttled: throttled - last.throttled,
          dirty: this.space?.dirtyPages() ?? 0,
        },
      );
    }
    this.reported = { direct: r.direct, background: r.background, throttled };
  }

  private need(): AddressSpace {
    if (this.space === null) throw new InvalidArgumentError("handle", "map", "no MAP region exists");
    return this.space;
  }
}

function pick(s: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of ["faults", "hits", "evictions", "writebacks", "resident", "dirty"]) {
    if (typeof s[k] === "number") out[k] = s[k];
  }
  return out;
}
