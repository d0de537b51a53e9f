/**
 * `--workers 0` and `--workers N` must answer the same command stream with the same bytes: the
 * worker threads only take the READ/WRITE copies off the I/O thread. A seeded random stream of
 * pipelines (ALLOC, FREE, WRITE, READ, SIZE, PING, ECHO with valid, freed and unknown handles,
 * offsets past the block, a handle quota that is hit) goes to one server of each, in the same
 * pieces; replies are compared byte for byte once each handle is replaced by its rank. It found:
 * a FREE pipelined after a READ of its block (pinned by the worker job) kept the identity's
 * quota and the memory until the job was back, so the ALLOC after it was refused.
 */
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rng } from "../helpers/rng.js";
import { frame, type ServerProcess, spawnServer, startService } from "./helpers.js";

const HANDLE = /\$\d+\r\n([0-9a-f]+\.[0-9a-f]{32})\r\n/g;

/** A raw connection that collects replies until a given number of top-level replies is in. */
class Wire {
  private buf = Buffer.alloc(0);
  private wake: (() => void) | null = null;
  readonly handles: string[] = [];
  private constructor(private readonly socket: Socket) {
    socket.on("data", (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake?.();
    });
  }

  static async open(port: number, login?: string): Promise<Wire> {
    const s = connect(port, "127.0.0.1");
    await new Promise((resolve, reject) => s.once("connect", resolve).once("error", reject));
    const wire = new Wire(s);
    if (login !== undefined) expect(await wire.send(frame("AUTH", login, "pw"), 1)).toBe("+OK\r\n");
    return wire;
  }

  /** Sends a pipeline; resolves with its `count` replies as text, each handle as <H rank>. */
  async send(payload: Buffer, count: number): Promise<string> {
    this.buf = Buffer.alloc(0);
    this.socket.write(payload);
    await new Promise<void>((resolve) => {
      this.wake = () => {
        if (replies(this.buf) >= count) resolve();
      };
      this.wake();
    });
    return this.buf.toString("latin1").replace(HANDLE, (_, h: string) => {
      if (!this.handles.includes(h)) this.handles.push(h);
      return `<H${this.handles.indexOf(h)}>`;
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** How many complete top-level RESP2 replies `b` holds. */
function replies(b: Buffer): number {
  let p = 0;
  const one = (): boolean => {
    const nl = b.indexOf(10, p);
    if (nl < 0) return false;
    const type = b[p];
    const n = Number(b.toString("latin1", p + 1, nl - 1));
    p = nl + 1;
    if (type === 36 && n >= 0) {
      if (p + n + 2 > b.length) return false;
      p += n + 2;
    }
    if (type === 42) for (let i = 0; i < n; i++) if (!one()) return false;
    return true;
  };
  let count = 0;
  while (p < b.length && one()) count++;
  return count;
}

const SEEDS = [1, 2, 3, 4];
const USERS = SEEDS.flatMap((seed) => ["--user", `s${seed}:pw`]);
const COMMON = ["--replicate", "off", "--reply-buffers", "16", "--reply-buffer-size", "4kb"];

describe("--workers 0 and --workers 1 answer alike", () => {
  const servers: ServerProcess[] = [];
  const wires: Wire[] = [];
  beforeAll(async () => {
    const args = [...COMMON, "--max-bulk", "16kb", "--quota-handles", "8", ...USERS];
    servers.push(
      ...(await Promise.all([
        spawnServer(["--workers", "0", ...args]),
        spawnServer(["--workers", "1", ...args]),
      ])),
    );
  });
  afterAll(async () => {
    for (const w of wires) w.close();
    await Promise.all(servers.map((s) => s.stop()));
  });
  const open = async (i: number, login?: string) => {
    const wire = await Wire.open(servers[i].port, login);
    wires.push(wire);
    return wire;
  };

  it("a FREE pipelined after a READ or WRITE of its block gives the quota and the memory to the next ALLOC", async () => {
    for (const workers of [0, 1]) {
      const wire = await open(workers);
      // 24 MiB of the 32 MiB pool and the 8th handle: the ALLOC after the FREE needs both back.
      const big = String(24 * 1024 * 1024);
      let out = await wire.send(Buffer.concat(Array.from({ length: 7 }, () => frame("ALLOC", "1"))), 7);
      out = await wire.send(frame("ALLOC", big), 1);
      expect(out).toBe("<H7>");
      const h = wire.handles[7];
      out = await wire.send(
        Buffer.concat([
          frame("WRITE", h, "0", "ab"),
          frame("READ", h, "0", "2"),
          frame("FREE", h),
          frame("ALLOC", big),
        ]),
        4,
      );
      expect(out, `workers ${workers}`).toBe(":2\r\n$2\r\nab\r\n+OK\r\n<H8>");
    }
  });

  for (const seed of SEEDS) {
    it(`a random stream of pipelines, seed ${seed}`, async () => {
      const [a, b] = [await open(0, `s${seed}`), await open(1, `s${seed}`)];
      const random = rng(seed);
      const int = (n: number) => Math.floor(random() * n);
      for (let round = 0; round < 80; round++) {
        const words: (string | number | Buffer)[][] = [];
        const n = 1 + int(30);
        for (let i = 0; i < n; i++) {
          const h = int(a.handles.length + 2);
          const pick = int(9);
          if (pick === 0)
            words.push(["ALLOC", 1 + int(20000), ...(int(4) === 0 ? ["ALIGN", 1 << int(13)] : [])]);
          else if (pick === 1) words.push(["FREE", h]);
          else if (pick <= 3) words.push(["WRITE", h, int(400), Buffer.alloc(int(5000), 65 + int(26))]);
          else if (pick <= 5) words.push(["READ", h, int(400), int(6000)]);
          else if (pick === 6) words.push(["SIZE", h]);
          else if (pick === 7) words.push(["PING", "p".repeat(int(5000))]);
          else words.push(["ECHO", "e".repeat(int(9000))]);
        }
        // Handle arguments are ranks, so each server gets its own handle of the same rank.
        const build = (wire: Wire) =>
          Buffer.concat(
            words.map((w) =>
              frame(
                ...w.map((x, j) =>
                  Buffer.isBuffer(x)
                    ? x
                    : j === 1 && typeof x === "number" && w[0] !== "ALLOC"
                      ? (wire.handles[x] ?? "nope")
                      : String(x),
                ),
              ),
            ),
          );
        const [ra, rb] = await Promise.all([a.send(build(a), n), b.send(build(b), n)]);
        expect(rb, `round ${round}`).toBe(ra);
        const usage = async (wire: Wire) =>
          (await wire.send(frame("STATS"), 1)).match(
            /identity_bytes\r\n:\d+\r\n\$16\r\nidentity_handles\r\n:\d+/,
          )?.[0];
        expect(await usage(b), `round ${round}`).toBe(await usage(a));
      }
    });
  }
});

describe("a FREE of a block a worker job still uses", () => {
  it("refunds the identity's quota at once; the memory goes back when the job is done", async () => {
    const svc = await startService({ quotaHandles: 1 });
    try {
      const wire = await Wire.open(svc.port);
      await wire.send(frame("ALLOC", "65536"), 1);
      const h = wire.handles[0];
      const cap = svc.caps.find(h)!;
      // As a job of another connection of the identity pins it (Job.read/write).
      cap.inflight++;
      const free = svc.pool.stats().free;
      expect(await wire.send(Buffer.concat([frame("FREE", h), frame("ALLOC", "65536")]), 2)).toBe(
        "+OK\r\n<H1>",
      );
      expect(svc.quotas.of("default").handles).toBe(1);
      const during = svc.pool.stats().free;
      svc.unpin([cap]);
      expect(svc.pool.stats().free).toBeGreaterThan(during);
      expect(during).toBeLessThanOrEqual(free);
      wire.close();
    } finally {
      await svc.close();
    }
  });
});
