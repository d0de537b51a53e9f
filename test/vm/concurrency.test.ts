/**
 * Concurrent commands against a model. The property test next door runs its commands one at a
 * time; here each step starts several at once, one per mapping (writes, writable pins, reads,
 * peeks, gathers, dontneed, willneed, range syncs, unmaps), so that their faults evict each
 * other's pages, writebacks overlap unmaps, and gathers and pins hold frames while others wait.
 * Mappings cover disjoint windows of their stores, so the model's result does not depend on the
 * order the commands finish in: every read, pin and gather sees the bytes from before the step,
 * every acknowledged write is kept, and an unmapped anonymous window reads as zeros from the next
 * mapping of it. The one failure allowed is a fault that found every frame pinned by the step's
 * pins (all-pinned, nothing changed).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { AddressSpace, AnonymousStore, FileStore, OutOfMemoryError, type Store } from "../../src/index.js";
import { MemoryStore, pattern, tempDir } from "./helpers.js";

const PS = 512;
const WINDOW = 3; // pages per mapping window; window w of a store starts at page w * WINDOW
const WINDOWS = 4;
const tmp = tempDir();
afterAll(() => tmp.remove());

type Op =
  | { kind: "write" | "pin"; at: number; len: number; seed: number }
  | { kind: "read" | "peek" | "gather"; at: number; len: number }
  | { kind: "dontneed" | "willneed" | "sync" | "unmap" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constantFrom("write" as const, "write" as const, "write" as const, "pin" as const),
      at: fc.integer({ min: 0, max: WINDOW * PS - 1 }),
      len: fc.integer({ min: 1, max: 2 * PS }),
      seed: fc.integer({ min: 1, max: 1000 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constantFrom("read" as const, "peek" as const, "gather" as const),
      at: fc.integer({ min: 0, max: WINDOW * PS - 1 }),
      len: fc.integer({ min: 1, max: 2 * PS }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constantFrom("dontneed" as const, "willneed" as const, "sync" as const, "unmap" as const),
    }),
  },
);

/** A step: an op (or nothing) for each of the store x window slots, all started at once. */
const STORES = 3; // anonymous (swap file), in memory, a real file
const stepArb = fc.array(fc.option(opArb, { nil: undefined }), {
  minLength: STORES * WINDOWS,
  maxLength: STORES * WINDOWS,
});

interface Slot {
  store: number;
  window: number;
  v: number | undefined;
}

/** The one failure a step may see: a fault that found every frame pinned by the step's pins. */
function expectAllPinned(e: unknown): void {
  if (!(e instanceof OutOfMemoryError) || e.reason !== "all-pinned") throw e;
}

async function run(frames: number, policy: string, steps: (Op | undefined)[][]): Promise<void> {
  const id = Math.random().toString(36).slice(2);
  const file = join(tmp.path, `c${id}.dat`);
  const stores: Store[] = [
    new AnonymousStore({ swap: join(tmp.path, `c${id}.swap`) }),
    new MemoryStore("persistent"),
    new FileStore(file),
  ];
  const model = Array.from({ length: STORES }, () => new Uint8Array(WINDOWS * WINDOW * PS));
  const space = new AddressSpace({ frames, pageSize: PS, policy });
  const slots: Slot[] = [];
  const mapSlot = (s: Slot) => {
    s.v = space.map({ length: WINDOW * PS, store: stores[s.store], offset: s.window * WINDOW * PS });
  };
  for (let store = 0; store < STORES; store++) {
    for (let window = 0; window < WINDOWS; window++) {
      const s: Slot = { store, window, v: undefined };
      mapSlot(s);
      slots.push(s);
    }
  }
  try {
    for (const step of steps) {
      const jobs: Promise<void>[] = [];
      const after: (() => void)[] = [];
      step.forEach((op, i) => {
        const s = slots[i];
        if (op === undefined || s.v === undefined) return;
        const v = s.v;
        const base = s.window * WINDOW * PS;
        const bytes = model[s.store];
        const clip = (at: number, len: number) => Math.min(len, WINDOW * PS - at);
        if (op.kind === "write") {
          const n = clip(op.at, op.len);
          const data = pattern(n, op.seed);
          // With pins in the step, a fault may find every frame pinned and fail cleanly
          // (all-pinned, nothing written); the model takes a write once it is acknowledged.
          jobs.push(
            space.write(v + op.at, data).then(
              () => bytes.set(data, base + op.at),
              (e) => expectAllPinned(e),
            ),
          );
        } else if (op.kind === "pin") {
          const n = Math.min(op.len, PS - (op.at % PS)); // one page: a pin may not exceed the frames
          const want = bytes.slice(base + op.at, base + op.at + n);
          const data = pattern(n, op.seed);
          jobs.push(
            space.pin(v + op.at, n, { write: true }).then(
              async (p) => {
                expect(p.bytes, `pin of slot ${i}`).toEqual(want);
                await new Promise((resolve) => setTimeout(resolve, 1));
                p.bytes.set(data);
                p.release();
                bytes.set(data, base + op.at);
              },
              (e) => expectAllPinned(e),
            ),
          );
        } else if (op.kind === "read" || op.kind === "peek") {
          const n = clip(op.at, op.len);
          const want = bytes.slice(base + op.at, base + op.at + n);
          const got = op.kind === "read" ? space.read(v + op.at, n) : space.peek(v + op.at, n);
          jobs.push(got.then((b) => expect(b, `${op.kind} of slot ${i}`).toEqual(want), expectAllPinned));
        } else if (op.kind === "gather") {
          const n = clip(op.at, op.len);
          const want = bytes.slice(base + op.at, base + op.at + n);
          const out = new Uint8Array(n);
          const handle = {
            read: async () => ({ bytesRead: 0 }),
            write: async (b: Uint8Array, o: number, len: number, position: number) => {
              await new Promise((resolve) => setTimeout(resolve, 1));
              out.set(b.subarray(o, o + len), position);
              return { bytesWritten: len };
            },
          };
          jobs.push(
            space.gather(v + op.at, n, handle, 0).then(() => expect(out).toEqual(want), expectAllPinned),
          );
        } else if (op.kind === "dontneed" || op.kind === "willneed") {
          jobs.push(space.advise(v, WINDOW * PS, op.kind).catch(expectAllPinned));
        } else if (op.kind === "sync") {
          jobs.push(space.sync(v, WINDOW * PS));
        } else {
          jobs.push(space.unmap(v));
          s.v = undefined;
          if (s.store === 0) bytes.fill(0, base, base + WINDOW * PS);
          after.push(() => mapSlot(s));
        }
      });
      const results = await Promise.allSettled(jobs);
      for (const r of results) if (r.status === "rejected") throw r.reason;
      for (const fn of after) fn();
      space.check();
    }
    await space.sync();
    for (const s of slots) {
      const want = model[s.store].slice(s.window * WINDOW * PS, (s.window + 1) * WINDOW * PS);
      if (s.v === undefined) mapSlot(s);
      expect(await space.read(s.v as number, WINDOW * PS), `slot ${s.store}/${s.window}`).toEqual(want);
    }
    const persistent = stores[1] as MemoryStore;
    for (let p = 0; p < WINDOWS * WINDOW; p++) {
      const page = persistent.data.get(p * PS) ?? new Uint8Array(0);
      const want = model[1].subarray(p * PS, (p + 1) * PS);
      const got = new Uint8Array(PS);
      got.set(page.subarray(0, PS));
      expect(got, `persistent page ${p} after sync`).toEqual(want);
    }
    const onDisk = new Uint8Array(await readFile(file).catch(() => Buffer.alloc(0)));
    const disk = new Uint8Array(WINDOWS * WINDOW * PS);
    disk.set(onDisk.subarray(0, disk.length));
    expect(disk, "the file after sync").toEqual(model[2]);
  } finally {
    await space.close().catch(() => {});
    for (const s of stores) await s.close();
  }
}

describe("address space: concurrent commands against a model", () => {
  it("every read, peek and gather sees the bytes before its step; no acknowledged write is lost", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom("lru", "clock", "arc", "adaptive"),
        fc.array(stepArb, { minLength: 1, maxLength: 12 }),
        (frames, policy, steps) => run(frames, policy, steps),
      ),
      { numRuns: 120 },
    );
  });
});
