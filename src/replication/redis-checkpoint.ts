/**
 * Checkpoints in Redis. One string value holds at most `proto-max-bulk-len` bytes (512 MB by
 * default; Redis refuses a longer one with a protocol error), and a checkpoint holds every live
 * block's contents, so a large one is stored in parts:
 *
 * | key                              | holds                                                        |
 * |----------------------------------|--------------------------------------------------------------|
 * | mneme:{NAME}:checkpoint          | u64 seq (LE) + the image (file header + records), when it fits in one part |
 * |                                  | u64 seq + "MNEMECKS" + u32 parts + u32 0, when it does not   |
 * | mneme:{NAME}:checkpoint:<seq>:<i> | part i of the image at seq (the image's bytes in order)     |
 *
 * The parts are written first and the checkpoint key last, so a crash in between leaves the
 * previous checkpoint whole; the previous checkpoint's parts are deleted after the switch.
 */
import type { Cluster, Redis } from "ioredis";
import { FILE_HEADER } from "./segment-reader.js";

/** Bytes per part: well under Redis's default 512 MB limit, and few round trips. */
export const PART_BYTES = 64 << 20;
const SPLIT_MAGIC = "MNEMECKS";

/** Where a checkpoint's parts live (parts 0: all in the checkpoint key). */
export interface StoredCheckpoint {
  seq: number;
  parts: number;
}

function partKey(key: string, seq: number, i: number): string {
  return `${key}:${seq}:${i}`;
}

/** Stores `image` (file header + records) at `seq`, then drops `previous`'s parts. */
export async function storeCheckpoint(
  client: Redis | Cluster,
  key: string,
  seq: number,
  image: readonly Buffer[],
  partBytes: number,
  previous: StoredCheckpoint | null,
): Promise<StoredCheckpoint> {
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(seq));
  const total = image.reduce((a, b) => a + b.length, 0);
  let parts = 0;
  if (total <= partBytes) {
    await client.set(key, Buffer.concat([head, ...image]));
  } else {
    try {
      for (const part of split(image, partBytes)) await client.set(partKey(key, seq, parts++), part);
      const index = Buffer.alloc(FILE_HEADER);
      index.write(SPLIT_MAGIC, 0, "latin1");
      index.writeUInt32LE(parts, 8);
      await client.set(key, Buffer.concat([head, index]));
    } catch (e) {
      // Parts of an image that never became the checkpoint would stay in Redis for good.
      for (let i = 0; i < parts; i++) await client.del(partKey(key, seq, i)).catch(() => {});
      throw e;
    }
  }
  if (previous !== null) {
    // A checkpoint at the same seq wrote over the first of them.
    const from = previous.seq === seq ? parts : 0;
    for (let i = from; i < previous.parts; i++) await client.del(partKey(key, previous.seq, i));
  }
  return { seq, parts };
}

/** The image's bytes, cut into parts of `size` without copying more than one part at a time. */
function* split(image: readonly Buffer[], size: number): Generator<Buffer> {
  let part: Buffer[] = [];
  let held = 0;
  for (let b of image) {
    while (held + b.length >= size) {
      const take = size - held;
      part.push(b.subarray(0, take));
      yield Buffer.concat(part);
      part = [];
      held = 0;
      b = b.subarray(take);
    }
    if (b.length > 0) {
      part.push(b);
      held += b.length;
    }
  }
  if (held > 0) yield Buffer.concat(part);
}

/**
 * The checkpoint key's value made whole: seq and image, or why it cannot be (a part missing).
 * `value` is what GET returned for the key.
 */
export async function loadParts(
  client: Redis | Cluster,
  key: string,
  value: Buffer,
): Promise<{ seq: number; image: Buffer; parts: number } | { seq: number; where: string; why: string }> {
  const seq = value.length >= 8 ? Number(value.readBigUInt64LE(0)) : -1;
  if (seq < 0 || value.length < 8 + FILE_HEADER || value.toString("latin1", 8, 16) !== SPLIT_MAGIC)
    return { seq, image: value.subarray(8), parts: 0 };
  const parts = value.readUInt32LE(16);
  const bufs: Buffer[] = [];
  for (let i = 0; i < parts; i++) {
    const where = partKey(key, seq, i);
    const part = (await client.getBuffer(where)) as Buffer | null;
    if (part === null) return { seq, where, why: `part ${i} of ${parts} is missing` };
    bufs.push(part);
  }
  return { seq, image: Buffer.concat(bufs), parts };
}
