/**
 * `mneme serve` refusing to start: a taken port says which of the two ports it is, a host that
 * does not resolve names it, a user given twice is refused rather than one password winning.
 */
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, it } from "vitest";
import { freePort, tempDir } from "../service/helpers.js";
import { expectOneLineError, mneme } from "./helpers.js";

let blocker: Server;
let taken: number;

beforeAll(async () => {
  taken = await freePort();
  blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(taken, "127.0.0.1", () => resolve()));
});

afterAll(() => {
  blocker.close();
});

describe("serve cannot listen", () => {
  it("the RESP port is taken: named as the RESP port, with the system's reason", () => {
    expectOneLineError(
      mneme(["serve", "--port", String(taken), "--http-port", "0", "--data", tempDir()]),
      new RegExp(
        `^mneme: cannot serve RESP on 127\\.0\\.0\\.1:${taken}: EADDRINUSE: address already in use$`,
      ),
    );
  });

  it("the HTTP port is taken: named as the HTTP port", () => {
    expectOneLineError(
      mneme(["serve", "--port", "0", "--http-port", String(taken), "--data", tempDir()]),
      new RegExp(
        `^mneme: cannot serve HTTP on 127\\.0\\.0\\.1:${taken}: EADDRINUSE: address already in use$`,
      ),
    );
  });

  it("a host that does not resolve", () => {
    expectOneLineError(
      mneme(["serve", "--host", "999.1.1.1", "--port", "0", "--no-http", "--data", tempDir()]),
      /^mneme: cannot serve RESP on 999\.1\.1\.1:0: getaddrinfo E[A-Z_]+ 999\.1\.1\.1$/,
    );
  });
});

describe("serve --user", () => {
  it("the same user twice is an error, not the last password silently winning", () => {
    expectOneLineError(
      mneme([
        "serve",
        "--port",
        "0",
        "--no-http",
        "--user",
        "alice:one",
        "--user",
        "alice:two",
        "--data",
        tempDir(),
      ]),
      /^mneme: --user alice is given twice \(one password per user\)$/,
    );
  });
});
