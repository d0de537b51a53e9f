/**
 * The service's event log: what happened, for INFO, the metrics and the dashboard. Layers report
 * here (reclaim rounds, throttled writers, OOM kills, recoveries, replication batches); a bounded
 * ring keeps the most recent ones so a dashboard that connects late still sees history.
 */
import { EventEmitter } from "node:events";

/** Every kind, in the order INFO, the metrics and the dashboard list them. */
export const EVENT_KINDS = [
  "reclaim",
  "throttle",
  "oom",
  "recovery",
  "replication",
  "checkpoint",
  "client",
  "error",
] as const;

/** "error": a command failed by a fault of the server itself (a bug), not of its arguments. */
export type ServiceEventKind = (typeof EVENT_KINDS)[number];

export interface ServiceEvent {
  /** Milliseconds since the epoch. */
  readonly time: number;
  readonly kind: ServiceEventKind;
  /** One line for people. */
  readonly message: string;
  /** Figures behind the message (plain data). */
  readonly detail: Readonly<Record<string, string | number | boolean>>;
}

const KEEP = 200;

export class ServiceEvents extends EventEmitter<{ event: [ServiceEvent] }> {
  private readonly ring: ServiceEvent[] = [];
  private readonly counts = new Map<ServiceEventKind, number>();

  emitEvent(kind: ServiceEventKind, message: string, detail: ServiceEvent["detail"] = {}): void {
    const e: ServiceEvent = { time: Date.now(), kind, message, detail };
    if (this.ring.length === KEEP) this.ring.shift();
    this.ring.push(e);
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    this.emit("event", e);
  }

  /** The most recent events, oldest first. */
  recent(): ServiceEvent[] {
    return [...this.ring];
  }

  /** How many events of each kind since the start. */
  count(kind: ServiceEventKind): number {
    return this.counts.get(kind) ?? 0;
  }
}
