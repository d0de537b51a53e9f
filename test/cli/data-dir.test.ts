/**
 * An unusable --data stops `mneme serve` at once with one line naming the directory and why.
 * Before the fix, a path below /proc hung for ever inside Node's recursive mkdirSync, and a
 * regular file gave a bare "EEXIST: file already exists".
 */
import { readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { spawnServer, tempDir } from "../service/helpers.js";
import { expectOneLineError, mneme } from "./helpers.js";

const serve = (data: string) => mneme(["serve", "--port", "0", "--http-port", "0", "--data", data]);

describe("serve --data that cannot be used", () => {
  it("a path below a pseudo-filesystem that refuses new entries (/proc/nonexistent/x)", () => {
    const r = serve("/proc/nonexistent/x");
    expect(r.signal, "serve hung and was killed").toBeNull();
    expectOneLineError(
      r,
      /data directory \/proc\/nonexistent\/x: cannot create \/proc\/nonexistent \(no such file or directory\)/,
    );
  });

  it("a regular file", () => {
    const file = join(tempDir(), "plain");
    writeFileSync(file, "keep me");
    expectOneLineError(
      serve(file),
      new RegExp(`data directory ${file}: ${file} exists and is not a directory`),
    );
    expect(statSync(file).isFile()).toBe(true);
  });

  it("a path through a regular file", () => {
    const file = join(tempDir(), "plain");
    writeFileSync(file, "");
    expectOneLineError(
      serve(join(file, "sub")),
      /data directory .*plain\/sub: cannot create .*plain\/sub \(not a directory\)/,
    );
  });

  it("a directory where no file can be made (/proc)", () => {
    expectOneLineError(serve("/proc"), /data directory \/proc: cannot create files in it/);
  });

  it("--replicate file:DIR below /proc, or a regular file: named as the replication directory", () => {
    // The replication backend's own recursive mkdirSync hung there as the data directory's did.
    const r = mneme([
      "serve",
      "--port",
      "0",
      "--no-http",
      "--data",
      tempDir(),
      "--replicate",
      "file:/proc/nonexistent/x",
    ]);
    expect(r.signal, "serve hung and was killed").toBeNull();
    expectOneLineError(
      r,
      /^mneme: replication directory \/proc\/nonexistent\/x: cannot create \/proc\/nonexistent \(no such file or directory\)$/,
    );
    const file = join(tempDir(), "log");
    writeFileSync(file, "");
    expectOneLineError(
      mneme(["serve", "--port", "0", "--no-http", "--data", tempDir(), "--replicate", `file:${file}`]),
      new RegExp(`^mneme: replication directory ${file}: ${file} exists and is not a directory$`),
    );
  });

  it("missing parents are created, and the probe file does not stay", async () => {
    const data = join(tempDir(), "a", "b", "c");
    const server = await spawnServer(["--data", data, "--replicate", "off"]);
    try {
      expect(statSync(data).isDirectory()).toBe(true);
      expect(readdirSync(data).filter((f) => f.startsWith(".mneme-probe"))).toEqual([]);
    } finally {
      await server.stop();
    }
  });
});
