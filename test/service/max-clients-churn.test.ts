/**
 * --max-clients at its limit, with clients coming and going (a real `mneme serve` process): every
 * connection past the limit is told "-ERR max number of clients reached", however many came
 * before it or at once, and its socket is closed once the peer has gone; once the held clients
 * leave, new ones are served. A refused socket that was never read stayed open for good after its
 * peer left, and past 64 such sockets (or 64 refused at once) Node's maxConnections cut every new
 * connection without a word, including clients within the limit.
 */
import { existsSync, readdirSync, readlinkSync } from "node:fs";
import type { Socket } from "node:net";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { frame, raw, type ServerProcess, spawnServer } from "./helpers.js";

let server: ServerProcess;

beforeAll(async () => {
  server = await spawnServer(["--max-clients", "2"]);
});

afterAll(async () => {
  await server.stop();
});

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => resolve(s));
    s.once("error", reject);
  });
}

const line = (t: string) => t.includes("\r\n");
const REFUSED = "-ERR max number of clients reached\r\n";

/** The server process's open sockets (Linux /proc), or -1 where that is not readable. */
function openSockets(pid: number): number {
  const dir = `/proc/${pid}/fd`;
  if (!existsSync(dir)) return -1;
  let n = 0;
  for (const fd of readdirSync(dir)) {
    try {
      if (readlinkSync(`${dir}/${fd}`).startsWith("socket:")) n++;
    } catch {
      // Closed while listed.
    }
  }
  return n;
}

describe("--max-clients with clients coming and going", () => {
  it("each of 150 refused clients, and of 300 at once, gets Redis's error and is closed; then new clients are served", async () => {
    const held = [await open(server.port), await open(server.port)];
    // Both are registered once each has its answer.
    for (const s of held) {
      s.write(frame("PING"));
      await new Promise((resolve) => s.once("data", resolve));
    }
    const before = openSockets(server.child.pid!);
    for (let i = 0; i < 150; i++) {
      // Half of them send a command first, as redis-benchmark's clients do.
      const got = await raw(server.port, i % 2 === 0 ? [] : [frame("PING")], line, 20_000);
      expect({ i, text: got.text }).toEqual({ i, text: REFUSED });
    }
    // A burst: 300 at once past the limit, every one told why.
    const burst = await Promise.all(
      Array.from({ length: 300 }, () => raw(server.port, [frame("PING")], line, 20_000)),
    );
    expect(burst.filter((g) => g.text !== REFUSED)).toEqual([]);
    // The refused sockets are closed as their peers go (polled: the server sees the closes in
    // its own time).
    if (before >= 0) {
      const until = Date.now() + 20_000;
      while (openSockets(server.child.pid!) > before && Date.now() < until)
        await new Promise((r) => setTimeout(r, 50));
      expect(openSockets(server.child.pid!)).toBeLessThanOrEqual(before);
    }
    for (const s of held) s.destroy();
    // The held clients' places come free once the server has seen them go.
    const deadline = Date.now() + 20_000;
    let text = "";
    while (Date.now() < deadline) {
      text = (await raw(server.port, [frame("PING", "back")], line, 20_000)).text;
      if (text !== REFUSED) break;
    }
    expect(text).toBe("$4\r\nback\r\n");
    const info = (await raw(server.port, [frame("INFO", "stats")], (t) => t.includes("\r\n\r\n"), 20_000))
      .text;
    expect(Number(/rejected_connections:(\d+)\r\n/.exec(info)?.[1])).toBeGreaterThanOrEqual(450);
  });
});
