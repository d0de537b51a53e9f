/**
 * Pipelines against a model, through few reply buffers. Four clients of one identity each send
 * random pipelines (READ/WRITE of plain blocks and MAP regions, SIZE, PING, SYNC, INFO, FREE,
 * ALLOC, MAP) as one stream cut into random pieces, and check every reply, in order, against a
 * model of their blocks computed when the pipeline was made. The server runs READ/WRITE copies
 * on a worker thread and has 16 reply buffers of 4 KiB, so replies are assembled while jobs are
 * out and asynchronous MAP commands finish, connections stall for buffers, and a reply may need
 * more buffers than are free when it is ready. Some pipelines end in a malformed frame (every
 * command before it is answered, then the protocol error, then the close), some in QUIT followed
 * by commands that must not run, and RESET comes in the middle of some; some are abandoned:
 * the client closes without reading, and reconnects (its blocks stay with the identity; the ones
 * the abandoned commands touched are freed, what they hold is unknown). Some clients stop
 * reading for a while. At the end every block is freed: no handle, no charged byte and no reply
 * buffer may be left. It found: READ replies sent before the worker filled them, a protocol error
 * overtaking pending replies, a READ seeing the WRITE after it (appendfsync always), and a MAP
 * fault failing at the min watermark with every frame free (see the git log of those fixes).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rng } from "../helpers/rng.js";
import { frame, type ServerProcess, spawnServer, tempDir } from "./helpers.js";
import { RespConn, type RespReply } from "./resp-conn.js";

const CLIENTS = 4;
const PIPELINES = 60;
const PAGE = 4096;
const BUFFERS = ["--reply-buffers", "16", "--reply-buffer-size", "4kb", "--max-bulk", "32kb"];

interface Held {
  kind: "anon" | "map";
  bytes: Uint8Array;
}

/** What a reply must be: a check that throws with the command's description when it is not. */
type Expect = (r: RespReply | undefined) => void;

interface Pipeline {
  frames: Buffer[];
  expects: Expect[];
  /** Handles the pipeline's commands wrote or freed. */
  touched: Set<string>;
  /** Indexes of ALLOC/MAP commands and the kind and size of what they make. */
  makes: Map<number, Held>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function fail(what: string, r: RespReply | undefined): never {
  const shown = r instanceof Buffer ? `${r.length} bytes ${r.subarray(0, 32).toString("hex")}` : String(r);
  throw new Error(`${what}: got ${shown}`);
}

/**
 * A random pipeline over `held` (changed as the commands will change it). Abandoned pipelines
 * make nothing: a handle whose reply is never read would be lost to the model.
 */
function makePipeline(rand: () => number, held: Map<string, Held>, abandon: boolean): Pipeline {
  const pick = (n: number) => Math.floor(rand() * n);
  const p: Pipeline = { frames: [], expects: [], touched: new Set(), makes: new Map() };
  const add = (f: Buffer, e: Expect) => {
    p.frames.push(f);
    p.expects.push(e);
  };
  const n = 1 + pick(20);
  for (let c = 0; c < n; c++) {
    const handles = [...held.keys()];
    const x = rand();
    if (abandon && handles.length === 0) {
      add(frame("PING"), () => {});
      continue;
    }
    if (handles.length === 0 || (x < 0.08 && !abandon)) {
      const map = rand() < 0.4;
      const size = map ? (2 + pick(4)) * PAGE : 1 + pick(20_000);
      p.makes.set(p.frames.length, { kind: map ? "map" : "anon", bytes: new Uint8Array(size) });
      add(map ? frame("MAP", String(size)) : frame("ALLOC", String(size)), (r) => {
        if (!(r instanceof Buffer) || !/^[0-9a-f]+\.[0-9a-f]{32}$/.test(r.toString())) fail("ALLOC/MAP", r);
      });
      continue;
    }
    const h = handles[pick(handles.length)];
    const b = held.get(h)!;
    const size = b.bytes.length;
    const what = `${b.kind} ${h} (${size} bytes)`;
    if (x < 0.12) {
      held.delete(h);
      p.touched.add(h);
      add(frame("FREE", h), (r) => {
        if (!(r instanceof Buffer) || r.toString() !== "OK") fail(`FREE ${what}`, r);
      });
    } else if (x < 0.45) {
      const at = pick(size);
      const len = 1 + pick(Math.min(size - at, 3 * PAGE));
      const data = Buffer.alloc(len);
      for (let k = 0; k < len; k++) data[k] = 1 + pick(255);
      b.bytes.set(data, at);
      p.touched.add(h);
      add(frame("WRITE", h, String(at), data), (r) => {
        if (r !== len) fail(`WRITE ${what} at ${at}, ${len} bytes`, r);
      });
    } else if (x < 0.85) {
      const at = pick(size);
      const len = 1 + pick(Math.min(size - at, 16 * 1024));
      const want = Buffer.from(b.bytes.subarray(at, at + len));
      add(frame("READ", h, String(at), String(len)), (r) => {
        if (!(r instanceof Buffer) || !r.equals(want)) fail(`READ ${what} at ${at}, ${len} bytes`, r);
      });
    } else if (x < 0.9) {
      add(frame("SIZE", h), (r) => {
        if (r !== size) fail(`SIZE ${what}`, r);
      });
    } else if (x < 0.92) {
      add(frame("PING"), (r) => {
        if (!(r instanceof Buffer) || r.toString() !== "PONG") fail("PING", r);
      });
    } else if (x < 0.94) {
      add(frame("RESET"), (r) => {
        if (!(r instanceof Buffer) || r.toString() !== "RESET") fail("RESET", r);
      });
    } else if (x < 0.97) {
      add(frame("SYNC"), (r) => {
        if (!(r instanceof Buffer) || r.toString() !== "OK") fail("SYNC", r);
      });
    } else {
      add(frame("INFO"), (r) => {
        if (!(r instanceof Buffer) || !r.toString().includes("# Mneme")) fail("INFO", r);
      });
    }
  }
  return p;
}

/** Writes `bytes` in 1 to 4 pieces, a few ms apart: commands arrive while earlier ones run. */
async function sendInPieces(conn: RespConn, bytes: Buffer, rand: () => number): Promise<void> {
  const pieces = 1 + Math.floor(rand() * 4);
  let at = 0;
  for (let i = 1; i <= pieces; i++) {
    const end = i === pieces ? bytes.length : at + Math.floor(rand() * (bytes.length - at));
    conn.send(bytes.subarray(at, end));
    at = end;
    if (i < pieces && rand() < 0.5) await sleep(1);
  }
}

async function client(port: number, seed: number): Promise<void> {
  const rand = rng(seed);
  const held = new Map<string, Held>();
  let conn = await RespConn.open(port);
  const reconnect = async (freeing: Iterable<string>) => {
    conn.destroy();
    conn = await RespConn.open(port);
    // What the abandoned commands did to these is unknown: they leave the model (freed, or refused
    // as freed already).
    for (const h of freeing) {
      conn.send(frame("FREE", h));
      const r = await conn.next();
      if (
        !(r instanceof Buffer && r.toString() === "OK") &&
        !(r instanceof Error && /invalid handle/.test(r.message))
      )
        fail(`FREE ${h} after an abandoned pipeline`, r);
      held.delete(h);
    }
  };
  try {
    for (let i = 0; i < PIPELINES; i++) {
      const ending = rand();
      const abandon = ending < 0.1;
      const malformed = !abandon && ending < 0.2;
      const quit = ending >= 0.2 && ending < 0.28;
      const copy = () => new Map([...held].map(([h, b]) => [h, { kind: b.kind, bytes: b.bytes.slice() }]));
      const before = copy();
      const p = makePipeline(rand, held, abandon);
      let tail: Buffer[] = [];
      if (malformed) tail = [Buffer.from("*1\r\n$x\r\n")];
      // After QUIT nothing may run: these commands, over a copy, would change what the model holds.
      if (quit) tail = [frame("QUIT"), ...makePipeline(rand, copy(), true).frames];
      const bytes = Buffer.concat([...p.frames, ...tail]);
      if (abandon) {
        await sendInPieces(conn, bytes, rand);
        await sleep(Math.floor(rand() * 3));
        const gone = new Set([...p.touched].filter((h) => before.has(h)));
        await reconnect(gone);
        continue;
      }
      const slow = rand() < 0.15;
      if (slow) conn.socket.pause();
      await sendInPieces(conn, bytes, rand);
      if (slow) {
        await sleep(5 + Math.floor(rand() * 20));
        conn.socket.resume();
      }
      for (let k = 0; k < p.expects.length; k++) {
        const r = await conn.next();
        p.expects[k](r);
        const made = p.makes.get(k);
        if (made !== undefined) held.set(String(r), made);
      }
      if (malformed || quit) {
        const r = await conn.next();
        if (malformed && (!(r instanceof Error) || !/Protocol error/.test(r.message)))
          fail("after a malformed frame", r);
        if (quit && !(r instanceof Buffer && r.toString() === "OK")) fail("QUIT", r);
        await conn.closed;
        expect(await conn.next(), "nothing after the protocol error or QUIT").toBeUndefined();
        await reconnect([]);
      }
    }
    for (const [h, b] of held) {
      conn.send(Buffer.concat([frame("READ", h, "0", String(b.bytes.length)), frame("FREE", h)]));
      const r = await conn.next();
      if (!(r instanceof Buffer) || !r.equals(Buffer.from(b.bytes))) fail(`final READ of ${h}`, r);
      expect(String(await conn.next())).toBe("OK");
    }
  } finally {
    conn.destroy();
  }
}

/** STATS as a map of name → number. */
async function stats(port: number): Promise<Map<string, number>> {
  const c = await RespConn.open(port);
  try {
    c.send(frame("STATS"));
    const r = (await c.next()) as RespReply[];
    const m = new Map<string, number>();
    for (let i = 0; i < r.length; i += 2) m.set(String(r[i]), Number(r[i + 1]));
    return m;
  } finally {
    c.destroy();
  }
}

/** Every block freed, every reply buffer back: what the server holds once all clients are done. */
async function expectNothingHeld(port: number): Promise<void> {
  let s = await stats(port);
  for (let i = 0; i < 200 && s.get("reply_buffers_in_use") !== 0; i++) {
    await sleep(10);
    s = await stats(port);
  }
  expect(s.get("reply_buffers_in_use"), "reply buffers still in use").toBe(0);
  expect(s.get("handles"), "handles left").toBe(0);
  expect(s.get("identity_handles"), "handles charged to the identity").toBe(0);
  expect(s.get("identity_bytes"), "bytes charged to the identity").toBe(0);
}

for (const [label, extra] of [
  ["no replication", ["--replicate", "off"]],
  ["appendfsync always (ALLOC/FREE/WRITE replies wait for the log)", ["--appendfsync", "always"]],
] as const) {
  describe(`pipelines against a model, a worker thread, 16 reply buffers: ${label}`, () => {
    let srv: ServerProcess;
    beforeAll(async () => {
      const replicate = label.startsWith("no") ? [] : ["--replicate", `file:${tempDir()}`];
      srv = await spawnServer(["--workers", "1", "--map-frames", "6", ...BUFFERS, ...replicate, ...extra]);
    });
    afterAll(async () => {
      await srv.stop();
    });
    for (const seed of [1, 2, 3, 4]) {
      it(`${CLIENTS} clients (seed ${seed}): every reply in order and as the model says; nothing left held`, async () => {
        await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(srv.port, seed * 100 + i)));
        await expectNothingHeld(srv.port);
        expect(srv.child.exitCode, srv.output()).toBeNull();
      });
    }
  });
}
