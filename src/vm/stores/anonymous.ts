/**
 * AnonymousStore: memory with no file behind it. A page reads as zeros until it is written;
 * a dirty page that must leave its frame goes to the swap file, and comes back from there.
 *
 * Its contents live while mapped: unmapping discards the pages (and their swap slots) that no
 * other mapping of the same store covers, and `sync()` does not write anonymous pages (there is
 * nothing to make durable). `swap: false` gives a store with no swap at all: a dirty page can then
 * never be evicted, and a fault that finds only such pages fails with OutOfMemoryError reason
 * "no-backing-store".
 */
import { join, resolve } from "node:path";
import { InvalidArgumentError, OutOfMemoryError } from "../../errors.js";
import { fillBytes } from "../../util/shared-bytes.js";
import { type Store, StoreError, samePageSize } from "./store.js";
import { SwapFile } from "./swap.js";

export interface AnonymousStoreOptions {
  /** Swap file path, or false for no swap. Default: `<dataDir>/swap/anon-<pid>-<n>.swap`. */
  swap?: string | false;
  /** Directory for the default swap path. Default "mneme-data" (the service's data directory). */
  dataDir?: string;
  /** Largest size of the swap file in bytes. Default 1 GiB. */
  swapCap?: number;
}

export const DEFAULT_SWAP_CAP = 2 ** 30;
let swapCounter = 0;
/** Swap files of the stores of this process that are not closed, by absolute path. */
const swapsInUse = new Set<string>();

export class AnonymousStore implements Store {
  readonly description: string;
  readonly swap: SwapFile | undefined;
  private swapKey: string | undefined;
  private pageSize = 0;

  constructor(options: AnonymousStoreOptions = {}) {
    if (options === null || typeof options !== "object") {
      throw new InvalidArgumentError("options", options, "must be an object");
    }
    const { swap, dataDir = "mneme-data", swapCap = DEFAULT_SWAP_CAP } = options;
    if (swap !== undefined && swap !== false && (typeof swap !== "string" || swap.length === 0)) {
      throw new InvalidArgumentError("swap", swap, "must be a file path or false");
    }
    if (typeof dataDir !== "string" || dataDir.length === 0) {
      throw new InvalidArgumentError("dataDir", dataDir, "must be a directory path");
    }
    if (!Number.isSafeInteger(swapCap) || swapCap < 0) {
      throw new InvalidArgumentError("swapCap", swapCap, "must be a non-negative integer (bytes)");
    }
    if (swap === false) {
      this.swap = undefined;
      this.description = "anonymous (no swap)";
    } else {
      const path = swap ?? join(dataDir, "swap", `anon-${process.pid}-${++swapCounter}.swap`);
      // Two stores on one swap file would each truncate it when they open it and write their
      // slots over each other's: the other's swapped pages would read back as zeros or as its.
      const key = resolve(path);
      if (swapsInUse.has(key)) {
        throw new InvalidArgumentError(
          "swap",
          swap,
          "is the swap file of another AnonymousStore (until it is closed)",
        );
      }
      swapsInUse.add(key);
      this.swapKey = key;
      this.swap = new SwapFile(path, swapCap);
      this.description = `anonymous (swap ${path})`;
    }
  }

  /** Swap slots are one page: the first map() fixes the page size, others must match it. */
  attach(pageSize: number): void {
    this.pageSize = samePageSize(this.pageSize, pageSize);
  }

  async readPage(offset: number, into: Uint8Array): Promise<void> {
    if (this.swap?.has(offset)) {
      try {
        await this.swap.read(offset, into);
      } catch (e) {
        throw e instanceof StoreError ? e : new StoreError(this.description, "read", offset, e);
      }
    } else fillBytes(into, 0);
  }

  refuses(offset: number): OutOfMemoryError | undefined {
    if (!this.swap) {
      return new OutOfMemoryError(
        this.pageSize,
        0,
        0,
        "no-backing-store",
        `${this.description}: a dirty anonymous page cannot leave memory`,
      );
    }
    return this.swap.refuses(offset, this.pageSize || 4096);
  }

  async writePage(offset: number, data: Uint8Array): Promise<void> {
    if (!this.swap) {
      throw new OutOfMemoryError(
        data.length,
        0,
        0,
        "no-backing-store",
        `${this.description}: a dirty page cannot leave memory`,
      );
    }
    try {
      await this.swap.write(offset, data, this.pageSize || data.length);
    } catch (e) {
      if (e instanceof OutOfMemoryError || e instanceof StoreError) throw e;
      throw new StoreError(this.description, "write", offset, e);
    }
  }

  async discard(offset: number, length: number): Promise<void> {
    await this.swap?.discard(offset, length);
  }

  async close(): Promise<void> {
    if (this.swapKey !== undefined) swapsInUse.delete(this.swapKey);
    try {
      await this.swap?.close();
    } catch (e) {
      throw new StoreError(this.description, "close", 0, e);
    }
  }

  stats(): Record<string, number | string> {
    const s = this.swap;
    if (!s) return { swap: "none" };
    return {
      swapSlots: s.slotsUsed,
      swapBytes: s.bytesUsed,
      swapFileBytes: s.fileBytes,
      swapCap: s.cap,
      swapWrites: s.writes,
      swapReads: s.reads,
    };
  }
}
