/**
 * The state of one address space, shared by its operations (map-unmap.ts, access.ts, pin.ts,
 * advise.ts, sync.ts, container.ts), and the checks and waits they have in common: argument and
 * range validation, the keys of a mapping's resident pages, and the "settled" test a dropper
 * (unmap, dontneed) must pass before it drops a page.
 *
 * Who writes what: the tree, store tables, ids and mapEpoch change in map-unmap.ts only; pinRecords in
 * pin.ts only; closed and deadError in AddressSpace (close, terminate). Everything here runs on
 * one thread; the awaits in between are where other calls interleave (fault.ts's contract).
 */
import { InvalidAddressError, InvalidArgumentError, MnemeError } from "../errors.js";
import type { Pager } from "./fault.js";
import type { FrameSource } from "./frame-source.js";
import { KEY_STRIDE } from "./frames.js";
import type { PinRecord } from "./inspect.js";
import type { Mapping, MappingTree } from "./mappings.js";
import { StoreIds } from "./store-ids.js";
import type { Store } from "./stores/store.js";

export class SpaceState {
  readonly pageSize: number;
  readonly frameLimit: number;
  readonly source: FrameSource;
  readonly pager: Pager;
  readonly tree: MappingTree;
  readonly storeIds = new Map<Store, number>();
  /** Stores by id (the pager's storeOf reads the same map). */
  readonly stores: Map<number, Store>;
  /** Mappings per store id: the store leaves the space with its last mapping. */
  readonly mapCount = new Map<number, number>();
  readonly ids = new StoreIds();
  /** Mapped stores by Store.identity (one object per identity). */
  readonly byIdentity = new Map<string, Store>();
  nextMappingId = 1;
  /** Counts map() calls (and mappings put back): unmap() looks coverage up again when it moves. */
  mapEpoch = 0;
  /** Mappings whose unmap() is in progress: out of the tree, their pages not all dropped yet. */
  readonly unmapping = new Set<Mapping>();
  readonly pinRecords = new Map<number, PinRecord>();
  nextPinId = 1;
  readonly raInitial: number;
  readonly raMax: number;
  closed = false;
  deadError: Error | null = null;
  /** See AddressSpace.writeGate. */
  writeGate: (() => Promise<unknown>) | null = null;

  constructor(
    pageSize: number,
    frameLimit: number,
    source: FrameSource,
    pager: Pager,
    tree: MappingTree,
    stores: Map<number, Store>,
    raInitial: number,
    raMax: number,
  ) {
    this.pageSize = pageSize;
    this.frameLimit = frameLimit;
    this.source = source;
    this.pager = pager;
    this.tree = tree;
    this.stores = stores;
    this.raInitial = raInitial;
    this.raMax = raMax;
  }

  /** Throws the terminate() error, or ECLOSED after close(). */
  open(): void {
    if (this.deadError !== null) throw this.deadError;
    if (this.closed) throw new MnemeError("ECLOSED", "the address space is closed");
  }

  /** The mapping holding all of [v, v + length), validated. */
  range(v: number, length: number, writing: boolean): Mapping {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      throw new InvalidArgumentError("address", v, "must be a non-negative integer");
    }
    if (!Number.isSafeInteger(length) || length <= 0) {
      throw new InvalidArgumentError("length", length, "must be a positive integer");
    }
    const m = this.tree.find(v);
    if (m === undefined) throw new InvalidAddressError(v, "is not mapped");
    if (v + length > m.start + m.length) {
      throw new InvalidAddressError(
        v + length - 1,
        `lies past the end of the mapping at 0x${m.start.toString(16)}`,
      );
    }
    if (writing && !m.writable) throw new InvalidAddressError(v, "mapping is read-only", "EACCES");
    return m;
  }

  /** The key of the first page of `m` (page i of the mapping is this + i). */
  baseKey(m: Mapping): number {
    return m.storeId * KEY_STRIDE + m.offset / this.pageSize;
  }

  /** Keys of pages [from, to) of `m` that are resident or pending (whichever set is smaller to scan). */
  keysOf(m: Mapping, from: number, to: number): number[] {
    const base = this.baseKey(m);
    const p = this.pager;
    const out: number[] = [];
    if (to - from <= p.index.size + p.pending.size) {
      for (let page = from; page < to; page++) {
        if (p.index.has(base + page) || p.pending.has(base + page)) out.push(base + page);
      }
      return out;
    }
    const lo = base + from;
    const hi = base + to;
    for (const key of p.index.keys()) if (key >= lo && key < hi) out.push(key);
    for (const key of p.pending.keys()) if (key >= lo && key < hi && !p.index.has(key)) out.push(key);
    return out.sort((a, b) => a - b);
  }

  /** Waits until `key` is not pending. */
  async settle(key: number): Promise<void> {
    for (let p = this.pager.pending.get(key); p !== undefined; p = this.pager.pending.get(key)) {
      await p.promise.catch(() => {});
    }
  }

  /**
   * Whether page `key` changed while its dropper waited: I/O on it (a fault's writeback of it as
   * a victim), a transient ref (a fault that brought it in while the dropper waited, whose caller
   * has yet to use the frame: dropped now, its write would land in a freed frame), or, when
   * `mustBeClean`, new dirty bytes (a write that landed after its clean).
   */
  unsettled(key: number, mustBeClean: boolean): boolean {
    const pager = this.pager;
    if (pager.pending.has(key)) return true;
    const f = pager.index.get(key);
    if (f === undefined) return false;
    return pager.frames.refs[f] !== 0 || (mustBeClean && pager.frames.dirtyEnd[f] !== 0);
  }

  /** Waits until the frame of `key` (if resident) has no transient refs. */
  async unrefWait(key: number): Promise<void> {
    for (;;) {
      const f = this.pager.index.get(key);
      if (f === undefined || this.pager.frames.refs[f] === 0) return;
      await this.pager.changed();
    }
  }

  /**
   * EBUSY if resident page `key` is pinned when its dropper comes to drop it: pinned while the
   * dropper waited, or through another mapping of the same store (the range check above sees
   * addresses, not pages). Dropping it would free a frame the pin's views still show.
   */
  refusePinnedPage(key: number): void {
    const f = this.pager.index.get(key);
    if (f === undefined || this.pager.frames.pins[f] === 0) return;
    for (const r of this.pinRecords.values()) {
      if (r.frames.includes(f))
        throw new InvalidAddressError(r.address, `is pinned by "${r.owner}"`, "EBUSY");
    }
  }

  /** EBUSY if any page of pages [from, to) of `m` is pinned. */
  refusePinned(m: Mapping, from: number, to: number): void {
    const ps = this.pageSize;
    const lo = m.start + from * ps;
    const hi = m.start + to * ps;
    for (const r of this.pinRecords.values()) {
      if (r.address < hi && r.address + r.length > lo) {
        throw new InvalidAddressError(r.address, `is pinned by "${r.owner}"`, "EBUSY");
      }
    }
  }
}
