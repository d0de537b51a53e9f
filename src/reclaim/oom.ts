/**
 * The OOM killer (Linux mm/oom_kill.c): when reclaim makes no progress after several rounds, the
 * consumer with the highest badness is killed. Badness is the consumer's footprint adjusted by its
 * oomScoreAdj (-1000..1000) in proportion to the total: adj 1000 adds the whole total, -500 takes
 * half of it away, and -1000 means never; a consumer holding nothing is never chosen. Killing drops the victim's mappings and frees its
 * frames; the `oom` event names the victim and the reason; using a killed consumer afterwards
 * throws ConsumerKilledError. Dirty data of consumers that were not killed is never dropped.
 *
 * A victim whose kill() throws (or rejects) freed nothing we can count on: its `oom` event is
 * still emitted, with the error, and the next victim is chosen in the same call. The failed one
 * stays unregistered, so a consumer that cannot be killed is not chosen again and again.
 */
import { EventEmitter } from "node:events";
import { InvalidArgumentError, MnemeError } from "../errors.js";

/** An address space, a pool or anything else that holds memory and can be killed. */
export interface Consumer {
  readonly name: string;
  /** Bytes (or frames: the unit only has to agree across consumers) it holds now. */
  footprint(): number;
  /** -1000 (never kill) .. 1000 (kill first). */
  oomScoreAdj: number;
  /** Drops everything it holds; after this, its operations throw ConsumerKilledError. */
  kill(reason: string): void | Promise<void>;
}

export class ConsumerKilledError extends MnemeError {
  readonly consumer: string;
  constructor(consumer: string, reason: string) {
    super("EKILLED", `${consumer} was killed by the OOM killer: ${reason}`);
    this.consumer = consumer;
  }
}

export interface OomEvent {
  victim: string;
  reason: string;
  badness: number;
  footprint: number;
  /** Set when the victim's kill() failed: its message (the victim may hold its memory still). */
  error?: string;
}

export class OomKiller extends EventEmitter {
  private readonly consumers = new Set<Consumer>();
  private killing: Promise<OomEvent | null> | null = null;
  kills = 0;
  /** Kills whose kill() threw or rejected (each also emitted as an `oom` event with `error`). */
  failedKills = 0;

  register(consumer: Consumer): () => void {
    if (
      typeof consumer?.name !== "string" ||
      typeof consumer.footprint !== "function" ||
      typeof consumer.kill !== "function"
    )
      throw new InvalidArgumentError("consumer", consumer?.name, "needs name, footprint() and kill()");
    checkAdj(consumer.oomScoreAdj);
    this.consumers.add(consumer);
    return () => this.consumers.delete(consumer);
  }

  /** Badness of a consumer against `total`; -Infinity for oomScoreAdj -1000. */
  badness(c: Consumer, total: number): number {
    checkAdj(c.oomScoreAdj);
    if (c.oomScoreAdj === -1000) return Number.NEGATIVE_INFINITY;
    return Math.max(1, footprintOf(c) + (c.oomScoreAdj / 1000) * total);
  }

  /** The consumer that would be killed now, or null if none may be. */
  select(): Consumer | null {
    const total = this.total();
    let best: Consumer | null = null;
    let bestScore = Number.NEGATIVE_INFINITY;
    for (const c of this.consumers) {
      // Killing a consumer that holds nothing frees nothing.
      if (footprintOf(c) <= 0) continue;
      const b = this.badness(c, total);
      if (b > bestScore) {
        best = c;
        bestScore = b;
      }
    }
    return bestScore === Number.NEGATIVE_INFINITY ? null : best;
  }

  private total(): number {
    let n = 0;
    for (const c of this.consumers) n += footprintOf(c);
    return n;
  }

  /**
   * Kills the worst consumer; returns its event, or null if every consumer is protected. A kill
   * still under way (the victim dying, its memory not back yet) serves a caller that comes
   * meanwhile: two reclaims short at once killed two consumers where one was enough (Linux takes
   * oom_lock and backs off while a victim exits).
   */
  kill(reason: string): Promise<OomEvent | null> {
    this.killing ??= this.killWorst(reason).finally(() => {
      this.killing = null;
    });
    return this.killing;
  }

  private async killWorst(reason: string): Promise<OomEvent | null> {
    for (;;) {
      const victim = this.select();
      if (!victim) return null;
      const event: OomEvent = {
        victim: victim.name,
        reason,
        badness: this.badness(victim, this.total()),
        footprint: footprintOf(victim),
      };
      this.consumers.delete(victim);
      try {
        await victim.kill(reason);
      } catch (error) {
        // Without this, a kill() that threw emitted nothing and failed the reclaim that asked:
        // nobody heard of the attempt, and no other consumer was chosen although one could be.
        this.failedKills++;
        this.emit("oom", { ...event, error: error instanceof Error ? error.message : String(error) });
        continue;
      }
      this.kills++;
      this.emit("oom", event);
      return event;
    }
  }
}

/**
 * A consumer's footprint, 0 when it has none to give: one that threw failed every kill (and the
 * reclaim that asked), and one that answered NaN made the total NaN, so that no consumer with an
 * oomScoreAdj other than 0 could be chosen any more.
 */
function footprintOf(c: Consumer): number {
  try {
    const f = c.footprint();
    return typeof f === "number" && Number.isFinite(f) && f > 0 ? f : 0;
  } catch {
    return 0;
  }
}

function checkAdj(adj: number): void {
  if (!Number.isInteger(adj) || adj < -1000 || adj > 1000) {
    throw new InvalidArgumentError("oomScoreAdj", adj, "must be an integer from -1000 to 1000");
  }
}
