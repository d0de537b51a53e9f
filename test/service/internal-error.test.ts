/**
 * A command that fails by a fault of the server itself (a bug: anything but a MnemeError) is
 * answered with an error and reported as an "error" event; the server, the connection and every
 * other client go on. Before, the exception left the socket's data handler and ended the process.
 */
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { COMMANDS } from "../../src/service/commands.js";
import type { Service } from "../../src/service/server.js";
import { startService } from "./helpers.js";

let svc: Service | undefined;
const echo = COMMANDS.echo.run;
/** The table's entry, writable here: the test puts a faulty command in its place. */
const spec = COMMANDS.echo as { run: typeof echo };

afterEach(async () => {
  spec.run = echo;
  await svc?.close();
  svc = undefined;
});

describe("a fault inside a command", () => {
  it("is an error reply and an 'error' event; the server and the other clients go on", async () => {
    svc = await startService();
    const a = new Redis({ port: svc.port });
    const b = new Redis({ port: svc.port });
    try {
      const h = String(await b.call("ALLOC", 64));
      await b.call("WRITE", h, 0, "still here");
      spec.run = () => {
        throw new TypeError("Cannot read properties of undefined (reading 'x')");
      };
      // Pipelined: the commands around the faulty one are answered in order.
      const replies = await a.pipeline().ping().call("ECHO", "hi").ping().exec();
      expect(replies?.[0]).toEqual([null, "PONG"]);
      expect(String(replies?.[1][0])).toMatch(
        /^ReplyError: ERR internal error in 'echo': TypeError: Cannot read properties of undefined/,
      );
      expect(replies?.[2]).toEqual([null, "PONG"]);
      expect(svc.events.count("error")).toBe(1);
      expect(svc.events.recent().at(-1)?.message).toContain("internal error in echo");
      expect(String(await b.call("INFO", "stats"))).toContain("internal_errors:1\r\n");
      expect(String(await b.call("READ", h, 0, 10))).toBe("still here");
      spec.run = echo;
      expect(String(await a.call("ECHO", "back"))).toBe("back");
    } finally {
      a.disconnect();
      b.disconnect();
    }
  });
});
