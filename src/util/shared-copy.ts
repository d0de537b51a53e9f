/**
 * Copying bytes to or from a SharedArrayBuffer at full speed.
 *
 * V8 copies shared memory with relaxed atomic loads and stores (base::Relaxed_Memcpy): word by
 * word when the source and the destination are aligned alike modulo 8, byte by byte otherwise.
 * For 4 KiB that is 0.2 µs against 1.15 µs on the reference machine (BENCHMARKS.md), and the
 * service copies 4 KiB at arbitrary offsets on every READ and WRITE. When the alignments differ,
 * copyBytes routes the bytes through a private staging buffer placed so that every copy touching
 * shared memory is aligned alike, and the realignment itself is a plain memmove.
 */

/** Below this many bytes the byte-by-byte copy costs less than staging. */
const MIN_STAGED = 256;
const STAGE_BYTES = 64 * 1024;
const stage = new Uint8Array(STAGE_BYTES + 8);

/** Copies `src` into `dst` at `at`, as dst.set(src, at) does (one of them may be shared). */
export function copyBytes(dst: Uint8Array, at: number, src: Uint8Array): void {
  const n = src.length;
  if (n < MIN_STAGED || ((src.byteOffset - dst.byteOffset - at) & 7) === 0) {
    dst.set(src, at);
    return;
  }
  const srcShared = src.buffer instanceof SharedArrayBuffer;
  const dstShared = dst.buffer instanceof SharedArrayBuffer;
  if (!srcShared && !dstShared) {
    dst.set(src, at);
    return;
  }
  for (let done = 0; done < n; done += STAGE_BYTES) {
    const k = Math.min(STAGE_BYTES, n - done);
    const s = (src.byteOffset + done) & 7;
    const d = (dst.byteOffset + at + done) & 7;
    // Into the stage aligned like the source, moved to the destination's alignment (a plain
    // memmove: the stage is not shared), out of it aligned like the destination.
    stage.set(src.subarray(done, done + k), srcShared ? s : d);
    if (srcShared && dstShared) stage.copyWithin(d, s, s + k);
    const from = dstShared ? d : s;
    dst.set(stage.subarray(from, from + k), at + done);
  }
}
