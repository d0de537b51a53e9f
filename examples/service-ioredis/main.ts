/**
 * The mneme memory service from ioredis: the service's commands through `redis.call` (and
 * `callBuffer` where the reply is binary), a pipeline, and what a refused command looks like.
 *
 *     mneme serve --port 6389 &      # or: npm start
 *     node --import tsx examples/service-ioredis/main.ts [--port 6389]
 *
 * Handles are capabilities bound to the identity (the ACL user; "default" here): another
 * connection of the same identity may use them, a different user may not.
 */
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";

export interface Summary {
  handle: string;
  written: number;
  textOk: boolean;
  binaryOk: boolean;
  size: number;
  pipelineOk: boolean;
  /** A second connection (same identity) reads the block the first one wrote. */
  sharedOk: boolean;
  /** The refused commands' error texts. */
  refused: string[];
  handlesBefore: number;
  handlesDuring: number;
  handlesAfter: number;
  freedOk: boolean;
}

/** One figure of STATS (a flat name, value, ... array in RESP2). */
async function stat(redis: Redis, name: string): Promise<number> {
  const flat = (await redis.call("STATS")) as (string | number)[];
  return Number(flat[flat.indexOf(name) + 1]);
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "(accepted)";
  } catch (e) {
    return (e as Error).message;
  }
}

export async function main(port = 6389, log: (s: string) => void = console.log): Promise<Summary> {
  const redis = new Redis({ port, host: "127.0.0.1", lazyConnect: true });
  const other = new Redis({ port, host: "127.0.0.1", lazyConnect: true });
  await redis.connect();
  await other.connect();
  try {
    const handlesBefore = await stat(redis, "handles");

    // ALLOC size -> a handle; WRITE handle offset data -> bytes written; READ handle offset length.
    const handle = String(await redis.call("ALLOC", 4096));
    log(`ALLOC 4096 -> ${handle}`);
    const written = Number(await redis.call("WRITE", handle, 0, "hello from ioredis"));
    const text = String(await redis.call("READ", handle, 0, 18));
    log(`WRITE -> ${written}, READ -> ${text}`);

    // Binary data: a Buffer goes as is; callBuffer returns the reply as a Buffer.
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await redis.call("WRITE", handle, 1024, bytes);
    const back = await redis.callBuffer("READ", handle, 1024, 256);
    const binaryOk = Buffer.isBuffer(back) && back.equals(bytes);
    log(`256 binary bytes round trip: ${binaryOk}`);
    const size = Number(await redis.call("SIZE", handle));

    // A pipeline: one round trip, replies in order.
    const p = redis.pipeline();
    for (let i = 0; i < 8; i++) p.call("WRITE", handle, 2048 + i * 16, Buffer.alloc(16, i));
    for (let i = 0; i < 8; i++) p.callBuffer("READ", handle, 2048 + i * 16, 16);
    const replies = (await p.exec()) ?? [];
    const pipelineOk =
      replies.length === 16 &&
      replies.every(([err]) => err === null) &&
      replies.slice(8).every(([, r], i) => (r as Buffer).equals(Buffer.alloc(16, i)));
    log(`pipeline of 16 commands: ${pipelineOk}`);

    // The handle is the identity's, not the connection's.
    const sharedOk = String(await other.call("READ", handle, 0, 5)) === "hello";
    const handlesDuring = await stat(redis, "handles");

    // Refused commands say why and change nothing.
    const refused = [
      await refusal(redis.call("WRITE", handle, 4090, "too long")),
      await refusal(redis.call("ALLOC", 0)),
      await refusal(redis.call("READ", "not-a-handle", 0, 1)),
    ];
    for (const r of refused) log(`refused: ${r}`);

    await redis.call("FREE", handle);
    const afterFree = await refusal(redis.call("READ", handle, 0, 1));
    const freedOk = /invalid handle/.test(afterFree);
    const handlesAfter = await stat(redis, "handles");
    log(`FREE -> handles ${handlesBefore} -> ${handlesDuring} -> ${handlesAfter}`);
    return {
      handle,
      written,
      textOk: text === "hello from ioredis",
      binaryOk,
      size,
      pipelineOk,
      sharedOk,
      refused,
      handlesBefore,
      handlesDuring,
      handlesAfter,
      freedOk,
    };
  } finally {
    redis.disconnect();
    other.disconnect();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { port: { type: "string" } } });
  const summary = await main(Number(values.port ?? process.env.MNEME_PORT ?? 6389));
  console.log(JSON.stringify(summary));
}
