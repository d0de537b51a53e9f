/**
 * Seeded random interleavings against a model, with the shapes the other model tests leave out:
 * page sizes from 512 B to 64 KiB, mappings whose lengths are not page multiples, many small
 * mappings that alias each other (several windows of one store at different offsets), accesses
 * that end at a mapping's last byte, and copy, scatter, range syncs and the reclaim layer's calls
 * (shrink, writeback) started together with everything else.
 *
 * Each step starts a batch of commands at once. The commands of a batch that change bytes reserve
 * the store bytes they touch (whole pages for pins and unmaps, which act on pages), and no other
 * command of the batch may touch those bytes, so the model's result does not depend on the order
 * the commands finish in. Hints, syncs, shrink and writeback reserve nothing: they must never
 * change a byte, whatever runs beside them. The one failure allowed is dontneed refused (EBUSY)
 * by a pin of the batch. After every batch: check(), and the stats bounds.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  AddressSpace,
  AnonymousStore,
  FileStore,
  type Hint,
  InvalidAddressError,
  type Store,
} from "../../src/index.js";
import { rng } from "../helpers/rng.js";
import { MemoryStore, pattern, tempDir } from "./helpers.js";

const tmp = tempDir();
afterAll(() => tmp.remove());

interface Live {
  v: number;
  store: number;
  offset: number;
  length: number;
}

/** A FileHandle over a byte array (gather writes into it, scatter reads from it). */
function bufferHandle(bytes: Uint8Array) {
  return {
    bytes,
    read: async (b: Uint8Array, o: number, length: number, position: number) => {
      const n = Math.max(0, Math.min(length, bytes.length - position));
      b.set(bytes.subarray(position, position + n), o);
      await Promise.resolve();
      return { bytesRead: n };
    },
    write: async (b: Uint8Array, o: number, length: number, position: number) => {
      // A short write now and then: gather must go on from where it stopped.
      const n = length > 3 ? length - 3 : length;
      bytes.set(b.subarray(o, o + n), position);
      await Promise.resolve();
      return { bytesWritten: n };
    },
  };
}

async function run(seed: number, steps: number): Promise<void> {
  const r = rng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const ps = pick([512, 1024, 2048, 4096, 65536]);
  const frames = int(2, 6);
  const policy = pick(["lru", "clock", "arc", "sieve", "s3fifo", "adaptive"]);
  const space = new AddressSpace({ frames, pageSize: ps, policy, readahead: { initial: 1, max: 4 } });
  const file = join(tmp.path, `i${seed}.dat`);
  const stores: Store[] = [
    new AnonymousStore({ swap: join(tmp.path, `i${seed}.swap`) }),
    new MemoryStore("persistent"),
    new FileStore(file),
  ];
  const storePages = 6;
  const size = storePages * ps;
  const model = stores.map(() => new Uint8Array(size));
  const live: Live[] = [];
  const where = `seed ${seed} (page size ${ps}, ${frames} frames, ${policy})`;

  const mapOne = () => {
    const store = int(0, stores.length - 1);
    const offsetPage = int(0, storePages - 1);
    const maxLength = size - offsetPage * ps;
    // Mostly short, odd lengths; now and then up to the store's end.
    const length = r() < 0.7 ? int(1, Math.min(maxLength, 2 * ps + 7)) : int(1, maxLength);
    const hint = pick<Hint>(["normal", "normal", "sequential", "random", "readOnce", "willneed"]);
    const v = space.map({ length, store: stores[store], offset: offsetPage * ps, hint });
    live.push({ v, store, offset: offsetPage * ps, length });
  };
  for (let i = 0; i < 6; i++) mapOne();

  /** Reserved store byte ranges of the batch: [store, from, to). */
  let reserved: [number, number, number][] = [];
  const free = (store: number, from: number, to: number) =>
    reserved.every(([s, a, b]) => s !== store || b <= from || a >= to);
  const reserve = (store: number, from: number, to: number) => {
    if (!free(store, from, to)) return false;
    reserved.push([store, from, to]);
    return true;
  };
  /** A random range of a live mapping: sometimes at its last byte, sometimes across pages. */
  const range = (m: Live) => {
    const roll = r();
    if (roll < 0.25) {
      const len = int(1, Math.min(m.length, ps + 1));
      return { at: m.length - len, len };
    }
    const at = int(0, m.length - 1);
    return { at, len: int(1, Math.min(m.length - at, 2 * ps + 5)) };
  };
  const pageRange = (m: Live, at: number, len: number): [number, number] => [
    Math.floor((m.offset + at) / ps) * ps,
    Math.ceil((m.offset + at + len) / ps) * ps,
  ];

  for (let step = 0; step < steps; step++) {
    reserved = [];
    const jobs: Promise<void>[] = [];
    const after: (() => void)[] = [];
    let pins = 0;
    const ops = int(1, 6);
    for (let k = 0; k < ops && live.length > 0; k++) {
      const m = pick(live);
      const { at, len } = range(m);
      const s = m.store;
      const o = m.offset + at;
      const kind = pick([
        "write",
        "write",
        "read",
        "peek",
        "pin",
        "copy",
        "gather",
        "scatter",
        "advise",
        "sync",
        "reclaim",
        "unmap",
      ]);
      const at0 = m.v + at;
      if (kind === "write" && reserve(s, o, o + len)) {
        const bytes = pattern(len, seed * 1000 + step * 10 + k);
        jobs.push(space.write(at0, bytes));
        after.push(() => model[s].set(bytes, o));
      } else if ((kind === "read" || kind === "peek") && reserve(s, o, o + len)) {
        const want = model[s].slice(o, o + len);
        jobs.push(
          (kind === "read" ? space.read(at0, len) : space.peek(at0, len)).then((got) => {
            expect(Buffer.compare(got, want), `${kind} ${where} step ${step}`).toBe(0);
          }),
        );
      } else if (kind === "pin" && pins === 0) {
        const [a, b] = pageRange(m, at, len);
        if ((b - a) / ps > frames - 1 || !reserve(s, a, b)) continue;
        pins++;
        const want = model[s].slice(o, o + len);
        const bytes = pattern(len, seed * 7 + step);
        jobs.push(
          space.pin(at0, len, { owner: `step ${step}` }).then((p) => {
            expect(Buffer.compare(p.bytes, want), `pin ${where} step ${step}`).toBe(0);
            p.bytes.set(bytes);
            p.release();
          }),
        );
        after.push(() => model[s].set(bytes, o));
      } else if (kind === "copy") {
        const d = pick(live);
        const dr = range(d);
        const n = Math.min(len, dr.len);
        const dOff = d.offset + dr.at;
        if (!reserve(s, o, o + n)) continue;
        if (!reserve(d.store, dOff, dOff + n)) {
          reserved.pop();
          continue;
        }
        const src = model[s].slice(o, o + n);
        jobs.push(space.copy(at0, d.v + dr.at, n));
        after.push(() => model[d.store].set(src, dOff));
      } else if (kind === "gather" && reserve(s, o, o + len)) {
        const h = bufferHandle(new Uint8Array(len + 5));
        const want = model[s].slice(o, o + len);
        jobs.push(
          space.gather(at0, len, h, 5).then((n) => {
            expect(n).toBe(len);
            expect(Buffer.compare(h.bytes.subarray(5), want), `gather ${where} step ${step}`).toBe(0);
          }),
        );
      } else if (kind === "scatter" && reserve(s, o, o + len)) {
        // A file shorter than the range: scatter stops at its end.
        const fileBytes = pattern(int(0, len + 2), seed + step * 31 + k);
        const h = bufferHandle(fileBytes);
        const n = Math.min(len, Math.max(0, fileBytes.length - 2));
        jobs.push(
          space.scatter(at0, len, h, 2).then((got) => {
            expect(got).toBe(n);
          }),
        );
        after.push(() => model[s].set(fileBytes.subarray(2, 2 + n), o));
      } else if (kind === "advise") {
        const hint = pick<Hint>(["normal", "sequential", "random", "readOnce", "willneed", "dontneed"]);
        jobs.push(
          space.advise(at0, len, hint).catch((e) => {
            if (!(hint === "dontneed" && pins > 0 && e instanceof InvalidAddressError && e.code === "EBUSY"))
              throw e;
          }),
        );
      } else if (kind === "sync") {
        jobs.push(r() < 0.5 ? space.sync(at0, len) : space.sync());
      } else if (kind === "reclaim") {
        if (r() < 0.5) space.shrink(int(1, frames));
        else jobs.push(space.writeback(int(1, frames)).then(() => {}));
      } else if (kind === "unmap") {
        const [a, b] = pageRange(m, 0, m.length);
        if (!reserve(s, a, b)) continue;
        live.splice(live.indexOf(m), 1);
        // A read of the mapping started just before the unmap: it sees the bytes, or finds the
        // mapping gone (InvalidAddressError) at a page boundary; its faults (and their read-ahead)
        // must leave no page of the removed mapping behind.
        if (r() < 0.6) {
          const want = model[s].slice(o, o + len);
          jobs.push(
            space.read(at0, len).then(
              (got) => expect(Buffer.compare(got, want), `read before unmap ${where} step ${step}`).toBe(0),
              (e) => {
                if (!(e instanceof InvalidAddressError)) throw e;
              },
            ),
          );
        }
        jobs.push(space.unmap(m.v));
        after.push(() => {
          // An anonymous store's pages that no other mapping covers are discarded.
          if (s !== 0) return;
          for (let p = a; p < b; p += ps) {
            const covered = live.some(
              (l) => l.store === 0 && p >= pageRange(l, 0, l.length)[0] && p < pageRange(l, 0, l.length)[1],
            );
            if (!covered) model[0].fill(0, p, p + ps);
          }
        });
      }
    }
    const results = await Promise.allSettled(jobs);
    for (const res of results)
      if (res.status === "rejected")
        throw new Error(`${where} step ${step}: ${res.reason?.stack ?? res.reason}`);
    for (const fn of after) fn();
    space.check();
    const st = space.stats();
    expect(st.resident, `resident ${where} step ${step}`).toBeLessThanOrEqual(frames);
    // A victim in writeback (a willneed prefetch of map() runs on in the background) is dirty, not resident.
    expect(st.dirty, `dirty ${where} step ${step}`).toBeLessThanOrEqual(st.resident + st.inFlight);
    expect(st.pins).toBe(0);
    if (live.length < 3 || r() < 0.2) mapOne();
  }

  // Everything the model holds reads back, and a sync puts the file's bytes on disk.
  for (const m of live) {
    const got = await space.read(m.v, m.length);
    expect(Buffer.compare(got, model[m.store].subarray(m.offset, m.offset + m.length)), where).toBe(0);
  }
  await space.sync();
  // No file at all when nothing was ever written to it.
  const onDisk = await readFile(file).catch(() => new Uint8Array(0));
  const fileModel = new Uint8Array(Math.max(onDisk.length, size));
  fileModel.set(model[2]);
  // Bytes past the file's end read as zeros; bytes of pages no mapping shows now were written
  // back when their mapping went, so the whole model is the file.
  const disk = new Uint8Array(Math.max(onDisk.length, size));
  disk.set(onDisk);
  expect(Buffer.compare(disk.subarray(0, size), fileModel.subarray(0, size)), `file ${where}`).toBe(0);
  await space.close();
  for (const s of stores) await s.close();
}

describe("seeded interleavings of every command, odd page sizes and aliasing mappings", () => {
  const seeds = Number(process.env.MNEME_VM_SEEDS ?? 60);
  const first = Number(process.env.MNEME_VM_SEED ?? 1);
  it(`${seeds} seeds from ${first}: every byte read is the model's, nothing acknowledged is lost`, async () => {
    for (let seed = first; seed < first + seeds; seed++)
      await run(seed, Number(process.env.MNEME_VM_STEPS ?? 40));
  }, 120_000);
});
