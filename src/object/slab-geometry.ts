/**
 * Each cache's constants, copied out of the directory in the arena (layout.ts C_*) into the
 * Slabs' typed arrays when a cache is first seen, in this thread or after another thread created
 * it. They never change once a cache exists, so the hot paths read them without the lock.
 *
 * A cache's slabs may be of several orders (size-classes.ts slabOrder); a *geometry* is a cache
 * and an order (index cache * ORDERS + order, layout.ts ownerGeometry) and fixes the objects per
 * slab, the first object's offset and the bitmap's words. In debug mode the first object starts
 * its slot's left red zone (debug.ts) after the slots' start: gData is the first object's offset,
 * the directory's DATA_OFFSET the first slot's.
 */
import { redLeft } from "./debug.js";
import * as L from "./layout.js";
import { fitObjects } from "./size-classes.js";
import type { Slabs } from "./slab.js";
import { DETACHED } from "./slab-threads.js";

const ORDERS = L.ORDERS_PER_CACHE;

/**
 * The hot paths read each cache's constants from one packed Int32Array (INFO_WORDS per geometry,
 * that is per cache and slab order: index (cache * ORDERS + order) * INFO_WORDS, layout.ts
 * ownerGeometry), so a call loads one array's base and bounds once instead of one per constant.
 * The array-cache fields are the cache's, repeated for each order; alloc() reads order 0's.
 */
export const INFO_WORDS = 8;
export const CACHE_INFO = ORDERS * INFO_WORDS;
export const I_STRIDE = 0;
export const I_PER_SLAB = 1;
export const I_DATA = 2;
export const I_AC_WORD = 3;
export const I_AC_ENTRY = 4;
export const I_AC_LIMIT = 5;
export const I_DEBUG = 6;

/** Copies the constants of caches created since the last look (here or in another thread). */
export function loadCaches(s: Slabs): void {
  const w = s.w;
  const count = w[s.rw + L.R_CACHE_COUNT];
  for (let c = s.known; c < count; c++) {
    const cd = s.dw + c * L.CACHE_WORDS;
    s.size[c] = w[cd + L.C_SIZE];
    s.stride[c] = w[cd + L.C_STRIDE];
    s.perSlab[c] = w[cd + L.C_PER_SLAB];
    s.dataOffset[c] = w[cd + L.C_DATA_OFFSET];
    s.order[c] = w[cd + L.C_SLAB_ORDER];
    s.bitmapWords[c] = w[cd + L.C_BITMAP_WORDS];
    s.inv[c] = 1 / w[cd + L.C_STRIDE];
    s.debug[c] = w[cd + L.C_FLAGS] & L.CF_DEBUG ? 1 : 0;
    s.redLeft[c] = s.debug[c] !== 0 ? redLeft(w[cd + L.C_ALIGN]) : 0;
    const region = s.acBase >= 0;
    const detached = s.acBase === DETACHED;
    const own = detached ? s.zeroWord : region ? s.acBase + c * s.acSlotWords : cd + L.C_AC_AVAIL;
    s.acWord[c] = own;
    s.acEntry[c] = (own + (region ? L.AC_SLOT_ENTRIES : L.C_AC_ENTRIES - L.C_AC_AVAIL)) >> 1;
    s.acLimit[c] = detached
      ? 0
      : region
        ? L.regionAcLimit(w[cd + L.C_AC_LIMIT], s.stride[c], s.acEntries, s.acBytes)
        : w[cd + L.C_AC_LIMIT];
    s.maxOrder[c] = Math.max(s.order[c], w[cd + L.C_MAX_ORDER]);
    for (let k = 0; k < ORDERS; k++) {
      const g = c * ORDERS + k;
      let per = 0;
      let data = 0;
      if (k === s.order[c]) {
        per = s.perSlab[c];
        data = s.dataOffset[c];
      } else if (k > s.order[c] && k <= s.maxOrder[c]) {
        const fit = fitObjects(s.ps * 2 ** k, s.stride[c], w[cd + L.C_ALIGN]);
        per = fit.perSlab;
        data = fit.dataOffset;
      }
      s.gPerSlab[g] = per;
      s.gData[g] = per > 0 ? data + s.redLeft[c] : 0;
      s.gWords[g] = Math.ceil(per / 32);
      const b = g * INFO_WORDS;
      s.info[b + I_STRIDE] = s.stride[c];
      s.info[b + I_PER_SLAB] = per;
      s.info[b + I_DATA] = data;
      s.info[b + I_AC_WORD] = s.acWord[c];
      s.info[b + I_AC_ENTRY] = s.acEntry[c];
      s.info[b + I_AC_LIMIT] = s.acLimit[c];
      s.info[b + I_DEBUG] = s.debug[c];
    }
    s.names[c] = L.readName(s.mem, (cd + L.C_NAME) * 4);
  }
  s.known = count;
}
