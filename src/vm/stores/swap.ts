/**
 * The swap file behind an AnonymousStore: fixed-size slots, one per swapped-out page.
 *
 *     slot:   0        1        2        3        4 ...
 *           [page 7] [free ] [page 2] [page 9] [free ]      free slots are reused before the
 *                                                           file grows; the file never exceeds
 *     slotOf: Map page offset -> slot                       `cap` bytes
 *
 * A page keeps its slot while it is swapped in again (a clean page can then be dropped without
 * I/O and still be found), and gives it up when the page is discarded. Exceeding the cap fails the
 * write that needed a new slot with OutOfMemoryError reason "quota", and nothing else; the
 * address space then looks for another victim.
 */
import { type FileHandle, mkdir, open, rm } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { OutOfMemoryError } from "../../errors.js";
import { oneAtATime } from "../../util/one-at-a-time.js";
import { fillBytes } from "../../util/shared-bytes.js";
import { StoreError } from "./store.js";

/**
 * Makes directory `dir` (absolute) and its missing parents. Not mkdir's recursive mode: below a
 * pseudo-filesystem that refuses new entries with ENOENT (/proc/self/x/y) it loops forever in a
 * thread of libuv's pool, and the fault that needed the swap file never returns. Here each level
 * is tried at most twice, so every path ends in a directory or an error.
 */
async function makeDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir);
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return; // a file there fails the open with ENOTDIR
    const parent = dirname(dir);
    if (code !== "ENOENT" || parent === dir) throw e;
  }
  await makeDirectory(dirname(dir));
  try {
    await mkdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
}

export class SwapFile {
  readonly path: string;
  readonly cap: number;
  private slotSize = 0;
  private handle: FileHandle | undefined;
  private opening: Promise<FileHandle> | undefined;
  private readonly slotOf = new Map<number, number>();
  private readonly freeSlots: number[] = [];
  /** Writes in flight, by page offset. */
  private readonly writing = new Map<number, Promise<void>>();
  private slotsEnd = 0;
  writes = 0;
  reads = 0;

  constructor(path: string, cap: number) {
    this.path = path;
    this.cap = cap;
  }

  get slotsUsed(): number {
    return this.slotOf.size;
  }

  get bytesUsed(): number {
    return this.slotOf.size * this.slotSize;
  }

  get fileBytes(): number {
    return this.slotsEnd * this.slotSize;
  }

  has(offset: number): boolean {
    return this.slotOf.has(offset);
  }

  private file(): Promise<FileHandle> {
    if (this.handle) return Promise.resolve(this.handle);
    this.opening ??= (async () => {
      try {
        await makeDirectory(dirname(resolve(this.path)));
        this.handle = await open(this.path, "w+");
        return this.handle;
      } catch (e) {
        throw new StoreError(`swap ${this.path}`, "open", 0, e);
      } finally {
        this.opening = undefined;
      }
    })();
    return this.opening;
  }

  /** Reads the page at `offset` into `into`; false (and nothing read) when it has no slot. */
  async read(offset: number, into: Uint8Array): Promise<boolean> {
    const slot = this.slotOf.get(offset);
    if (slot === undefined) return false;
    const fh = await this.file();
    let done = 0;
    while (done < into.length) {
      const { bytesRead } = await fh.read(into, done, into.length - done, slot * this.slotSize + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    if (done < into.length) fillBytes(into, 0, done);
    this.reads++;
    return true;
  }

  /** The quota error a write of a page without a slot would get now, or undefined. */
  refuses(offset: number, pageSize: number): OutOfMemoryError | undefined {
    if (this.slotSize === 0) this.slotSize = pageSize;
    if (this.slotOf.has(offset) || this.freeSlots.length > 0) return undefined;
    if ((this.slotsEnd + 1) * this.slotSize <= this.cap) return undefined;
    const used = this.slotOf.size * this.slotSize;
    return new OutOfMemoryError(
      pageSize,
      0,
      Math.max(0, this.cap - used),
      "quota",
      `swap file ${this.path} is at its cap of ${this.cap} bytes (${this.slotOf.size} slots of ${this.slotSize} bytes in use)`,
    );
  }

  /**
   * Writes `data` (a prefix of the page; `pageSize` bytes in all) to the page's slot, taking a
   * slot first if it has none. A new slot gets the rest of the page as zeros.
   */
  write(offset: number, data: Uint8Array, pageSize: number): Promise<void> {
    // One write per page at a time: two in flight would each take a fresh slot (the second zeroing
    // the first's tail), or land in either order.
    return oneAtATime(this.writing, offset, () => this.writeOnce(offset, data, pageSize));
  }

  private async writeOnce(offset: number, data: Uint8Array, pageSize: number): Promise<void> {
    if (this.slotSize === 0) this.slotSize = pageSize;
    let slot = this.slotOf.get(offset);
    let fresh = false;
    if (slot === undefined) {
      const refusal = this.refuses(offset, pageSize);
      if (refusal) throw refusal;
      const reuse = this.freeSlots.length > 0;
      slot = reuse ? this.freeSlots.pop()! : this.slotsEnd++;
      fresh = true;
    }
    const fh = await this.file().catch((e) => {
      if (fresh) this.freeSlots.push(slot!);
      throw e;
    });
    let out = data;
    if (fresh && data.length < this.slotSize) {
      out = new Uint8Array(this.slotSize);
      out.set(data);
    }
    try {
      let done = 0;
      while (done < out.length) {
        const { bytesWritten } = await fh.write(out, done, out.length - done, slot * this.slotSize + done);
        done += bytesWritten;
      }
    } catch (e) {
      if (fresh) this.freeSlots.push(slot);
      throw e;
    }
    if (fresh) this.slotOf.set(offset, slot);
    this.writes++;
  }

  /**
   * Gives up the slots of pages in [offset, offset + length), after the writes to them in flight:
   * one finishing later would register a slot for a discarded page, or write into a slot another
   * page has taken meanwhile.
   */
  async discard(offset: number, length: number): Promise<void> {
    const inFlight = [...this.writing].filter(([o]) => o >= offset && o < offset + length);
    if (inFlight.length > 0) await Promise.all(inFlight.map(([, w]) => w.catch(() => {})));
    this.release(offset, length);
  }

  private release(offset: number, length: number): void {
    if (length >= this.slotOf.size * Math.max(1, this.slotSize)) {
      for (const [o, slot] of this.slotOf) {
        if (o >= offset && o < offset + length) {
          this.slotOf.delete(o);
          this.freeSlots.push(slot);
        }
      }
      return;
    }
    for (let o = offset; o < offset + length; o += this.slotSize || length) {
      const slot = this.slotOf.get(o);
      if (slot !== undefined) {
        this.slotOf.delete(o);
        this.freeSlots.push(slot);
      }
    }
  }

  async close(): Promise<void> {
    const fh = this.handle ?? (this.opening ? await this.opening.catch(() => undefined) : undefined);
    this.handle = undefined;
    this.slotOf.clear();
    this.freeSlots.length = 0;
    this.slotsEnd = 0;
    if (fh) await fh.close();
    await rm(this.path, { force: true });
  }
}
