/**
 * Checkpoint images: the live blocks and their contents at one seq, as records (format.ts) that
 * all carry that seq:
 *
 *   ALLOC h1 … ALLOC hn   MAP m1 …   BATCH (pages of h1…)  BATCH …   END count
 *
 * Anonymous blocks are read from the pool synchronously, so the image is the state at `seq`
 * exactly, except that a page may already hold a write whose batch comes later in the log (the
 * newer bytes; recovery applies that batch again on top). MAP regions are read through the vm
 * afterwards (only pages ever written); a region unmapped meanwhile is left out of the pages
 * (its UNMAP follows `seq` in the log). All-zero pages are left out: a restored block starts zeroed.
 */
import type { Service } from "../service/server.js";
import { BatchBuilder, batchEntrySize, encodeAlloc, encodeEnd, encodeMap, PAGE_SIZE } from "./format.js";
import { pageLength, type Replicator } from "./replicator.js";

export interface MapInfo {
  store: "anon" | "file";
  name: string;
  hint: string;
  /** Pages ever written (a region may be far larger than what was touched). */
  written: Set<number>;
}

/** Pages per BATCH record inside an image. */
const IMAGE_BATCH = 256;

export async function buildImage(
  svc: Service,
  rep: Replicator,
  seq: number,
): Promise<{ records: Buffer[]; blocks: number; bytes: number }> {
  const records: Buffer[] = [];
  const pages: [string, number, Uint8Array][] = [];
  const maps: [string, number, number, number][] = [];
  let blocks = 0;
  for (const cap of svc.caps.all()) {
    blocks++;
    if (cap.kind === "map") {
      const info = rep.maps.get(cap);
      if (info === undefined) continue;
      const { store, name, hint } = info;
      records.push(
        encodeMap(seq, { handle: cap.handle, owner: cap.owner, length: cap.size, store, name, hint }),
      );
      for (const p of info.written) maps.push([cap.handle, cap.address, cap.size, p]);
      continue;
    }
    const align = rep.aligns.get(cap) ?? 0;
    records.push(encodeAlloc(seq, { handle: cap.handle, owner: cap.owner, size: cap.size, align }));
    const n = Math.ceil(cap.size / PAGE_SIZE);
    for (let p = 0; p < n; p++) {
      const view = svc.pool.view(cap.address + p * PAGE_SIZE, pageLength(cap.size, p));
      if (!allZero(view)) pages.push([cap.handle, p, Uint8Array.from(view)]);
    }
  }
  for (const [handle, address, size, p] of maps) {
    if (svc.caps.find(handle) === undefined) continue;
    try {
      pages.push([handle, p, await svc.maps.read(address, p * PAGE_SIZE, pageLength(size, p))]);
    } catch {
      // Unmapped while the image was written.
    }
  }
  for (let i = 0; i < pages.length; i += IMAGE_BATCH) {
    const part = pages.slice(i, i + IMAGE_BATCH);
    const b = new BatchBuilder(part.reduce((a, [h, , d]) => a + batchEntrySize(h, d.length), 0));
    for (const [h, p, d] of part) b.add(h, p, 0, d);
    records.push(b.finish(seq));
  }
  records.push(encodeEnd(seq, records.length));
  return { records, blocks, bytes: records.reduce((a, r) => a + r.length, 0) };
}

function allZero(v: Uint8Array): boolean {
  const aligned = v.byteOffset % 4 === 0;
  const words = aligned ? new Uint32Array(v.buffer, v.byteOffset, v.length >>> 2) : null;
  let i = 0;
  if (words !== null) {
    for (let w = 0; w < words.length; w++) if (words[w] !== 0) return false;
    i = words.length * 4;
  }
  for (; i < v.length; i++) if (v[i] !== 0) return false;
  return true;
}
