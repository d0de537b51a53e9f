/**
 * Belady's OPT (MIN): on a miss with memory full, evict the page whose next reference lies
 * furthest in the future. It needs the whole trace in advance, so it is no policy the address
 * space can run; the trace benchmark and `mneme replay --policy opt` use it as the floor.
 *
 *      refs      a  b  c  a  d  b  a  ...
 *      nextUse   3  5  ∞  6  ∞  ∞  ∞          computed in one backward pass
 *
 * A lazy max-heap keyed by next use: a hit pushes the page again with its new next use, and stale
 * heap entries (whose key is not the page's current next use, or whose page left) are skipped
 * when they surface. O(n log n) for n references.
 */

/** nextUse[i] = index of the next reference to trace[i]'s page, or trace.length if none. */
export function nextUses(trace: Int32Array, distinct: number): Int32Array {
  const n = trace.length;
  const next = new Int32Array(n);
  const last = new Int32Array(distinct).fill(n);
  for (let i = n - 1; i >= 0; i--) {
    const p = trace[i];
    next[i] = last[p];
    last[p] = i;
  }
  return next;
}

/** Misses of Belady's OPT with `frames` frames over a dense trace (ids 0..distinct-1). */
export function optMisses(trace: Int32Array, distinct: number, frames: number, next?: Int32Array): number {
  const nextUse = next ?? nextUses(trace, distinct);
  const n = trace.length;
  const current = new Int32Array(distinct).fill(-1); // next use of a resident page, -1 = absent
  // Heap of (next use, page) pairs, max on next use.
  let heapKey = new Int32Array(Math.min(n, frames * 4) + 16);
  let heapPage = new Int32Array(heapKey.length);
  let size = 0;
  let resident = 0;
  let misses = 0;
  const push = (key: number, page: number) => {
    if (size === heapKey.length) {
      const k = new Int32Array(size * 2);
      k.set(heapKey);
      heapKey = k;
      const p = new Int32Array(size * 2);
      p.set(heapPage);
      heapPage = p;
    }
    let i = size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heapKey[parent] >= key) break;
      heapKey[i] = heapKey[parent];
      heapPage[i] = heapPage[parent];
      i = parent;
    }
    heapKey[i] = key;
    heapPage[i] = page;
  };
  const pop = () => {
    const key = heapKey[--size];
    const page = heapPage[size];
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= size) break;
      if (c + 1 < size && heapKey[c + 1] > heapKey[c]) c++;
      if (heapKey[c] <= key) break;
      heapKey[i] = heapKey[c];
      heapPage[i] = heapPage[c];
      i = c;
    }
    heapKey[i] = key;
    heapPage[i] = page;
  };
  for (let i = 0; i < n; i++) {
    const p = trace[i];
    const nu = nextUse[i];
    if (current[p] >= 0) {
      current[p] = nu;
      push(nu, p);
      continue;
    }
    misses++;
    if (resident === frames) {
      for (;;) {
        const k = heapKey[0];
        const v = heapPage[0];
        pop();
        if (current[v] === k) {
          current[v] = -1;
          break;
        }
      }
      resident--;
    }
    current[p] = nu;
    push(nu, p);
    resident++;
    // Keep the heap from filling with stale entries on hit-heavy traces.
    if (size > 8 * frames + 1024) {
      let j = 0;
      for (let h = 0; h < size; h++) if (current[heapPage[h]] === heapKey[h]) j++;
      const keys = new Int32Array(Math.max(j * 2, 16));
      const pages = new Int32Array(keys.length);
      const oldK = heapKey;
      const oldP = heapPage;
      const oldSize = size;
      heapKey = keys;
      heapPage = pages;
      size = 0;
      for (let h = 0; h < oldSize; h++) if (current[oldP[h]] === oldK[h]) push(oldK[h], oldP[h]);
    }
  }
  return misses;
}
