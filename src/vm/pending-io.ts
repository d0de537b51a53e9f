/**
 * A page in I/O: a fault's read or a victim's writeback (fault.ts invariant 1). Accessors of a
 * pending page wait on its promise and retry, which is how concurrent faults on one page share
 * one read. The promise is made only when someone waits (most faults have no waiter), and settles
 * with the I/O: waiters of a failed read get the same error.
 */
export class PendingIO {
  readonly kind: "read" | "writeback";
  private waiting: Promise<void> | undefined;
  private settle: ((e?: unknown) => void) | undefined;
  private done = false;
  private error: unknown;

  constructor(kind: "read" | "writeback") {
    this.kind = kind;
  }

  get promise(): Promise<void> {
    if (this.waiting === undefined) {
      if (this.done) {
        this.waiting = this.error === undefined ? Promise.resolve() : Promise.reject(this.error);
      } else {
        this.waiting = new Promise<void>((resolve, reject) => {
          this.settle = (e?: unknown) => (e === undefined ? resolve() : reject(e));
        });
      }
      this.waiting.catch(() => {}); // a failure nobody awaits is not unhandled
    }
    return this.waiting;
  }

  finish(error?: unknown): void {
    if (this.done) return;
    this.done = true;
    this.error = error;
    this.settle?.(error);
  }
}
