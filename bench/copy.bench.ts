/**
 * Copies of 4 KiB to and from shared memory (src/util/shared-bytes.ts): TypedArray.set against
 * copyBytes, for every mix of a SharedArrayBuffer and a plain ArrayBuffer, with the source and the
 * destination aligned alike modulo 8 and not. ns per 4 KiB copy, median of the runs; ratio =
 * set / copyBytes in the same run. The service's READ (pool to reply buffer: shared to shared)
 * and WRITE (socket buffer to pool: plain to shared) copy at arbitrary offsets.
 */
import { copyBytes, fillBytes } from "../src/util/shared-bytes.js";
import { type BenchOptions, type BenchResult, markdownTable, median, textTable } from "./harness.js";

const N = 4096;

function time(f: () => void, reps: number): number {
  for (let i = 0; i < reps / 10; i++) f();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) f();
  return ((performance.now() - t0) * 1e6) / reps;
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const reps = options.quick ? 2_000 : 100_000;
  const make = (shared: boolean) =>
    new Uint8Array(shared ? new SharedArrayBuffer(1 << 20) : new ArrayBuffer(1 << 20));
  const cases: { name: string; src: Uint8Array; dst: Uint8Array; at: number }[] = [];
  for (const [sShared, dShared] of [
    [true, true],
    [false, true],
    [true, false],
  ] as const) {
    for (const skew of [0, 3]) {
      const src = make(sShared).subarray(8192 + skew, 8192 + skew + N);
      cases.push({
        name: `copy ${sShared ? "shared" : "plain"} -> ${dShared ? "shared" : "plain"}, ${skew ? "misaligned" : "aligned alike"}`,
        src,
        dst: make(dShared),
        at: 65536,
      });
    }
  }
  const rows: string[][] = [];
  const data: Record<string, { set: number; copyBytes: number; ratio: number }> = {};
  for (const c of cases) {
    options.log(`copy: ${c.name}`);
    const set: number[] = [];
    const staged: number[] = [];
    const ratio: number[] = [];
    for (let r = 0; r < Math.max(5, options.runs); r++) {
      const a = time(() => c.dst.set(c.src, c.at), reps);
      const b = time(() => copyBytes(c.dst, c.at, c.src), reps);
      set.push(a);
      staged.push(b);
      ratio.push(a / b);
    }
    data[c.name] = { set: median(set), copyBytes: median(staged), ratio: median(ratio) };
    rows.push([c.name, median(set).toFixed(0), median(staged).toFixed(0), `${median(ratio).toFixed(2)}x`]);
  }
  for (const [shared, skew] of [
    [true, 0],
    [true, 3],
    [false, 3],
  ] as const) {
    const name = `fill ${shared ? "shared" : "plain"}${skew ? ", misaligned" : ""}`;
    options.log(`copy: ${name}`);
    const view = make(shared);
    const at = 65536 + skew;
    const plain: number[] = [];
    const ours: number[] = [];
    const ratio: number[] = [];
    for (let r = 0; r < Math.max(5, options.runs); r++) {
      const a = time(() => view.fill(0, at, at + N), reps);
      const b = time(() => fillBytes(view, 0, at, at + N), reps);
      plain.push(a);
      ours.push(b);
      ratio.push(a / b);
    }
    data[name] = { set: median(plain), copyBytes: median(ours), ratio: median(ratio) };
    rows.push([name, median(plain).toFixed(0), median(ours).toFixed(0), `${median(ratio).toFixed(2)}x`]);
  }
  const header = ["4 KiB", "TypedArray.set / fill ns", "copyBytes / fillBytes ns", "ratio"];
  return { name: "copy", text: textTable(header, rows), markdown: markdownTable(header, rows), data };
}
