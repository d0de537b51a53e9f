/**
 * Dirty-page writeback for an address space: a Flusher over the space's page cache, whose throttle
 * the space awaits before every write, started now and stopped when the space closes.
 *
 *     const space = new AddressSpace({ frames: 256, now: clock.now });
 *     const flusher = startWriteback(space, { highRatio: 0.5, clock });
 *
 * A space has one write gate, so one running flusher: a second startWriteback is refused until
 * the first is stopped. stop() takes the flusher's throttle off the space's writes, and start()
 * puts it back (refused once the space has ended, or while another flusher holds the gate).
 */
import { InvalidArgumentError, MnemeError } from "../errors.js";
import type { AddressSpace } from "../vm/address-space.js";
import { systemClock } from "./clock.js";
import { Flusher, type FlusherOptions } from "./flusher.js";

class SpaceFlusher extends Flusher {
  private readonly gate = (): Promise<boolean> => this.throttle();

  constructor(
    private readonly space: AddressSpace,
    options: FlusherOptions,
  ) {
    super(space, options);
  }

  override start(): void {
    // Restarted on an ended space, its timers would run for the life of the process: close()'s
    // hook, which stops them, has run already.
    if (this.space.closed) throw new MnemeError("ECLOSED", "the address space is closed");
    const gate = this.space.writeGate;
    if (gate !== null && gate !== this.gate) throw busy();
    this.space.writeGate = this.gate;
    super.start();
  }

  override stop(): void {
    if (this.space.writeGate === this.gate) this.space.writeGate = null;
    super.stop();
  }
}

export function startWriteback(space: AddressSpace, options: FlusherOptions = {}): Flusher {
  if (typeof (space as Partial<AddressSpace> | null)?.onClose !== "function")
    throw new InvalidArgumentError("space", space, "must be an AddressSpace");
  // A second one replaced the first's gate while the first's timers went on writing (two
  // flushers, one of them unreachable until close()).
  if (!space.closed && space.writeGate !== null) throw busy();
  if (options === null || typeof options !== "object")
    throw new InvalidArgumentError("options", options, "must be an object");
  const flusher = new SpaceFlusher(space, { ...options, clock: options.clock ?? systemClock });
  // First: on a closed space it throws before anything is installed.
  space.onClose(() => flusher.stop());
  flusher.start();
  return flusher;
}

function busy(): InvalidArgumentError {
  return new InvalidArgumentError("space", "space", "already has a writeback gate (stop its flusher first)");
}
