/**
 * Formatting a new arena for the page layer: the options checked, the page-meta struct
 * (layout.ts) written, the header pages marked. The caller (PageAllocator) then releases every
 * usable page onto the free lists.
 */
import { Arena } from "../arena/arena.js";
import { InvalidArgumentError } from "../errors.js";
import type { PageAllocatorOptions } from "./buddy.js";
import * as L from "./layout.js";

/** Creates the buffer and writes the page layer's header; no page is on a free list yet. */
export function formatArena(options: PageAllocatorOptions): Arena {
  const maxOrder = options?.maxOrder ?? L.DEFAULT_MAX_ORDER;
  if (!Number.isInteger(maxOrder) || maxOrder < 0 || maxOrder > L.MAX_SUPPORTED_ORDER) {
    throw new InvalidArgumentError(
      "maxOrder",
      maxOrder,
      `must be an integer from 0 to ${L.MAX_SUPPORTED_ORDER}`,
    );
  }
  const hotOption = options?.hotPages;
  if (hotOption !== undefined && (!Number.isInteger(hotOption) || hotOption < 0 || hotOption > 1 << 24)) {
    throw new InvalidArgumentError("hotPages", hotOption, "must be an integer from 0 to 2^24");
  }
  let hotHigh = 0;
  const shared = options?.shared === true;
  const arena = Arena.create(options, (pageCount, metaOffset) => {
    hotHigh = Math.min(hotOption ?? L.defaultHotCapacity(pageCount), pageCount);
    return L.pageMetaGeometry(metaOffset, pageCount, hotHigh, shared).bytes;
  });
  const w = arena.words;
  const mb = arena.metaOffset >> 2;
  const geo = L.pageMetaGeometry(arena.metaOffset, arena.pageCount, hotHigh, shared);
  w[mb + L.M_MAX_ORDER] = maxOrder;
  w[mb + L.M_STATE_OFFSET] = geo.stateOffset;
  w[mb + L.M_RUN_OFFSET] = geo.runOffset;
  w[mb + L.M_HOT_OFFSET] = geo.hotOffset;
  w[mb + L.M_HOT_HIGH] = hotHigh;
  const limit = L.hotBaseLimit(arena.pageCount, hotHigh);
  w[mb + L.M_HOT_LIMIT] = limit;
  w[mb + L.M_HOT_BATCH] = Math.max(1, limit >> 2);
  const state = new Uint8Array(arena.buffer, geo.stateOffset, arena.pageCount);
  const run = new Int32Array(arena.buffer, geo.runOffset, arena.pageCount);
  state[0] = L.S_HEADER;
  run[0] = arena.headerPages;
  return arena;
}
