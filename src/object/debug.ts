/**
 * Debug mode (SLUB debug style): every object gets a red zone after it, painted RED_ZONE, and a
 * freed object is filled with POISON. A free whose red zone was overwritten reports a buffer
 * overflow; an alloc whose poison was changed since the free reports a use-after-free write.
 * Either report names the cache and the address. Off by default: the fast paths only test a flag.
 */
import { CorruptionError } from "../errors.js";
import { fillBytes } from "../util/shared-bytes.js";

export const POISON = 0x6b;
export const RED_ZONE = 0xbb;
/** Bytes of red zone after each object in debug mode. */
export const RED_ZONE_BYTES = 8;

/** A debug check failed: memory the caller does not own was written. */
export class HeapCorruptionError extends CorruptionError {
  readonly kind: "overflow" | "use-after-free";
  readonly cache: string;
  readonly address: number;
  readonly offset: number;
  constructor(kind: "overflow" | "use-after-free", cache: string, address: number, offset: number) {
    super(
      kind === "overflow"
        ? `buffer overflow in cache ${cache}: object at ${address} wrote its red zone at +${offset}`
        : `use-after-free write in cache ${cache}: object at ${address} changed at +${offset} after it was freed`,
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

export function paintRedZone(mem: Uint8Array, address: number, size: number, stride: number): void {
  fillBytes(mem, RED_ZONE, address + size, address + stride);
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

export function checkRedZone(
  mem: Uint8Array,
  address: number,
  size: number,
  stride: number,
  cache: string,
): void {
  for (let i = size; i < stride; i++) {
    if (mem[address + i] !== RED_ZONE) throw new HeapCorruptionError("overflow", cache, address, i);
  }
}
