import { InvalidArgumentError } from "../errors.js";

/** A positive safe integer, or an InvalidArgumentError naming the argument. */
export function positiveInteger(argument: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidArgumentError(argument, value, "must be a positive integer");
  }
  return value;
}

/** A non-negative safe integer. */
export function nonNegativeInteger(argument: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(argument, value, "must be a non-negative integer");
  }
  return value;
}

/** A positive power of two. */
export function powerOfTwo(argument: string, value: unknown): number {
  const v = positiveInteger(argument, value);
  if (!isPowerOfTwo(v)) throw new InvalidArgumentError(argument, value, "must be a power of two");
  return v;
}

export function isPowerOfTwo(v: number): boolean {
  if (v > 0 && v <= 0x40000000 && (v | 0) === v) return (v & (v - 1)) === 0;
  return v > 0 && Number.isSafeInteger(v) && 2 ** Math.round(Math.log2(v)) === v;
}

/** log2 of a power of two that may exceed 2^31. */
export function log2Exact(v: number): number {
  return Math.round(Math.log2(v));
}

/** Smallest k with 2^k >= n, for 1 <= n < 2^31. */
export function ceilLog2(n: number): number {
  return n <= 1 ? 0 : 32 - Math.clz32(n - 1);
}

/** Largest k with 2^k <= n, for 1 <= n < 2^31. */
export function floorLog2(n: number): number {
  return 31 - Math.clz32(n);
}

/** Number of trailing zero bits of a non-zero int32. */
export function ctz32(n: number): number {
  return 31 - Math.clz32(n & -n);
}

/** Human-readable byte count for messages and dumps. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  let v = n;
  while (v >= 1024 && u < units.length - 1 && v % 1024 === 0) {
    v /= 1024;
    u++;
  }
  return `${v} ${units[u]}`;
}
