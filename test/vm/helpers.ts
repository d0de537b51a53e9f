/**
 * Shared pieces of the vm tests: temporary directories, an in-memory store with counters, gates
 * and injected failures (to watch and break the fault path), and a snapshot of everything an
 * address space reports, to show that a failed call changed nothing.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import type { AddressSpace, MnemeError, Store } from "../../src/index.js";

export function tempDir(prefix = "mneme-vm-"): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * A store in a Map, one entry per written page prefix, that counts its calls. `gate` holds reads
 * until opened; `failReads`/`failWrites` make the next calls throw a plain Error.
 */
export class MemoryStore implements Store {
  readonly description: string;
  readonly data = new Map<number, Uint8Array>();
  reads = 0;
  writes = 0;
  readOffsets: number[] = [];
  failReads = 0;
  failWrites = 0;
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;

  constructor(name = "memory") {
    this.description = `test store ${name}`;
  }

  hold(): void {
    this.gate = new Promise((resolve) => {
      this.openGate = resolve;
    });
  }

  release(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  async readPage(offset: number, into: Uint8Array): Promise<void> {
    this.reads++;
    this.readOffsets.push(offset);
    if (this.gate) await this.gate;
    if (this.failReads > 0) {
      this.failReads--;
      // Scribble first: a failed read must not leave a half-filled frame visible.
      into.fill(0xee);
      throw new Error(`injected read failure at ${offset}`);
    }
    into.fill(0);
    const page = this.data.get(offset);
    if (page) into.set(page.subarray(0, Math.min(page.length, into.length)));
  }

  async writePage(offset: number, data: Uint8Array): Promise<void> {
    this.writes++;
    await Promise.resolve();
    if (this.failWrites > 0) {
      this.failWrites--;
      throw new Error(`injected write failure at ${offset}`);
    }
    const old = this.data.get(offset) ?? new Uint8Array(0);
    const page = new Uint8Array(Math.max(old.length, data.length));
    page.set(old);
    page.set(data);
    this.data.set(offset, page);
  }

  async close(): Promise<void> {}
}

/** Everything the space reports, as one string. */
export function snapshot(space: AddressSpace): string {
  return JSON.stringify(space.stats()) + space.debugInfo();
}

type ErrorClass<E> = abstract new (...args: never[]) => E;

/** `fn` must reject with `cls` (and `code` if given) and leave stats and debugInfo unchanged. */
export async function expectCleanRejection<E extends MnemeError>(
  space: AddressSpace,
  cls: ErrorClass<E>,
  fn: () => Promise<unknown> | unknown,
  code?: string,
): Promise<E> {
  const before = snapshot(space);
  let error: unknown;
  try {
    await fn();
  } catch (e) {
    error = e;
  }
  expect(error, "expected the call to fail").toBeInstanceOf(cls);
  if (code !== undefined) expect((error as MnemeError).code).toBe(code);
  expect(snapshot(space)).toBe(before);
  space.check();
  return error as E;
}

/** A page of `size` bytes filled with a pattern derived from `seed`. */
export function pattern(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * A FileHandle for gather() whose writes wait until `finish()`: gather holds a transient ref on
 * the page being written for that long, which is how the tests open race windows.
 */
export function heldHandle(): {
  handle: {
    read: () => Promise<{ bytesRead: number }>;
    write: (b: Uint8Array, o: number, length: number) => Promise<{ bytesWritten: number }>;
  };
  finish: () => void;
} {
  const waiting: (() => void)[] = [];
  return {
    handle: {
      read: async () => ({ bytesRead: 0 }),
      write: (_b, _o, length) =>
        new Promise((resolve) => {
          waiting.push(() => resolve({ bytesWritten: length }));
        }),
    },
    finish: () => {
      for (const w of waiting.splice(0)) w();
    },
  };
}

/** Lets timers and I/O callbacks run (a few ms). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 5));
}
