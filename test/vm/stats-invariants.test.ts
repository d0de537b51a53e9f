/**
 * stats() under concurrent commands with failures injected: a store whose next reads or writes
 * fail, a swap file with room for three pages, pins, dontneed and willneed, syncs, the flusher's
 * writeback and the shrinker, several at once on overlapping ranges. Checked while a step runs
 * (every few ms): resident <= frames, dirty <= resident, pinned <= resident, the swap file within
 * its cap, and every counter monotone. Checked between steps: check(), nothing in flight, and the
 * conservation of pages, every page in a frame came in by a fault, a prefetch or read-ahead and
 * every page that left was evicted or dropped:
 *
 *     resident = faults + prefetched + readahead - evictions - dropped
 *
 * and the data: bytes acknowledged by a write are read back; a write that failed leaves its range
 * unknown (each page old or new) until the next write of it. RUNS=3000 searches longer.
 */
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import {
  AddressSpace,
  AnonymousStore,
  FileStore,
  InvalidAddressError,
  OutOfMemoryError,
  policyNames,
  type Store,
  StoreError,
} from "../../src/index.js";
import { MemoryStore, pattern, tempDir } from "./helpers.js";

const PS = 512;
const PAGES = 6; // pages per mapping
const LEN = PAGES * PS;
const SWAP_PAGES = 3;
const tmp = tempDir();
afterAll(() => tmp.remove());

type Op =
  | { kind: "write"; m: number; at: number; len: number; seed: number }
  | { kind: "read" | "pin" | "dontneed" | "willneed"; m: number; at: number; len: number }
  | { kind: "sync" | "shrink" | "writeback" | "failReads" | "failWrites"; n: number };

const at = fc.integer({ min: 0, max: LEN - 1 });
const len = fc.integer({ min: 1, max: 2 * PS });
const m = fc.integer({ min: 0, max: 2 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("write" as const), m, at, len, seed: fc.nat(999) }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constantFrom(
        "read" as const,
        "read" as const,
        "pin" as const,
        "dontneed" as const,
        "willneed" as const,
      ),
      m,
      at,
      len,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constantFrom(
        "sync" as const,
        "shrink" as const,
        "writeback" as const,
        "failReads" as const,
        "failWrites" as const,
      ),
      n: fc.integer({ min: 1, max: 3 }),
    }),
  },
);

const COUNTERS = [
  "faults",
  "hits",
  "sharedFaults",
  "evictions",
  "writebacks",
  "readahead",
  "readaheadHits",
  "prefetched",
  "dropped",
  "storeErrors",
] as const;

/** The failures a command may meet here: injected store failures, a full swap, all frames pinned. */
function allowed(e: unknown): void {
  if (e instanceof StoreError || e instanceof OutOfMemoryError) return;
  if (e instanceof InvalidAddressError && e.code === "EBUSY") return; // dontneed meeting a pin of the step
  throw e;
}

async function run(frames: number, policy: string, steps: Op[][]): Promise<void> {
  const id = Math.random().toString(36).slice(2);
  const flaky = new MemoryStore("flaky");
  const anon = new AnonymousStore({ swap: join(tmp.path, `s${id}.swap`), swapCap: SWAP_PAGES * PS });
  const stores: Store[] = [flaky, anon, new FileStore(join(tmp.path, `s${id}.dat`))];
  const space = new AddressSpace({ frames, pageSize: PS, policy, readahead: { initial: 2, max: 4 } });
  const vs = stores.map((store) => space.map({ length: LEN, store }));
  const model = stores.map(() => new Uint8Array(LEN));
  const known = stores.map(() => new Uint8Array(LEN).fill(1));
  let last = space.stats();
  const watch = () => {
    const s = space.stats();
    expect(s.resident).toBeLessThanOrEqual(s.frames);
    // A dirty victim being written out has left the index but is still dirty until its write ends.
    expect(s.dirty).toBeLessThanOrEqual(s.resident + s.inFlight);
    expect(s.pinned).toBeLessThanOrEqual(s.resident);
    for (const c of COUNTERS) expect(s[c], c).toBeGreaterThanOrEqual(last[c]);
    const swap = anon.stats();
    expect(swap.swapBytes as number).toBeLessThanOrEqual(SWAP_PAGES * PS);
    expect(swap.swapFileBytes as number).toBeLessThanOrEqual(SWAP_PAGES * PS);
    last = s;
  };
  try {
    for (const step of steps) {
      const written = stores.map(() => new Uint8Array(LEN));
      for (const op of step) {
        if (op.kind !== "write") continue;
        for (let b = op.at; b < Math.min(LEN, op.at + op.len); b++) written[op.m][b]++;
      }
      /** Checks `got` against the model where the bytes are known and no write of the step touches them. */
      const expectModel = (mi: number, from: number, got: Uint8Array, what: string) => {
        for (let i = 0; i < got.length; i++) {
          const b = from + i;
          if (known[mi][b] && !written[mi][b] && got[i] !== model[mi][b]) {
            throw new Error(`${what}: byte ${b} of mapping ${mi} is ${got[i]}, want ${model[mi][b]}`);
          }
        }
      };
      const jobs = step.map(async (op): Promise<void> => {
        if ("n" in op) {
          if (op.kind === "failReads") flaky.failReads += op.n;
          else if (op.kind === "failWrites") flaky.failWrites += op.n;
          else if (op.kind === "shrink") space.shrink(op.n);
          else if (op.kind === "writeback") await space.writeback(op.n).catch(allowed);
          else await space.sync().catch(allowed);
        } else {
          const n = Math.min(op.len, LEN - op.at);
          const v = vs[op.m] + op.at;
          if (op.kind === "write") {
            const data = pattern(n, op.seed);
            try {
              await space.write(v, data);
              model[op.m].set(data, op.at);
              known[op.m].fill(1, op.at, op.at + n);
            } catch (e) {
              allowed(e);
              known[op.m].fill(0, op.at, op.at + n);
            }
          } else if (op.kind === "read") {
            await space.read(v, n).then((b) => expectModel(op.m, op.at, b, "read"), allowed);
          } else if (op.kind === "pin") {
            // At most two pages (the fewest frames a run has), taken one after another.
            const two = Math.min(n, 2 * PS - (op.at % PS));
            await space.pin(v, two, { write: false }).then(async (p) => {
              expectModel(op.m, op.at, p.bytes, "pin");
              await new Promise((r) => setTimeout(r, 1));
              p.release();
            }, allowed);
          } else await space.advise(v, n, op.kind).catch(allowed);
        }
      });
      let running = true;
      const watching = (async () => {
        while (running) {
          watch();
          await new Promise((r) => setTimeout(r, 0));
        }
      })();
      const results = await Promise.allSettled(jobs);
      running = false;
      await watching;
      for (const r of results) if (r.status === "rejected") throw r.reason;
      // Two writes of one byte in a step land in either order.
      for (let mi = 0; mi < stores.length; mi++) {
        for (let b = 0; b < LEN; b++) if (written[mi][b] > 1) known[mi][b] = 0;
      }
      const s = space.stats();
      expect(s.inFlight).toBe(0);
      expect(s.dirty).toBeLessThanOrEqual(s.resident);
      watch();
      space.check();
      expect(s.pins).toBe(0);
      expect(s.resident, "resident = faults + prefetched + readahead - evictions - dropped").toBe(
        s.faults + s.prefetched + s.readahead - s.evictions - s.dropped,
      );
      expect(s.readaheadHits).toBeLessThanOrEqual(s.readahead);
    }
    flaky.failReads = 0;
    flaky.failWrites = 0;
    await space.sync();
    for (let mi = 0; mi < stores.length; mi++) {
      // peek: reading the anonymous pages in could need a swap slot for a victim, and there may be none.
      const got = await space.peek(vs[mi], LEN);
      for (let b = 0; b < LEN; b++) {
        if (known[mi][b] && got[b] !== model[mi][b]) {
          throw new Error(`at the end: byte ${b} of mapping ${mi} is ${got[b]}, want ${model[mi][b]}`);
        }
      }
    }
    for (let p = 0; p < PAGES; p++) {
      const page = new Uint8Array(PS);
      page.set((flaky.data.get(p * PS) ?? new Uint8Array(0)).subarray(0, PS));
      for (let i = 0; i < PS; i++) {
        const b = p * PS + i;
        if (known[0][b] && page[i] !== model[0][b]) throw new Error(`flaky store byte ${b} after sync`);
      }
    }
  } finally {
    await space.close().catch(() => {});
    for (const s of stores) await s.close();
  }
}

describe("stats() invariants under concurrent commands and injected failures", () => {
  it("bounds, monotone counters, the conservation of pages, and no acknowledged byte lost", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 6 }),
        fc.constantFrom(...policyNames()),
        fc.array(fc.array(opArb, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 10 }),
        (frames, policy, steps) => run(frames, policy, steps),
      ),
      { numRuns: Number(process.env.RUNS ?? 300) },
    );
  }, 60_000);
});
