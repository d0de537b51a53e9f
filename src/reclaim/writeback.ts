/**
 * Dirty-page writeback for an address space: a Flusher over the space's page cache, whose throttle
 * the space awaits before every write, started now and stopped when the space closes.
 *
 *     const space = new AddressSpace({ frames: 256, now: clock.now });
 *     const flusher = startWriteback(space, { highRatio: 0.5, clock });
 */
import type { AddressSpace } from "../vm/address-space.js";
import { systemClock } from "./clock.js";
import { Flusher, type FlusherOptions } from "./flusher.js";

export function startWriteback(space: AddressSpace, options: FlusherOptions = {}): Flusher {
  const flusher = new Flusher(space, { ...options, clock: options.clock ?? systemClock });
  // First: on a closed space it throws before anything is installed.
  space.onClose(() => flusher.stop());
  space.writeGate = () => flusher.throttle();
  flusher.start();
  return flusher;
}
