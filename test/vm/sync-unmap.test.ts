/**
 * sync() lists every page first and cleans them in batches, awaiting each batch; a mapping
 * unmapped meanwhile (by another caller) has no store any more when sync reaches its pages. It
 * threw a TypeError ("reading 'discard'"; the service answered a SYNC racing a FREE of a MAP
 * region with it). Those pages are the unmap's to write back: sync skips them.
 */
import { describe, expect, it } from "vitest";
import { AddressSpace } from "../../src/index.js";
import { MemoryStore } from "./helpers.js";

/** A MemoryStore whose page writes wait until `open()`. */
class GatedStore extends MemoryStore {
  /** Declared first: the gate's executor below sets it. */
  open: () => void = () => {};
  private readonly writeGate: Promise<void> = new Promise((resolve) => {
    this.open = resolve;
  });

  override async writePage(offset: number, data: Uint8Array): Promise<void> {
    await this.writeGate;
    await super.writePage(offset, data);
  }
}

describe("sync() while another caller unmaps a mapping", () => {
  it("skips the unmapped mapping's pages (written back by the unmap) and resolves", async () => {
    const space = new AddressSpace({ frames: 128 });
    const slow = new GatedStore("slow");
    const other = new MemoryStore("other");
    const a = space.map({ length: 40 * 4096, store: slow });
    const b = space.map({ length: 8 * 4096, store: other });
    for (let p = 0; p < 40; p++) await space.write(a + p * 4096, Uint8Array.of(1, p));
    for (let p = 0; p < 8; p++) await space.write(b + p * 4096, Uint8Array.of(2, p));
    // sync's first batch (32 of the slow mapping's pages) waits on the gate...
    const synced = space.sync();
    await new Promise((r) => setTimeout(r, 10));
    // ...while the other mapping goes, its pages written back by the unmap.
    await space.unmap(b);
    expect([...(other.data.get(7 * 4096) ?? [])].slice(0, 2)).toEqual([2, 7]);
    slow.open();
    await expect(synced).resolves.toBeUndefined();
    for (let p = 0; p < 40; p++) expect([...(slow.data.get(p * 4096) ?? [])].slice(0, 2)).toEqual([1, p]);
    space.check();
    await space.close();
  });
});
