/**
 * Several clients at once, each with its own identity, each driving its own plain blocks and MAP
 * regions with random WRITE, READ, FREE, ALLOC and MAP, against a model per client. The regions
 * (anonymous, or backed by files) share 6 frames, so one client's faults evict another's pages, a
 * FREE of a region (an unmap in the vm layer) runs while other clients' faults write pages back,
 * and SYNCs and the flusher write pages that are being written again. Every READ must return the
 * client's last write (zeros where it never wrote), and a fresh block or region reads as zeros.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Service } from "../../src/service/server.js";
import { rng } from "../helpers/rng.js";
import { type ServerProcess, spawnServer, startService } from "./helpers.js";

const CLIENTS = 4;
const PAGE = 4096;
let svc: Service;

beforeAll(async () => {
  const users: Record<string, string> = {};
  for (let i = 0; i < CLIENTS; i++) users[`u${i}`] = `pw${i}`;
  svc = await startService({ mapFrames: 6, users });
});

afterAll(async () => {
  await svc.close();
});

interface Held {
  handle: string;
  bytes: Uint8Array;
}

async function client(i: number, seed: number, rounds: number, port?: number): Promise<void> {
  // On the in-process service each client has its own identity; on a spawned server, the default.
  const r =
    port === undefined
      ? new Redis({ port: svc.port, username: `u${i}`, password: `pw${i}`, lazyConnect: true })
      : new Redis({ port, lazyConnect: true });
  await r.connect();
  const rand = rng(seed);
  const pick = (n: number) => Math.floor(rand() * n);
  const held: Held[] = [];
  let files = 0;
  const make = async (): Promise<void> => {
    const kind = pick(3); // a plain block, an anonymous region, a file region
    const map = kind > 0;
    const size = map ? (2 + pick(4)) * PAGE : 1 + pick(3 * PAGE);
    const handle = String(
      kind === 0
        ? await r.call("ALLOC", size)
        : kind === 1
          ? await r.call("MAP", size)
          : await r.call("MAP", size, "STORE", "file", `c${i}-${seed}-${files++}.bin`),
    );
    const fresh = (await r.callBuffer("READ", handle, 0, size)) as Buffer;
    expect(
      fresh.every((b) => b === 0),
      `client ${i}: a new ${map ? "region" : "block"} reads as zeros`,
    ).toBe(true);
    held.push({ handle, bytes: new Uint8Array(size) });
  };
  try {
    for (let round = 0; round < rounds; round++) {
      const what = rand();
      if (held.length === 0 || (what < 0.15 && held.length < 4)) {
        await make();
        continue;
      }
      const h = held[pick(held.length)];
      const size = h.bytes.length;
      if (what < 0.2) {
        expect(await r.call("FREE", h.handle)).toBe("OK");
        held.splice(held.indexOf(h), 1);
      } else if (what < 0.25) {
        expect(await r.call("SYNC")).toBe("OK");
      } else if (what < 0.65) {
        const at = pick(size);
        const n = 1 + pick(Math.min(size - at, 2 * PAGE));
        const data = Buffer.alloc(n);
        for (let k = 0; k < n; k++) data[k] = 1 + ((i * 53 + round * 7 + k) % 251);
        expect(await r.callBuffer("WRITE", h.handle, at, data)).toBe(n);
        h.bytes.set(data, at);
      } else {
        const at = pick(size);
        const n = 1 + pick(size - at);
        const got = (await r.callBuffer("READ", h.handle, at, n)) as Buffer;
        expect(new Uint8Array(got), `client ${i}, round ${round}`).toEqual(h.bytes.subarray(at, at + n));
      }
    }
    for (const h of held) {
      const got = (await r.callBuffer("READ", h.handle, 0, h.bytes.length)) as Buffer;
      expect(new Uint8Array(got), `client ${i}: final contents`).toEqual(h.bytes);
      await r.call("FREE", h.handle);
    }
  } finally {
    r.disconnect();
  }
}

describe("concurrent clients against a model, READ/WRITE copies on a worker thread (a server process)", () => {
  let srv: ServerProcess;
  beforeAll(async () => {
    srv = await spawnServer(["--workers", "1", "--map-frames", "6", "--replicate", "off"]);
  });
  afterAll(async () => {
    await srv.stop();
  });
  for (const seed of [21, 22, 23, 24]) {
    it(`${CLIENTS} clients at once (seed ${seed})`, async () => {
      await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i, seed * 100 + i, 150, srv.port)));
    });
  }
});

describe("concurrent clients against a model", () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`${CLIENTS} identities at once (seed ${seed}): every READ is the client's last WRITE, new memory is zero`, async () => {
      await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i, seed * 100 + i, 150)));
    });
  }
});
