/**
 * MAP regions under kill -9 (file and Redis backends, `batch`): three clients each own a region
 * of 5 pages that shares 6 frames with the others (so pages are evicted to swap and faulted back
 * while they are being replicated), write to it at random and SYNC now and then; the server is
 * killed at a random moment and restarted on the same replication target, 6 rounds. After each restart every byte of
 * every region is checked: a byte not written since the client's last SYNC reply holds what it
 * held then; a byte written since holds that or one of the values written to it since.
 *
 * This test found two bugs (session 7), both fixed: a reader that joined a full-page write's
 * fault (here the replicator reading the page for a batch) saw the frame's previous bytes, which
 * then went into the log; and a checkpoint deleted the records appended while its image of the
 * MAP regions was being read. It runs on the file backend with the default checkpoint size and
 * with checkpoints every 256 KiB, and on the Redis backend (a real redis-server) with 256 KiB.
 */
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { startRedis } from "../helpers/redis.js";
import { rng } from "../helpers/rng.js";
import { spawnServer, tempDir } from "../service/helpers.js";
import { kill9, sleep } from "./crash-helpers.js";

const redis = await startRedis();
afterAll(() => redis?.stop());

const PAGE = 4096;
const SIZE = 5 * PAGE;

interface Region {
  handle: string | null;
  /** The contents the last SYNC reply covered. */
  durable: Uint8Array;
  current: Uint8Array;
  /** Writes since that SYNC: [offset, length, the byte written]. */
  since: [number, number, number][];
}

function commit(g: Region): void {
  g.durable.set(g.current);
  g.since = [];
}

const runs = [
  { backend: "file", checkpoints: "64mb" },
  { backend: "file", checkpoints: "256kb" },
  { backend: "redis", checkpoints: "256kb" },
];

describe("kill -9 and recover: MAP regions under concurrent load", () => {
  for (const { backend, checkpoints } of runs) {
    it.skipIf(backend === "redis" && !redis)(
      `${backend} backend, checkpoints every ${checkpoints}: every byte a SYNC reply covered survives; others hold a value written since (6 rounds)`,
      async () => {
        const target =
          backend === "file" ? `file:${tempDir()}` : `redis://127.0.0.1:${redis?.port}/crash-map`;
        const args = ["--replicate", target, "--map-frames", "6", "--checkpoint-size", checkpoints];
        const regions: Region[] = Array.from({ length: 3 }, () => ({
          handle: null,
          durable: new Uint8Array(SIZE),
          current: new Uint8Array(SIZE),
          since: [],
        }));
        let checked = 0;
        for (let round = 0; round < 6; round++) {
          const srv = await spawnServer(args);
          const clients = regions.map(
            () => new Redis({ port: srv.port, maxRetriesPerRequest: 0, lazyConnect: true }),
          );
          for (const c of clients) c.on("error", () => {}); // the kill resets every connection
          try {
            await Promise.all(clients.map((c) => c.connect()));
            for (let i = 0; i < regions.length; i++) {
              const g = regions[i];
              if (g.handle === null) continue;
              const got = (await clients[i].callBuffer("READ", g.handle, 0, SIZE)) as Buffer;
              for (let k = 0; k < SIZE; k++) {
                const ok =
                  got[k] === g.durable[k] ||
                  g.since.some(([at, n, v]) => k >= at && k < at + n && v === got[k]);
                if (!ok) {
                  expect.fail(`round ${round}, region ${i}, byte ${k}: ${got[k]}, durable ${g.durable[k]}`);
                }
                checked++;
              }
              g.current.set(got);
              commit(g);
            }
            const stop = { killed: false };
            const drive = async (i: number): Promise<void> => {
              const c = clients[i];
              const g = regions[i];
              const rand = rng(round * 10 + i + 1);
              try {
                if (g.handle === null) {
                  g.handle = String(await c.call("MAP", SIZE));
                  await c.call("SYNC");
                }
                while (!stop.killed) {
                  if (rand() < 0.15) {
                    await c.call("SYNC");
                    commit(g);
                    continue;
                  }
                  const at = Math.floor(rand() * SIZE);
                  const n = 1 + Math.floor(rand() * Math.min(SIZE - at, 2 * PAGE));
                  const data = Buffer.alloc(n, 1 + Math.floor(rand() * 250));
                  g.current.set(data, at);
                  g.since.push([at, n, data[0]]);
                  await c.callBuffer("WRITE", g.handle, at, data);
                }
              } catch {
                // the server was killed under this command
              }
            };
            const driving = regions.map((_, i) => drive(i));
            await sleep(100 + round * 60);
            stop.killed = true;
            await kill9(srv);
            await Promise.all(driving);
          } finally {
            for (const c of clients) c.disconnect();
            await kill9(srv);
          }
        }
        expect(regions.every((g) => g.handle !== null)).toBe(true);
        expect(checked).toBe(5 * 3 * SIZE);
      },
    );
  }
});
