/**
 * A robust, recursive mutex on three Int32 words of a SharedArrayBuffer (futex style).
 *
 *     word 0  OWNER    slot id of the holder (1..), 0 when free
 *     word 1  WAITERS  threads sleeping in Atomics.wait on OWNER
 *     word 2  DEPTH    recursion depth of the holder (only the holder writes it)
 *
 * Concurrency contract: OWNER changes only by Atomics.compareExchange (0 -> me to take, owner ->
 * me to steal from a dead owner) and Atomics.store(0) by the holder to release; WAITERS only by
 * Atomics.add/sub. A thread that cannot take the lock spins briefly, then sleeps in
 * Atomics.wait(OWNER, owner, timeout) — never an unbounded spin. The releaser notifies one waiter
 * when WAITERS > 0.
 *
 * Robustness: a worker can die (crash, worker.terminate()) while holding the lock. A waiter whose
 * sleep times out asks `isDead(owner)`; once the owner's death is known (the pool's registry says
 * so, see pool/registry.ts), the waiter steals the lock with compareExchange(owner -> me) and runs
 * `onSteal(deadSlot)` while holding it, which repairs what the dead holder may have left half done.
 * A slow but live holder is never robbed: liveness is a fact the registry records, not a guess
 * from elapsed time.
 */
const OWNER = 0;
const WAITERS = 1;
const DEPTH = 2;
/** Words a mutex occupies. */
export const MUTEX_WORDS = 3;
const SPINS = 64;
const WAIT_MS = 20;

/** What the allocators need of a lock (a pool's Mutex, or one that refuses: Segment.release). */
export interface Lock {
  lock(): void;
  unlock(): void;
}

export class Mutex implements Lock {
  private readonly w: Int32Array;
  private readonly at: number;
  readonly slot: number;
  private readonly isDead: (slot: number) => boolean;
  private readonly onSteal: (deadSlot: number) => void;

  constructor(
    words: Int32Array,
    index: number,
    slot: number,
    isDead: (slot: number) => boolean,
    onSteal: (deadSlot: number) => void,
  ) {
    this.w = words;
    this.at = index;
    this.slot = slot;
    this.isDead = isDead;
    this.onSteal = onSteal;
  }

  /** Takes the lock (recursively if this slot holds it already). */
  lock(): void {
    const w = this.w;
    const at = this.at;
    const me = this.slot;
    if (Atomics.load(w, at + OWNER) === me) {
      w[at + DEPTH]++;
      return;
    }
    for (let spin = 0; ; spin++) {
      // Test, then test-and-set: spinning on a plain load keeps the line shared until the
      // holder's release, instead of taking it away from the holder at every try.
      let owner = Atomics.load(w, at + OWNER);
      if (owner === 0) {
        owner = Atomics.compareExchange(w, at + OWNER, 0, me);
        if (owner === 0) {
          w[at + DEPTH] = 1;
          return;
        }
      }
      if (spin < SPINS) continue;
      Atomics.add(w, at + WAITERS, 1);
      const r = Atomics.wait(w, at + OWNER, owner, WAIT_MS);
      Atomics.sub(w, at + WAITERS, 1);
      if (r === "timed-out" && this.isDead(owner)) {
        if (Atomics.compareExchange(w, at + OWNER, owner, me) === owner) {
          w[at + DEPTH] = 1;
          try {
            this.onSteal(owner);
          } catch (e) {
            this.unlock();
            throw e;
          }
          return;
        }
      }
    }
  }

  /**
   * Takes the lock if it is free, held by this slot, or held by a slot known dead (stolen and
   * repaired as in lock()); returns false instead of waiting for a live holder.
   */
  tryLock(): boolean {
    const w = this.w;
    const at = this.at;
    const me = this.slot;
    const owner = Atomics.load(w, at + OWNER);
    if (owner === me) {
      w[at + DEPTH]++;
      return true;
    }
    if (owner !== 0 && !this.isDead(owner)) return false;
    if (Atomics.compareExchange(w, at + OWNER, owner, me) !== owner) return false;
    w[at + DEPTH] = 1;
    if (owner !== 0) {
      try {
        this.onSteal(owner);
      } catch (e) {
        this.unlock();
        throw e;
      }
    }
    return true;
  }

  unlock(): void {
    const w = this.w;
    const at = this.at;
    if (--w[at + DEPTH] > 0) return;
    Atomics.store(w, at + OWNER, 0);
    if (Atomics.load(w, at + WAITERS) > 0) Atomics.notify(w, at + OWNER, 1);
  }

  /** Slot id of the holder, 0 if free. */
  owner(): number {
    return Atomics.load(this.w, this.at + OWNER);
  }

  /** Wakes every sleeper so they re-check (after the registry learns of a death). */
  wakeAll(): void {
    Atomics.notify(this.w, this.at + OWNER);
  }
}
