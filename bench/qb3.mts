const PAGES = 16384, LIVE = 8192, OPS = 2_000_000;
function rng(seed: number) { return () => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 2 ** 32; }; }
const r = rng(1); const idx = new Int32Array(OPS); for (let i = 0; i < OPS; i++) idx[i] = Math.floor(r() * LIVE);
class Mini {
  w: Int32Array; state: Uint8Array; run: Int32Array; hot: Int32Array; mb = 32; ps = 4096; first = 1; count = PAGES + 64;
  constructor(buf: ArrayBuffer) { this.w = new Int32Array(buf); this.state = new Uint8Array(buf, 4096 * 1, PAGES + 64); this.run = new Int32Array(buf, 4096 * 8, PAGES+64); this.hot = new Int32Array(buf, 4096*30, 256); }
  allocPages(order: number): number {
    if (!(order >= 0 && order <= 10 && (order | 0) === order)) throw new Error("x");
    const i = this.mb + 7; const c = this.w[i]; if (c === 0) throw new Error("empty");
    this.w[i] = c - 1; const page = this.hot[c - 1];
    this.state[page] = 0x40; this.run[page] = 1; this.w[this.mb + 1] += 1; this.w[this.mb + 2]++;
    return page * this.ps;
  }
  free(address: number): void {
    if (typeof address !== "number") throw new Error("nan");
    const page = address / this.ps;
    if (!Number.isInteger(page)) throw new Error("bad");
    if (page < this.first || page >= this.count) throw new Error("range");
    if (this.state[page] !== 0x40) throw new Error("df");
    const n = this.run[page]; this.state[page] = 0; this.run[page] = 0;
    this.w[this.mb + 1] -= n; this.w[this.mb + 2]--;
    const c = this.w[this.mb + 7]; this.hot[c] = page; this.w[this.mb + 7] = c + 1; this.state[page] = 0x41;
  }
}
function run(m: Mini) {
  const live = new Float64Array(LIVE);
  for (let i = 0; i < LIVE; i++) { live[i] = (100 + i) * 4096; m.state[100 + i] = 0x40; m.run[100+i]=1; }
  m.hot[0] = 50; m.w[m.mb+7] = 1;
  const t = performance.now();
  for (let i = 0; i < OPS; i++) { const k = idx[i]; m.free(live[k]); live[k] = m.allocPages(0); }
  return (performance.now() - t) * 1e6 / OPS;
}
for (let rep = 0; rep < 5; rep++) console.log("mini", run(new Mini(new ArrayBuffer((PAGES + 64) * 4096))).toFixed(2));
