/**
 * Checkpoints larger than one Redis value may be. Redis refuses a string longer than its
 * proto-max-bulk-len (512 MB by default) with a protocol error, so a server with more live data
 * than that could never checkpoint: every attempt failed and the stream grew without end. Here
 * the limit is 1 MB and the parts 256 KiB, with images of 3 MB.
 */
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { LogCorruptionError } from "../../src/errors.js";
import {
  BatchBuilder,
  batchEntrySize,
  encodeAlloc,
  encodeEnd,
  PAGE_SIZE,
} from "../../src/replication/format.js";
import { RedisBackend } from "../../src/replication/redis-backend.js";
import { parseTarget } from "../../src/replication/target.js";
import { freePort, redisInstalled, startRedis, startRedisOn } from "../helpers/redis.js";

const redis = redisInstalled()
  ? await startRedisOn(await freePort(), ["--proto-max-bulk-len", "1mb"])
  : await startRedis();
afterAll(() => redis?.stop());

const PART = 256 * 1024;

/** An image at `seq`: `blocks` blocks of 256 pages, each page filled with its block's number. */
function image(seq: number, blocks: number): Buffer[] {
  const records: Buffer[] = [];
  for (let b = 0; b < blocks; b++)
    records.push(encodeAlloc(seq, { handle: `h${b}`, owner: "default", size: 256 * PAGE_SIZE, align: 0 }));
  for (let b = 0; b < blocks; b++) {
    const page = Buffer.alloc(PAGE_SIZE, b + 1);
    const batch = new BatchBuilder(256 * batchEntrySize(`h${b}`, PAGE_SIZE));
    for (let p = 0; p < 256; p++) batch.add(`h${b}`, p, 0, page);
    records.push(batch.finish(seq));
  }
  records.push(encodeEnd(seq, records.length));
  return records;
}

async function backend(name: string): Promise<RedisBackend> {
  const b = new RedisBackend(parseTarget(`${redis!.url}/${name}`, "") as never, PART);
  await b.open();
  return b;
}

describe.skipIf(!redis)("a checkpoint larger than a Redis value may be", () => {
  it("is stored in parts, loads back whole, and its parts go when a newer checkpoint replaces it", async () => {
    const first = await backend("big");
    await first.startAppending(0);
    const img = image(7, 3);
    await first.checkpoint(7, img);
    await first.close();
    const admin = new Redis({ port: redis!.port });
    try {
      const parts = await admin.keys("mneme:{big}:checkpoint:*");
      expect(parts.length).toBe(Math.ceil((16 + Buffer.concat(img).length) / PART));

      const second = await backend("big");
      const loaded = await second.loadCheckpoint();
      expect(loaded?.seq).toBe(7);
      expect(Buffer.from(loaded!.bytes).equals(Buffer.concat(img))).toBe(true);
      await second.startAppending(7);
      await second.checkpoint(9, image(9, 0));
      await second.close();
      expect(await admin.keys("mneme:{big}:checkpoint:*")).toEqual([]);
    } finally {
      admin.disconnect();
    }
  });

  it("a part missing is a damaged checkpoint, named", async () => {
    const first = await backend("gone");
    await first.startAppending(0);
    await first.checkpoint(3, image(3, 2));
    await first.close();
    const admin = new Redis({ port: redis!.port });
    await admin.del("mneme:{gone}:checkpoint:3:1");
    admin.disconnect();
    const second = await backend("gone");
    try {
      const err = await second.loadCheckpoint().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LogCorruptionError);
      expect((err as LogCorruptionError).why).toMatch(
        /^mneme:\{gone\}:checkpoint:3:1: part 1 of \d+ is missing$/,
      );
    } finally {
      await second.close();
    }
  });
});
