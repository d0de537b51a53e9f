/**
 * A Float64 array backed by a mapping of an AddressSpace: the array may be far larger than the
 * frames; every access goes through the vm layer, which faults pages in from the store and
 * evicts (writing dirty pages back) as the frames fill.
 *
 * Element i is the 8 bytes at `base + 8 i` of the mapping, host byte order (little-endian on
 * every platform Node runs on), so the backing file is a plain array of float64.
 *
 * Single elements (get/set) cost one vm call each; ranges (read/write) move whole chunks per
 * call, which is how a scan should go.
 */
import { type AddressSpace, type Hint, InvalidArgumentError } from "mneme";

export class PagedFloat64Array {
  readonly length: number;
  private readonly space: AddressSpace;
  private readonly base: number;

  /** `length` elements at virtual address `base` of `space` (a mapping of at least 8 length bytes). */
  constructor(space: AddressSpace, base: number, length: number) {
    if (!Number.isSafeInteger(length) || length < 1) {
      throw new InvalidArgumentError("length", length, "must be a positive integer");
    }
    this.space = space;
    this.base = base;
    this.length = length;
  }

  async get(i: number): Promise<number> {
    this.check(i, 1);
    const b = await this.space.read(this.base + i * 8, 8);
    return new Float64Array(b.buffer, b.byteOffset, 1)[0];
  }

  async set(i: number, value: number): Promise<void> {
    this.check(i, 1);
    await this.space.write(this.base + i * 8, new Uint8Array(Float64Array.of(value).buffer));
  }

  /** Elements [from, from + count) as a new array. */
  async read(from: number, count: number): Promise<Float64Array> {
    this.check(from, count);
    const out = new Float64Array(count);
    await this.space.read(this.base + from * 8, count * 8, new Uint8Array(out.buffer));
    return out;
  }

  /** Stores `values` at [from, from + values.length). */
  async write(from: number, values: Float64Array): Promise<void> {
    this.check(from, values.length);
    await this.space.write(
      this.base + from * 8,
      new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
    );
  }

  /** madvise for elements [from, from + count): see src/vm/hints.ts for what each hint does. */
  async advise(from: number, count: number, hint: Hint): Promise<void> {
    this.check(from, count);
    await this.space.advise(this.base + from * 8, count * 8, hint);
  }

  private check(from: number, count: number): void {
    if (!Number.isSafeInteger(from) || from < 0 || from >= this.length) {
      throw new InvalidArgumentError("index", from, `must be an integer in [0, ${this.length})`);
    }
    if (!Number.isSafeInteger(count) || count < 1 || from + count > this.length) {
      throw new InvalidArgumentError("count", count, `must be at least 1 and end by ${this.length}`);
    }
  }
}
