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

describe("serve --host and --data must not be empty", () => {
  it("an empty MNEME_HOST or --host bound every interface; now refused", () => {
    // ":PORT" was the whole address in the startup line: Node takes an empty host as any address.
    const data = tempDir();
    expectOneLineError(
      mneme(["serve", "--port", "0", "--no-http", "--data", data], { MNEME_HOST: "" }),
      /^mneme: invalid --host "": must not be empty$/,
    );
    expectOneLineError(
      mneme(["serve", "--port", "0", "--no-http", "--host", " ", "--data", data]),
      /^mneme: invalid --host " ": must not be empty$/,
    );
  });

  it("an empty --data (the working directory, then a bare ENOENT from the log) is refused", () => {
    expectOneLineError(
      mneme(["serve", "--port", "0", "--no-http", "--data", ""]),
      /^mneme: invalid --data "": must not be empty$/,
    );
  });
});

describe("serve --memory", () => {
  it("a pool too small for its own structures names --memory, not a size the operator never gave", () => {
    for (const size of ["64kb", "128kb", "192kb"]) {
      expectOneLineError(
        mneme([
          "serve",
          "--port",
          "0",
          "--no-http",
          "--replicate",
          "off",
          "--memory",
          size,
          "--data",
          tempDir(),
        ]),
        /^mneme: invalid --memory \d+: too small for the pool and its own structures \(/,
      );
    }
  });
});

describe("serve --requirepass", () => {
  it("an empty password (MNEME_REQUIREPASS=) is refused rather than locking out clients that send none", () => {
    expectOneLineError(
      mneme(["serve", "--port", "0", "--no-http", "--data", tempDir()], { MNEME_REQUIREPASS: "" }),
      /^mneme: invalid --requirepass "": must not be empty \(leave it out for none\)$/,
    );
  });

  it("a user with an empty password (--user alice:$UNSET) is refused, not a user anyone can log in as", () => {
    expectOneLineError(
      mneme(["serve", "--port", "0", "--no-http", "--data", tempDir(), "--user", "alice:"]),
      /^mneme: invalid password of user alice "": must not be empty$/,
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
