/**
 * Refused frees of slab objects: the exact checks behind free()'s fast path (which only reads an
 * object's first word, see slab.ts) and the typed errors they throw. Nothing changes on either.
 */
import { DoubleFreeError, InvalidAddressError } from "../errors.js";
import { S_BITMAP } from "./layout.js";
import type { Slabs } from "./slab.js";

/** Throws DoubleFreeError if the object is on the array cache or its bit is clear. */
export function checkNotFree(s: Slabs, c: number, address: number, slab: number, idx: number): void {
  const word = s.w[slab * s.wpp + S_BITMAP + (idx >> 5)];
  if ((word & (1 << (idx & 31))) === 0) throw alreadyFree(s, address, c);
  checkNotCached(s, c, address);
}

/** Throws DoubleFreeError if the object sits on an array cache of cache c, this thread's or another's. */
export function checkNotCached(s: Slabs, c: number, address: number): void {
  for (const [aw, e] of s.acLocations(c)) {
    const avail = s.w[aw];
    for (let i = 0; i < avail; i++) if (s.f64[e + i] === address) throw alreadyFree(s, address, c);
  }
}

export function alreadyFree(s: Slabs, address: number, c: number): DoubleFreeError {
  return new DoubleFreeError(address, `not allocated: free or never handed out (cache ${s.name(c)})`);
}

export function notObject(s: Slabs, address: number, c: number): InvalidAddressError {
  return new InvalidAddressError(address, `not the start of an object in cache ${s.name(c)}`);
}
