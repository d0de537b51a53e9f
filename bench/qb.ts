import { PageAllocator } from "../src/index.js";
const PAGES = 16384, LIVE = 8192, OPS = 2_000_000;
function rng(seed: number) { return () => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 2 ** 32; }; }
const r = rng(1); const idx = new Int32Array(OPS); for (let i = 0; i < OPS; i++) idx[i] = Math.floor(r() * LIVE);
function runBuddy(hot?: number) {
  const p = new PageAllocator({ bytes: (PAGES + 64) * 4096, hotPages: hot });
  const live = new Float64Array(LIVE); for (let i = 0; i < LIVE; i++) live[i] = p.allocPages(0);
  const t = performance.now();
  for (let i = 0; i < OPS; i++) { const k = idx[i]; p.free(live[k]); live[k] = p.allocPages(0); }
  return (performance.now() - t) * 1e6 / OPS;
}
function runStack() {
  const stack = new Int32Array(PAGES); let top = 0; for (let i = 0; i < PAGES; i++) stack[top++] = (i + 1) * 4096;
  const live = new Float64Array(LIVE); for (let i = 0; i < LIVE; i++) live[i] = stack[--top];
  const t = performance.now();
  for (let i = 0; i < OPS; i++) { const k = idx[i]; stack[top++] = live[k]; live[k] = stack[--top]; }
  return (performance.now() - t) * 1e6 / OPS;
}
for (let rep = 0; rep < 5; rep++) console.log("stack", runStack().toFixed(2), "buddy-hot", runBuddy().toFixed(2), "buddy-nohot", runBuddy(0).toFixed(2));
