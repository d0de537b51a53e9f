/**
 * vmalloc translation overhead: heap.vread/vwrite of random 64 B and 4 KiB ranges across a 64 MiB
 * vmalloc area, against the same copies on a contiguous 64 MiB block from heap.malloc (a "large"
 * allocation straight from the page layer): a read is `memory.slice(a + off, a + off + n)` (a new
 * Uint8Array holding a copy, which is what vread returns), a write is `memory.set(src, a + off)`.
 * Both sides use the same precomputed random offsets (any byte, so nearly every 4 KiB range
 * crosses a page boundary, and 63 in 4096 of the 64 B ranges do). Run as its own process by
 * object.bench.ts; prints one JSON line. Each case's four loops are separate functions
 * (monomorphic), their order alternates from run to run, and the median of the runs is reported.
 *
 * usage: vmalloc.ts [--runs N] [--quick]
 */
import { Heap } from "../../src/index.js";
import { median, prng } from "../harness.js";

const MiB = 2 ** 20;
const AREA = 64 * MiB;

function vReadLoop(heap: Heap, v: number, offs: Float64Array, n: number): number {
  let sum = 0;
  const t0 = performance.now();
  for (let i = 0; i < offs.length; i++) sum += heap.vread(v + offs[i], n)[0];
  const ns = ((performance.now() - t0) * 1e6) / offs.length;
  return sum === -1 ? 0 : ns;
}

function cReadLoop(mem: Uint8Array, a: number, offs: Float64Array, n: number): number {
  let sum = 0;
  const t0 = performance.now();
  for (let i = 0; i < offs.length; i++) {
    const o = a + offs[i];
    sum += mem.slice(o, o + n)[0];
  }
  const ns = ((performance.now() - t0) * 1e6) / offs.length;
  return sum === -1 ? 0 : ns;
}

function vWriteLoop(heap: Heap, v: number, offs: Float64Array, src: Uint8Array): number {
  const t0 = performance.now();
  for (let i = 0; i < offs.length; i++) heap.vwrite(v + offs[i], src);
  return ((performance.now() - t0) * 1e6) / offs.length;
}

function cWriteLoop(mem: Uint8Array, a: number, offs: Float64Array, src: Uint8Array): number {
  const t0 = performance.now();
  for (let i = 0; i < offs.length; i++) mem.set(src, a + offs[i]);
  return ((performance.now() - t0) * 1e6) / offs.length;
}

export interface VmallocRow {
  bytes: number;
  op: "read" | "write";
  ops: number;
  vmallocNs: number;
  contiguousNs: number;
  ratio: number;
}

function main(argv: readonly string[]): void {
  let runs = 5;
  let quick = false;
  for (let k = 0; k < argv.length; k++) {
    if (argv[k] === "--runs") runs = Number(argv[++k]);
    else if (argv[k] === "--quick") quick = true;
  }
  const heap = new Heap({ bytes: 4 * AREA });
  const v = heap.vmalloc(AREA);
  const a = heap.malloc(AREA);
  const mem = heap.memory;
  // fill both (touches every page, so no first-touch fault lands in a timed loop)
  const rand = prng(64);
  const chunk = new Uint8Array(MiB);
  for (let off = 0; off < AREA; off += MiB) {
    for (let k = 0; k < chunk.length; k += 64) chunk[k] = (rand() * 256) | 0;
    heap.vwrite(v + off, chunk);
    mem.set(chunk, a + off);
  }
  const cases = [
    { bytes: 64, ops: quick ? 50_000 : 300_000 },
    { bytes: 4096, ops: quick ? 10_000 : 60_000 },
  ];
  const rows: VmallocRow[] = [];
  for (const c of cases) {
    const offs = new Float64Array(c.ops);
    for (let i = 0; i < c.ops; i++) offs[i] = Math.floor(rand() * (AREA - c.bytes));
    const src = new Uint8Array(c.bytes).fill(0x5a);
    const vr: number[] = [];
    const cr: number[] = [];
    const vw: number[] = [];
    const cw: number[] = [];
    for (let r = 0; r < runs; r++) {
      if (r % 2 === 0) {
        vr.push(vReadLoop(heap, v, offs, c.bytes));
        cr.push(cReadLoop(mem, a, offs, c.bytes));
        vw.push(vWriteLoop(heap, v, offs, src));
        cw.push(cWriteLoop(mem, a, offs, src));
      } else {
        cr.push(cReadLoop(mem, a, offs, c.bytes));
        vr.push(vReadLoop(heap, v, offs, c.bytes));
        cw.push(cWriteLoop(mem, a, offs, src));
        vw.push(vWriteLoop(heap, v, offs, src));
      }
    }
    const row = (op: "read" | "write", vs: number[], cs: number[]): VmallocRow => ({
      bytes: c.bytes,
      op,
      ops: c.ops,
      vmallocNs: median(vs),
      contiguousNs: median(cs),
      ratio: median(vs) / median(cs),
    });
    rows.push(row("read", vr, cr), row("write", vw, cw));
  }
  // the contiguous block and the area must still hold the same bytes (same writes, same places)
  const same = Buffer.compare(heap.vread(v, AREA), mem.subarray(a, a + AREA)) === 0;
  heap.vfree(v);
  heap.free(a);
  heap.check();
  console.log(JSON.stringify({ rows, sameContents: same }));
}

main(process.argv.slice(2));
