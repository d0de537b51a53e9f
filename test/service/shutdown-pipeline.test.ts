/**
 * `mneme serve` stopped (SIGTERM, SIGINT) while a client that reads slowly is in the middle of a
 * long pipeline of WRITEs and READs of 4000 bytes: it gets whole replies, in order, then the
 * close. The server used to destroy every socket at once: the reply being sent was cut in half,
 * and a connection with unread input was reset.
 */
import { connect, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { frame, spawnServer } from "./helpers.js";

const SIZE = 4000;

/** Whole replies (":4000" and "$4000:<bytes right>"), and how many bytes of an unfinished one follow. */
function parse(b: Buffer): { replies: string[]; rest: number } {
  const replies: string[] = [];
  let i = 0;
  while (i < b.length) {
    const e = b.indexOf("\r\n", i);
    if (e < 0) break;
    const line = b.toString("latin1", i, e);
    if (line[0] === "$") {
      const end = e + 2 + Number(line.slice(1)) + 2;
      if (end > b.length) break;
      replies.push(`${line}:${b.toString("latin1", e + 2, end - 2) === "a".repeat(SIZE)}`);
      i = end;
    } else {
      replies.push(line);
      i = e + 2;
    }
  }
  return { replies, rest: b.length - i };
}

/**
 * A client sending WRITE, READ, WRITE, ... for as long as the server reads, and reading slowly:
 * it joins everything received so far on each chunk (as a naive client does).
 */
function pump(port: number, handle: string) {
  const w = frame("WRITE", handle, "0", Buffer.alloc(SIZE, 97));
  const r = frame("READ", handle, "0", String(SIZE));
  let got = Buffer.alloc(0);
  const s: Socket = connect(port, "127.0.0.1");
  let sent = 0;
  let stop = false;
  const more = () => {
    while (!stop) {
      if (!s.write(sent++ % 2 === 0 ? w : r)) {
        s.once("drain", more);
        return;
      }
    }
  };
  s.on("connect", more);
  s.on("data", (d) => {
    got = Buffer.concat([got, d]);
  });
  s.on("error", () => {});
  const done = new Promise<Buffer>((resolve) =>
    s.once("close", () => {
      stop = true;
      resolve(got);
    }),
  );
  return { received: () => got.length, done };
}

async function handleOf(port: number): Promise<string> {
  const s = connect(port, "127.0.0.1");
  s.write(frame("ALLOC", "4096"));
  const text = await new Promise<string>((resolve) => {
    let t = "";
    s.on("data", (d) => {
      t += d;
      if (/^\$\d+\r\n[^\r]+\r\n$/.test(t)) resolve(t);
    });
  });
  s.destroy();
  return text.split("\r\n")[1];
}

describe.each([
  ["SIGTERM", "0"],
  ["SIGINT", "1"],
] as const)("%s with --workers %s while a slow reader pipelines", (signal, workers) => {
  // Where the cut fell was a matter of timing: a few rounds, so that one of them meets it.
  it.each([1, 2, 3])("round %i: whole replies in order, then the close; the server exits 0", async () => {
    const server = await spawnServer(["--workers", workers]);
    const client = pump(server.port, await handleOf(server.port));
    // Signalled once replies are coming (polled, no fixed wait).
    while (client.received() < 1 << 20) await new Promise((r) => setTimeout(r, 10));
    const exit = server.stop(signal);
    const bytes = await client.done;
    expect(await exit).toBe(0);
    const { replies, rest } = parse(bytes);
    expect(rest).toBe(0);
    replies.forEach((reply, i) => {
      expect({ i, reply }).toEqual({ i, reply: i % 2 === 0 ? `:${SIZE}` : `$${SIZE}:true` });
    });
  });
});
