/**
 * Debug mode (SLUB debug style): every object sits between two red zones painted RED_ZONE, and a
 * freed object is filled with POISON. A free whose red zones were overwritten reports a buffer
 * overflow (the zone after the object) or underflow (the zone before it); an alloc whose poison
 * was changed since the free reports a use-after-free write. Each report names the cache and the
 * address. Off by default: the fast paths only test a flag.
 *
 * A debug slot (stride bytes; the object keeps its alignment, so the left zone is a multiple of it):
 *
 *     | left red zone (redLeft) | object (size) | right red zone (at least RED_ZONE_BYTES) |
 *     ^ slot start              ^ address        ^ address + size                 slot end ^
 *
 * Without the left zone, bytes written just before an object landed in its neighbour's right zone
 * (blamed on the neighbour, or never seen if it was free) or, for a slab's first object, in the
 * slab header's bitmap (SLUB's left red zone, red_left_pad, for the same reason).
 */
import { CorruptionError } from "../errors.js";
import { fillBytes } from "../util/shared-bytes.js";
import { C_FLAGS, C_PARTIAL, CACHE_WORDS, CF_CTOR, LIST_FULL, S_BITMAP, S_HINT, S_INUSE } from "./layout.js";
import type { Slabs } from "./slab.js";

export const POISON = 0x6b;
export const RED_ZONE = 0xbb;
/** Bytes of red zone on each side of an object in debug mode (the left one rounded up to its alignment). */
export const RED_ZONE_BYTES = 8;

/** Bytes of the left red zone of a debug object aligned to `align`. */
export function redLeft(align: number): number {
  return Math.ceil(RED_ZONE_BYTES / align) * align;
}

/** Slot bytes of a debug object of `size` at `align`: both red zones included. */
export function debugStride(size: number, align: number): number {
  return Math.ceil((redLeft(align) + size + RED_ZONE_BYTES) / align) * align;
}

/** A debug check failed: memory the caller does not own was written. */
export class HeapCorruptionError extends CorruptionError {
  readonly kind: "overflow" | "underflow" | "use-after-free";
  readonly cache: string;
  readonly address: number;
  /** Where the bad byte is, from the object's start (negative for an underflow). */
  readonly offset: number;
  constructor(
    kind: "overflow" | "underflow" | "use-after-free",
    cache: string,
    address: number,
    offset: number,
  ) {
    super(
      kind === "use-after-free"
        ? `use-after-free write in cache ${cache}: object at ${address} changed at +${offset} after it was freed`
        : kind === "overflow"
          ? `buffer overflow in cache ${cache}: object at ${address} wrote its red zone at +${offset}`
          : `buffer underflow in cache ${cache}: object at ${address} wrote its red zone at ${offset}`,
    );
    this.kind = kind;
    this.cache = cache;
    this.address = address;
    this.offset = offset;
  }
}

export function poison(mem: Uint8Array, address: number, size: number): void {
  fillBytes(mem, POISON, address, address + size);
}

/** Paints both red zones of the object at `address` (`left` bytes of its slot come before it). */
export function paintRedZone(
  mem: Uint8Array,
  address: number,
  size: number,
  stride: number,
  left: number,
): void {
  fillBytes(mem, RED_ZONE, address - left, address);
  fillBytes(mem, RED_ZONE, address + size, address - left + stride);
}

/** Throws (after repairing the poison, so the slot stays usable) if a freed object was written. */
export function checkPoison(mem: Uint8Array, address: number, size: number, cache: string): void {
  for (let i = 0; i < size; i++) {
    if (mem[address + i] !== POISON) {
      poison(mem, address, size);
      throw new HeapCorruptionError("use-after-free", cache, address, i);
    }
  }
}

/** Throws the overflow or underflow report if either red zone of the object at `address` was written. */
export function checkRedZone(
  mem: Uint8Array,
  address: number,
  size: number,
  stride: number,
  left: number,
  cache: string,
): void {
  for (let i = size; i < stride - left; i++) {
    if (mem[address + i] !== RED_ZONE) throw new HeapCorruptionError("overflow", cache, address, i);
  }
  // Nearest the object first: the report names the byte an underflow reached first.
  for (let i = -1; i >= -left; i--) {
    if (mem[address + i] !== RED_ZONE) throw new HeapCorruptionError("underflow", cache, address, i);
  }
}

// ---------------------------------------------------------------- the slab path in debug mode

/** Like allocFromSlab, but refuses an object whose poison was overwritten after its free. */
export function allocDebug(s: Slabs, c: number, wait: boolean): number {
  const w = s.w;
  let slab = w[s.dw + c * CACHE_WORDS + C_PARTIAL];
  const refilled = slab === 0;
  if (refilled) slab = s.refill(c, wait);
  const g = s.owner[slab] >> 6;
  const h = slab * s.wpp;
  let wi = w[h + S_HINT];
  while (w[h + S_BITMAP + wi] === -1) wi++;
  const free = ~w[h + S_BITMAP + wi];
  const bit = 31 - Math.clz32(free & -free);
  const address = slab * s.ps + s.gData[g] + ((wi << 5) + bit) * s.stride[c];
  if ((w[s.dw + c * CACHE_WORDS + C_FLAGS] & CF_CTOR) === 0) {
    try {
      checkPoison(s.mem, address, s.size[c], s.name(c));
    } catch (e) {
      // A slab just taken off the empty list (refill put it on the partial list) goes back
      // there, or the lists would hold a partial slab with no object in use. A new slab is
      // freshly poisoned and cannot fail here.
      if (refilled) s.emptied(c, slab);
      throw e;
    }
  }
  w[h + S_HINT] = wi;
  w[h + S_BITMAP + wi] |= 1 << bit;
  const inuse = w[h + S_INUSE] + 1;
  w[h + S_INUSE] = inuse;
  if (inuse === s.gPerSlab[g]) s.move(c, slab, LIST_FULL);
  return address;
}

/** Before a debug cache's object goes back to its bitmap: its red zone checked, its bytes poisoned. */
export function freeDebug(s: Slabs, c: number, address: number): void {
  checkRedZone(s.mem, address, s.size[c], s.stride[c], s.redLeft[c], s.name(c));
  // The directory's flag, not s.ctors: a thread other than the cache's creator may free its objects.
  if ((s.w[s.dw + c * CACHE_WORDS + C_FLAGS] & CF_CTOR) === 0) poison(s.mem, address, s.size[c]);
}

/** A new slab of a debug cache: every object poisoned, every red zone painted. */
export function paintSlab(s: Slabs, c: number, g: number, address: number): void {
  const first = address + s.gData[g];
  for (let i = 0; i < s.gPerSlab[g]; i++) {
    const a = first + i * s.stride[c];
    poison(s.mem, a, s.size[c]);
    paintRedZone(s.mem, a, s.size[c], s.stride[c], s.redLeft[c]);
  }
}
