/**
 * Numbers without an upper bound, missing files and arguments, and a stop with dashboards
 * connected: each a one-line error and exit 1 (or a prompt clean exit), through the real CLI
 * (node dist/cli/main.js; run `npm run build` first).
 */
import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { subscribe } from "../observe/helpers.js";
import { freePort, spawnServer, tempDir } from "../service/helpers.js";
import { expectOneLineError, mneme } from "./helpers.js";

describe("bounds and missing things", () => {
  // "nosuch" would fail the filter check next: an unbounded number gets past its own check
  // and is reported as a missing benchmark instead, without any benchmark running.
  it("bench: --runs and --repeat have an upper bound, from the flag or the environment", () => {
    expectOneLineError(
      mneme(["bench", "--repeat", "99999999999999999999", "nosuch"]),
      /--repeat: .*1 to 100/,
    );
    expectOneLineError(mneme(["bench", "--repeat", "101", "nosuch"]), /--repeat: "101"/);
    expectOneLineError(mneme(["bench", "--runs", "1001", "nosuch"]), /--runs: "1001" .*5 to 1000/);
    expectOneLineError(mneme(["bench", "nosuch"], { MNEME_REPEAT: "1000000" }), /--repeat: "1000000"/);
    expect(mneme(["bench", "--help"]).stdout.replace(/\s+/g, " ")).toMatch(/--repeat <n> .*\(1 to 100\)/);
  });

  it("serve: a setting the service refuses is named by its flag", () => {
    // Regression (fixed): the service's words named its configuration field ('invalid
    // replyBuffers 0'), not the flag the operator typed.
    expectOneLineError(mneme(["serve", "--reply-buffers", "0"]), /invalid --reply-buffers 0: .*4 to/);
    expectOneLineError(mneme(["serve", "--max-clients", "0"]), /invalid --max-clients 0/);
    expectOneLineError(
      mneme(["serve", "--reply-buffers", "0"], { MNEME_REPLY_BUFFERS: "0" }),
      /invalid --reply-buffers 0/,
    );
  });

  it("stats: a --timeout past what a timer holds is refused, not truncated with a warning", async () => {
    const port = String(await freePort());
    expectOneLineError(
      mneme(["stats", "--port", port, "--timeout", "99999999999"]),
      /--timeout: "99999999999"/,
    );
    expectOneLineError(mneme(["stats", "--port", port, "--timeout", "-5"]), /unknown option '-5'|--timeout/);
    expectOneLineError(mneme(["stats", "--port", port, "--timeout", "NaN"]), /--timeout: "NaN"/);
    expect(mneme(["stats", "--help"]).stdout.replace(/\s+/g, " ")).toMatch(
      /--timeout <ms> .*\(1 to 3600000\)/,
    );
  });

  it("missing and wrong paths: inspect, replay and serve's --data", () => {
    const dir = tempDir();
    expectOneLineError(mneme(["inspect", `${dir}/none`]), /does not exist or is not a directory/);
    expectOneLineError(mneme(["inspect", dir]), /holds no mneme replication log/);
    expectOneLineError(mneme(["inspect"]), /missing required argument 'dir'/);
    expectOneLineError(mneme(["replay", "--frames", "10", `${dir}/none.txt`]), /trace .*none\.txt: ENOENT/);
    expectOneLineError(mneme(["replay", "--frames", "10", dir]), /EISDIR/);
    expectOneLineError(mneme(["replay", "--frames", "1e3", "x"]), /must be a positive integer/);
    expectOneLineError(mneme(["replay", "--frames", String(2 ** 40), "/dev/null"]), /frames.*2\^30/);
    expectOneLineError(mneme(["serve", "--port", "0", "--data", "/etc/hostname"]), /EEXIST|not a directory/);
  });

  it("serve stops at once on SIGTERM with dashboards connected, one of them never reading", async () => {
    const server = await spawnServer();
    try {
      // The dashboard's line follows the RESP one.
      let m: RegExpExecArray | null = null;
      for (let i = 0; i < 100 && m === null; i++) {
        m = /dashboard on http:\/\/127\.0\.0\.1:(\d+)\//.exec(server.output());
        if (m === null) await sleep(50);
      }
      expect(m, server.output()).not.toBeNull();
      const httpPort = Number(m?.[1]);
      const subs = await Promise.all(
        Array.from({ length: 5 }, () => subscribe(`http://127.0.0.1:${httpPort}/events`)),
      );
      await Promise.all(subs.map((s) => s.next((msg) => msg.event === "stats")));
      const stalled = connect(httpPort, "127.0.0.1");
      stalled.on("error", () => {});
      stalled.pause();
      stalled.write("GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
      const started = Date.now();
      expect(await server.stop("SIGTERM")).toBe(0);
      expect(Date.now() - started).toBeLessThan(5000);
      for (const s of subs) s.close();
      stalled.destroy();
    } finally {
      await server.stop("SIGKILL");
    }
  });
});
