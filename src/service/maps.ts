/**
 * MAP regions: pageable memory for the service, backed by the vm layer. One AddressSpace (with
 * `mapFrames` frames of its own) serves every MAP; each region has its own store: anonymous memory
 * that swaps under `<data>/swap`, or a named file under `<data>/maps` (names are restricted to
 * [A-Za-z0-9._-] so a client cannot reach outside the data directory). Regions may be far larger
 * than the frames: pages come and go on faults.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { InvalidArgumentError } from "../errors.js";
import { AddressSpace } from "../vm/address-space.js";
import type { Hint } from "../vm/hints.js";
import { AnonymousStore } from "../vm/stores/anonymous.js";
import { FileStore } from "../vm/stores/file.js";
import type { Store } from "../vm/stores/store.js";

const NAME = /^[A-Za-z0-9._-]{1,128}$/;

export class MapRegions {
  private space: AddressSpace | null = null;
  private readonly stores = new Map<number, Store>();

  constructor(
    private readonly dataDir: string,
    private readonly frames: number,
  ) {}

  /** Maps `length` bytes; returns the region's virtual address. */
  map(length: number, kind: "anon" | "file", name: string | null, hint: Hint | undefined): number {
    if (kind === "file" && (name === null || !NAME.test(name) || name === "." || name === "..")) {
      throw new InvalidArgumentError("name", name, "file names are 1-128 characters of [A-Za-z0-9._-]");
    }
    if (kind === "file") mkdirSync(join(this.dataDir, "maps"), { recursive: true });
    const store =
      kind === "file"
        ? new FileStore(join(this.dataDir, "maps", name as string))
        : new AnonymousStore({ dataDir: this.dataDir });
    if (this.space === null) this.space = new AddressSpace({ frames: this.frames });
    const v = this.space.map({ length, store, hint });
    this.stores.set(v, store);
    return v;
  }

  read(v: number, offset: number, length: number): Promise<Uint8Array> {
    return this.need().read(v + offset, length);
  }

  write(v: number, offset: number, data: Uint8Array): Promise<void> {
    return this.need().write(v + offset, data);
  }

  async unmap(v: number): Promise<void> {
    await this.need().unmap(v);
    const store = this.stores.get(v);
    this.stores.delete(v);
    await store?.close();
  }

  /** Writes every dirty page of every region to its store. */
  async sync(): Promise<void> {
    if (this.space !== null) await this.space.sync();
  }

  get count(): number {
    return this.stores.size;
  }

  stats(): Record<string, number> {
    if (this.space === null) return { regions: 0, frames: this.frames };
    const s = this.space.stats() as unknown as Record<string, number>;
    return { regions: this.stores.size, frames: this.frames, ...pick(s) };
  }

  async close(): Promise<void> {
    if (this.space !== null) await this.space.close();
    this.space = null;
    this.stores.clear();
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
