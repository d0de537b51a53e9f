/**
 * A long pipeline whose commands wait (here: WRITEs whose replies wait for the log under
 * appendfsync always, as from `redis-cli --pipe` of a big file) is read no faster than it runs:
 * the commands parsed but not yet run stay within what one read of the socket brings, so
 * --max-pipeline does not end a client that sends a long stream. It did: the server read on while
 * the first WRITE waited for its fsync, queued every command that came meanwhile and closed the
 * connection with "more than N commands pipelined".
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { frame, type ServerProcess, spawnServer } from "./helpers.js";
import { RespConn } from "./resp-conn.js";

let server: ServerProcess;

beforeAll(async () => {
  // A socket read brings at most 64 KiB: 16 of these 4 KiB WRITEs, under the limit of 20.
  server = await spawnServer(["--appendfsync", "always", "--max-pipeline", "20"]);
});

afterAll(async () => {
  await server.stop();
});

describe("a long pipeline of WRITEs waiting for the log", () => {
  it("runs whole, every reply in order, the connection open", async () => {
    const c = await RespConn.open(server.port);
    try {
      c.send(frame("ALLOC", "4096"));
      const h = (await c.next()) as Buffer;
      const count = 400;
      c.send(
        Buffer.concat(
          Array.from({ length: count }, (_, i) => frame("WRITE", h, "0", Buffer.alloc(4096, i % 256))),
        ),
      );
      const replies = [];
      for (let i = 0; i < count; i++) replies.push(await c.next());
      expect(replies.filter((r) => r !== 4096)).toEqual([]);
      c.send(frame("READ", h, "4095", "1"));
      expect(await c.next()).toEqual(Buffer.from([(count - 1) % 256]));
    } finally {
      c.destroy();
    }
  });
});
