/**
 * Before a client has authenticated (--requirepass), a request may be at most 10 words of at most
 * 16 KiB each, with Redis's texts: without that bound, any client that could connect made the
 * server hold up to --max-bulk + 1 MiB per connection (170 GB from 10,000 of them) before proving
 * anything. The words after an AUTH that succeeds, in the same pipeline, get the full limits
 * again; those after one that fails, or after RESET, do not. Texts checked against redis-server 7.
 */
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { frame, raw, type ServerProcess, spawnServer } from "./helpers.js";

let locked: ServerProcess;
let open: ServerProcess;

beforeAll(async () => {
  [locked, open] = await Promise.all([
    spawnServer(["--requirepass", "pw", "--user", "alice:apw"]),
    spawnServer(),
  ]);
});

afterAll(async () => {
  await Promise.all([locked?.stop(), open?.stop()]);
});

const BULK_ERROR = "-ERR Protocol error: unauthenticated bulk length\r\n";
const big = (n: number) => frame("ECHO", Buffer.alloc(n, 121));

async function send(server: ServerProcess, parts: Buffer[], until?: string) {
  return raw(server.port, parts, until === undefined ? undefined : (t) => t.endsWith(until), 20_000);
}

describe("limits of a client that has not authenticated", () => {
  it("more than 10 words, or a bulk over 16 KiB, is a protocol error and the connection closes", async () => {
    expect(await send(locked, [Buffer.from("*11\r\n")])).toEqual({
      text: "-ERR Protocol error: unauthenticated multibulk length\r\n",
      closed: true,
    });
    expect(await send(locked, [Buffer.from("*2\r\n$4\r\nECHO\r\n$16385\r\n")])).toEqual({
      text: BULK_ERROR,
      closed: true,
    });
    // At the bound: an ordinary command, refused for want of AUTH.
    const at = await send(
      locked,
      [big(16384), frame("PING")],
      "-NOAUTH Authentication required.\r\n".repeat(2),
    );
    expect(at.text).toBe("-NOAUTH Authentication required.\r\n".repeat(2));
  });

  it("an AUTH that succeeds lifts them for the rest of its pipeline; one that fails does not", async () => {
    const ok = await send(locked, [frame("AUTH", "alice", "apw"), big(1 << 20), frame("PING")], "+PONG\r\n");
    expect(ok.text).toBe(`+OK\r\n$${1 << 20}\r\n${"y".repeat(1 << 20)}\r\n+PONG\r\n`);
    const failed = await send(locked, [frame("AUTH", "wrong"), big(1 << 20)]);
    expect(failed).toEqual({
      text: `-WRONGPASS invalid username-password pair or user is disabled.\r\n${BULK_ERROR}`,
      closed: true,
    });
    const hello = await send(
      locked,
      [frame("HELLO", "3", "AUTH", "alice", "apw"), big(100_000), frame("PING")],
      "+PONG\r\n",
    );
    expect(hello.text).toMatch(/^%7\r\n.*\$100000\r\ny{100000}\r\n\+PONG\r\n$/s);
  });

  it("an AUTH that fails while a frame is still arriving: the frame refused once, the server unharmed", async () => {
    // The AUTH is split over two writes, the first answered before the second is sent, so the
    // second brings the end of the AUTH and the start of the frame together: the frame's header
    // passed while the AUTH was pending and is checked again once it failed. Checking it again
    // after its own refusal recursed until the stack overflowed and ended the server.
    const auth = frame("AUTH", "wrong");
    for (let round = 0; round < 3; round++) {
      const got = await new Promise<string>((resolve, reject) => {
        const s = connect(locked.port, "127.0.0.1");
        let text = "";
        s.on("data", (d) => {
          const first = text === "";
          text += d.toString("latin1");
          if (first) s.write(Buffer.concat([auth.subarray(5), big(1 << 20)]));
        });
        s.on("error", () => {});
        s.on("close", () => resolve(text));
        s.on("connect", () => s.write(Buffer.concat([frame("PING"), auth.subarray(0, 5)])));
        setTimeout(() => reject(new Error(`no close; got ${JSON.stringify(text)}`)), 20_000).unref();
      });
      expect(got).toBe(
        `-NOAUTH Authentication required.\r\n-WRONGPASS invalid username-password pair or user is disabled.\r\n${BULK_ERROR}`,
      );
    }
    expect((await send(locked, [frame("AUTH", "pw"), frame("PING")], "+PONG\r\n")).text).toBe(
      "+OK\r\n+PONG\r\n",
    );
  });

  it("RESET brings them back; without --requirepass there are none", async () => {
    const reset = await send(locked, [
      frame("AUTH", "pw"),
      frame("PING"),
      // The RESET runs before the big request arrives in full.
      Buffer.concat([frame("RESET"), Buffer.from("*2\r\n$4\r\nECHO\r\n$1048576\r\n")]),
    ]);
    expect(reset).toEqual({ text: `+OK\r\n+PONG\r\n+RESET\r\n${BULK_ERROR}`, closed: true });
    const free = await send(
      open,
      [frame("CLIENT", "SETNAME", "x", "y", "z", "1", "2", "3", "4", "5", "6"), big(1 << 20), frame("PING")],
      "+PONG\r\n",
    );
    expect(free.text).toBe(
      `-ERR wrong number of arguments for 'client|setname' command\r\n$${1 << 20}\r\n${"y".repeat(1 << 20)}\r\n+PONG\r\n`,
    );
  });
});
