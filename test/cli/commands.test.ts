import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { colourEnabled, paint } from "../../src/cli/colour.js";
import { freePort, hasProgram, type ServerProcess, spawnServer, tempDir } from "../service/helpers.js";
import { ESC, inTerminal, mneme, mnemeAsync } from "./helpers.js";

describe("--help on every command, with examples", () => {
  for (const args of [[], ["serve"], ["stats"], ["bench"], ["replay"], ["inspect"]]) {
    it(`mneme ${args.join(" ")} --help`, () => {
      const r = mneme([...args, "--help"]);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^Usage: mneme/);
      expect(r.stdout).toContain("Examples:");
      expect(r.stdout).toMatch(/\n {2}mneme /);
      expect(r.stdout).not.toContain(ESC);
    });
  }

  it("serve's help names the environment variables and the config file", () => {
    // Whitespace folded: commander wraps the help to the terminal's width.
    const help = mneme(["serve", "--help"]).stdout.replace(/\s+/g, " ");
    expect(help).toContain("env: MNEME_PORT)");
    expect(help).toContain("env: MNEME_HTTP_PORT)");
    expect(help).toContain("--config <file>");
    expect(help).toContain("--no-http");
  });
});

describe("colour", () => {
  it("only on a terminal, never with NO_COLOR", () => {
    expect(colourEnabled({ isTTY: true }, {})).toBe(true);
    expect(colourEnabled({ isTTY: false }, {})).toBe(false);
    expect(colourEnabled({}, {})).toBe(false);
    expect(colourEnabled({ isTTY: true }, { NO_COLOR: "1" })).toBe(false);
    // no-color.org: an empty NO_COLOR does not count.
    expect(colourEnabled({ isTTY: true }, { NO_COLOR: "" })).toBe(true);
    expect(paint({ isTTY: true }, {}).red("x")).toBe(`${ESC}31mx${ESC}39m`);
    expect(paint({ isTTY: true }, { NO_COLOR: "1" }).red("x")).toBe("x");
  });

  it.skipIf(!hasProgram("script"))(
    "a real terminal gets colour in help and errors; NO_COLOR takes it away",
    () => {
      const help = inTerminal("node dist/cli/main.js serve --help");
      expect(help).toContain(ESC);
      const err = inTerminal("node dist/cli/main.js serve --port abc");
      expect(err).toContain(`${ESC}31mmneme:`);
      expect(inTerminal("node dist/cli/main.js serve --help", { NO_COLOR: "1" })).not.toContain(ESC);
      expect(inTerminal("node dist/cli/main.js serve --port abc", { NO_COLOR: "1" })).not.toContain(ESC);
    },
  );
});

describe("options: flag > environment > config file > default", () => {
  let srv: ServerProcess | undefined;
  afterAll(async () => {
    await srv?.stop();
  });

  it("serve takes each option from the strongest source that has it", async () => {
    const [filePort, envPort, fileHttp, flagHttp] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const dir = tempDir();
    const config = join(dir, "mneme.json");
    writeFileSync(
      config,
      JSON.stringify({
        port: filePort,
        "http-port": fileHttp,
        memory: "24mb",
        replyBuffers: 1100,
        user: ["ann:pw"],
      }),
    );
    // spawnServer passes --port and --http-port itself; run the command directly instead.
    const { spawn } = await import("node:child_process");
    const child = spawn(
      process.execPath,
      ["dist/cli/main.js", "serve", "--config", config, "--http-port", String(flagHttp), "--data", dir],
      // MNEME_HTTP_PORT loses to the flag; MNEME_PORT beats the file.
      {
        env: {
          ...process.env,
          MNEME_PORT: String(envPort),
          MNEME_HTTP_PORT: String(filePort),
          MNEME_WORKERS: "1",
        },
      },
    );
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      out += d;
    });
    srv = {
      port: envPort,
      child,
      output: () => out,
      stop: () =>
        new Promise((resolve) => {
          if (child.exitCode !== null) return resolve(child.exitCode);
          child.once("exit", (code) => resolve(code));
          child.kill("SIGTERM");
        }),
    };
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no start: ${out}`)), 15_000);
      child.stdout.on("data", () => {
        if (out.includes("dashboard on")) {
          clearTimeout(t);
          resolve();
        }
      });
      child.once("exit", () => reject(new Error(out)));
    });
    // environment beats the file (port), the flag beats the environment and the file (http port),
    // the file beats the default (memory, reply buffers, users).
    expect(out).toContain(`serving RESP on 127.0.0.1:${envPort}`);
    expect(out).toContain(`dashboard on http://127.0.0.1:${flagHttp}/`);
    expect(out).toContain("pool 25165824 bytes");
    expect(out).toContain("workers 1");
    expect(out).toContain("reply buffers 1100 x");
    const redis = new Redis({ port: envPort, lazyConnect: true });
    await redis.connect();
    expect(await redis.call("AUTH", "ann", "pw")).toBe("OK");
    redis.disconnect();
    expect((await fetch(`http://127.0.0.1:${flagHttp}/metrics`)).status).toBe(200);
  });

  it("--no-http (or http: false in the file) serves no dashboard", async () => {
    const dir = tempDir();
    const config = join(dir, "c.json");
    writeFileSync(config, JSON.stringify({ http: false }));
    for (const args of [["--no-http"], ["--config", config]]) {
      const s = await spawnServer(args);
      try {
        expect(s.output()).not.toContain("dashboard on");
        const r = await mnemeAsync(["stats", "--port", String(s.port), "--json"]);
        expect(JSON.parse(r.stdout).info.mneme.http_active, args.join(" ")).toBe("0");
      } finally {
        await s.stop();
      }
    }
  });
});

describe("mneme stats", () => {
  let srv: ServerProcess;
  beforeAll(async () => {
    srv = await spawnServer(["--requirepass", "s3cret"]);
  });
  afterAll(async () => {
    await srv.stop();
  });

  it("--json: STATS and INFO of the running server, as the server reports them", async () => {
    const redis = new Redis({ port: srv.port, password: "s3cret", lazyConnect: true });
    await redis.connect();
    await redis.call("ALLOC", "100000");
    const flat = (await redis.call("STATS")) as unknown[];
    redis.disconnect();
    const r = await mnemeAsync(["stats", "--json"], {
      MNEME_PORT: String(srv.port),
      MNEME_REQUIREPASS: "s3cret",
    });
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.server).toBe(`127.0.0.1:${srv.port}`);
    expect(j.stats.free).toBe(Number(flat[flat.indexOf("free") + 1]));
    expect(j.stats.handles).toBe(1);
    expect(j.stats.allocs).toBe(1);
    expect(j.info.server.mneme_version).toBe("0.1.0");
    expect(j.info.mneme.http_active).toBe("1");
    expect(j.info.pool.pool_total).toBe(String(j.stats.total));
  });

  it("text: a short report, no colour when piped", async () => {
    const r = await mnemeAsync(["stats", "--port", String(srv.port), "--requirepass", "s3cret"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^server +127\.0\.0\.1:\d+, mneme 0\.1\.0/);
    expect(r.stdout).toMatch(/\npool +[\d.]+ \w+ used of /);
    expect(r.stdout).toMatch(/\nhttp +http:\/\/127\.0\.0\.1:\d+\/ \(dashboard, \/metrics\)/);
    expect(r.stdout).not.toContain(ESC);
  });

  it("without the password: the server's refusal, in one line", async () => {
    const r = await mnemeAsync(["stats", "--port", String(srv.port)]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^mneme: 127\.0\.0\.1:\d+: NOAUTH/);
    expect(r.stderr).toContain("the server wants a password: --requirepass SECRET, or --login NAME:PASSWORD");
  });

  it("--login name:password: as an ACL user of the server; a wrong one is the server's refusal", async () => {
    const acl = await spawnServer(["--requirepass", "s3cret", "--user", "alice:pw1"]);
    try {
      const ok = await mnemeAsync(["stats", "--json", "--port", String(acl.port), "--login", "alice:pw1"]);
      expect(ok.status, ok.stderr).toBe(0);
      expect(JSON.parse(ok.stdout).server).toBe(`127.0.0.1:${acl.port}`);
      const bad = await mnemeAsync(["stats", "--port", String(acl.port), "--login", "alice:nope"]);
      expect(bad.status).toBe(1);
      expect(bad.stderr).toMatch(/^mneme: 127\.0\.0\.1:\d+: WRONGPASS.*--login NAME:PASSWORD/);
      const malformed = await mnemeAsync(["stats", "--port", String(acl.port), "--login", "alice"]);
      expect(malformed.status).toBe(1);
      expect(malformed.stderr.trim().split("\n")).toHaveLength(1);
      expect(malformed.stderr).toContain("--login: expected name:password");
    } finally {
      await acl.stop();
    }
  });

  it("reads host, port and password from the same config file as serve", async () => {
    const config = join(tempDir(), "mneme.json");
    writeFileSync(config, JSON.stringify({ port: srv.port, requirepass: "s3cret", workers: 3 }));
    const r = await mnemeAsync(["stats", "--json", "--config", config]);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).server).toBe(`127.0.0.1:${srv.port}`);
  });
});
