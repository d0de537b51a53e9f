/**
 * The client side of the crash tests: drives ALLOC/WRITE/FREE (and SYNC) against a server from a
 * seeded PRNG, keeps a model of what the durability contract promises, and checks a restarted
 * server against it.
 *
 * Blocks are ALLOC blocks, or MAP regions too (`maps`). The model per block: `durable` bytes
 * (what the contract covers) and a `mask` of bytes written since (which may hold either value
 * after a crash). `commit()` moves the current state into
 * `durable`: after every acknowledged command under `always`, after a SYNC reply under `batch`.
 * Blocks allocated since the last commit may or may not come back; blocks freed before it must
 * not (their handles are refused); blocks freed since may or may not.
 */
import { Redis } from "ioredis";
import { expect } from "vitest";

interface Block {
  size: number;
  /** Contents the contract covers. */
  durable: Uint8Array;
  /** Contents as the client wrote them. */
  current: Uint8Array;
  /** Bytes written since the last commit. */
  mask: Uint8Array;
  /** Allocated since the last commit (its ALLOC may be lost). */
  fresh: boolean;
}

import { rng as prng } from "../helpers/rng.js";

export { prng };

export class CrashModel {
  /**
   * `maps`: a third of what the client makes are MAP regions (1 to 5 pages, anonymous or backed by
   * a file) instead of blocks. `user`: the client logs in as this ACL user (its own identity).
   */
  constructor(
    readonly maps = false,
    readonly user?: { name: string; password: string },
  ) {}

  /** Connection options: the port, and this model's identity. */
  private login(port: number): { port: number; username?: string; password?: string } {
    return this.user ? { port, username: this.user.name, password: this.user.password } : { port };
  }

  readonly blocks = new Map<string, Block>();
  /** Regions made so far (file names stay unique). */
  private made = 0;
  /** Freed and committed: must never come back. */
  readonly gone = new Set<string>();
  /** Freed since the last commit. */
  readonly freeing = new Set<string>();
  readonly touched = new Set<string>();
  acked = { allocs: 0, writes: 0, frees: 0, syncs: 0 };

  commit(): void {
    for (const h of this.touched) {
      const b = this.blocks.get(h);
      if (b === undefined) continue;
      b.durable.set(b.current);
      b.mask.fill(0);
      b.fresh = false;
    }
    this.touched.clear();
    for (const h of this.freeing) {
      this.gone.add(h);
      this.blocks.delete(h);
    }
    this.freeing.clear();
  }

  /**
   * Drives load until the connection dies (the server was killed). `always`: every reply commits;
   * otherwise SYNC replies do.
   */
  async drive(port: number, seed: number, always: boolean, stop: { killed: boolean }): Promise<void> {
    const rnd = prng(seed);
    const r = new Redis({
      ...this.login(port),
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableOfflineQueue: false,
    });
    r.on("error", () => {});
    try {
      await new Promise<void>((resolve, reject) => {
        r.once("ready", resolve);
        r.once("end", () => reject(new Error("could not connect")));
      });
      while (!stop.killed) {
        const live = [...this.blocks.keys()].filter((h) => !this.freeing.has(h));
        const x = rnd();
        if (live.length < 4 || (x < 0.3 && live.length < 60)) {
          const map = this.maps && rnd() < 0.33;
          const size = map
            ? 4096 * (1 + Math.floor(rnd() * 5))
            : 1 + Math.floor(rnd() * (rnd() < 0.3 ? 40000 : 5000));
          const align = !map && rnd() < 0.2 ? 1 << (6 + Math.floor(rnd() * 7)) : 0;
          // Half the regions are backed by a file of their own under <data>/maps.
          const file = map && rnd() < 0.5 ? ["STORE", "file", `crash-${seed}-${this.made++}.bin`] : [];
          const h = map
            ? String(await r.call("MAP", size, ...file))
            : String(await r.call("ALLOC", size, ...(align ? ["ALIGN", align] : [])));
          this.blocks.set(h, {
            size,
            durable: new Uint8Array(size),
            current: new Uint8Array(size),
            mask: new Uint8Array(size).fill(1),
            fresh: true,
          });
          this.touched.add(h);
          this.acked.allocs++;
        } else if (x < 0.85 || live.length > 60) {
          const h = live[Math.floor(rnd() * live.length)];
          const b = this.blocks.get(h)!;
          const off = Math.floor(rnd() * b.size);
          const len = Math.max(1, Math.min(b.size - off, Math.floor(rnd() * 9000)));
          const data = Buffer.alloc(len);
          for (let i = 0; i < len; i++) data[i] = (rnd() * 256) | 0;
          b.mask.fill(1, off, off + len);
          this.touched.add(h);
          b.current.set(data, off);
          await r.call("WRITE", h, off, data);
          this.acked.writes++;
        } else if (x < 0.95) {
          const h = live[Math.floor(rnd() * live.length)];
          this.freeing.add(h);
          await r.call("FREE", h);
          this.acked.frees++;
        } else if (!always) {
          await r.call("SYNC");
          this.commit();
          this.acked.syncs++;
          continue;
        }
        if (always) this.commit();
      }
    } catch (e) {
      if (!stop.killed) throw e;
    } finally {
      r.disconnect();
    }
  }

  /** Checks a restarted server against the contract; then adopts what it holds as the new model. */
  async verify(port: number): Promise<{ checked: number; bytes: number }> {
    const r = new Redis({ ...this.login(port), maxRetriesPerRequest: 0 });
    let checked = 0;
    let bytes = 0;
    try {
      for (const h of this.gone) {
        await expect(r.call("SIZE", h), `freed ${h} came back`).rejects.toThrow(/invalid handle/);
      }
      for (const [h, b] of [...this.blocks]) {
        let got: Buffer | null = null;
        try {
          got = (await r.callBuffer("READ", h, 0, b.size)) as Buffer;
        } catch (e) {
          if (!/invalid handle/.test((e as Error).message)) throw e;
        }
        if (got === null) {
          expect(b.fresh || this.freeing.has(h), `block ${h} (${b.size} bytes) was lost`).toBe(true);
          this.blocks.delete(h);
          continue;
        }
        if (!this.freeing.has(h)) {
          for (let i = 0; i < b.size; i++) {
            if (b.mask[i] === 0 && got[i] !== b.durable[i]) {
              throw new Error(`block ${h} byte ${i}: ${got[i]}, the contract says ${b.durable[i]}`);
            }
          }
          checked++;
          bytes += b.size;
        }
        b.current.set(got);
        this.touched.add(h);
      }
      for (const h of this.freeing) if (this.blocks.has(h)) this.freeing.delete(h);
      // Whatever came back is in the log: make it the covered state for the next round.
      await r.call("SYNC");
      for (const h of this.freeing) {
        this.blocks.delete(h);
        this.gone.add(h);
      }
      this.freeing.clear();
      this.commit();
    } finally {
      r.disconnect();
    }
    return { checked, bytes };
  }
}
