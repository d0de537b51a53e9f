import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "vitest";
import { freePort, tempDir } from "../service/helpers.js";
import { expectOneLineError, mneme } from "./helpers.js";

describe("errors are one line and a non-zero exit", () => {
  it("bad values of serve's options", () => {
    expectOneLineError(mneme(["serve", "--port", "abc"]), /--port: "abc" is not a whole number/);
    expectOneLineError(mneme(["serve", "--memory", "12q"]), /--memory: invalid size "12q"/);
    expectOneLineError(mneme(["serve", "--port", "70000", "--data", tempDir()]), /port.*0 to 65535/);
    expectOneLineError(mneme(["serve", "--user", "nocolon"]), /--user wants name:password/);
    expectOneLineError(mneme(["serve", "--map-dirty-low", "2"]), /--map-dirty-low: "2" is not a ratio/);
    expectOneLineError(
      mneme(["serve", "--map-dirty-low", "0.7", "--data", tempDir()]),
      /--map-dirty-low.*below --map-dirty-high/,
    );
  });

  it("unknown options and commands (no suggestion lines)", () => {
    expectOneLineError(mneme(["serve", "--prot", "1"]), /unknown option '--prot'/);
    expectOneLineError(mneme(["sevre"]), /unknown command 'sevre'/);
    expectOneLineError(mneme(["replay", "--frames", "0", "x"]), /must be a positive integer/);
  });

  it("a server that is not there", async () => {
    const port = await freePort();
    expectOneLineError(
      mneme(["stats", "--port", String(port)]),
      new RegExp(`cannot reach a mneme server at 127\\.0\\.0\\.1:${port}.*ECONNREFUSED`),
    );
    expectOneLineError(mneme(["stats", "--port", "0"]), /--port: "0" is not a port/);
  });

  it("bench's arguments, checked before anything runs", () => {
    expectOneLineError(mneme(["bench", "nope"]), /no benchmark matches "nope" \(have: .*page.*\)/);
    expectOneLineError(mneme(["bench", "--runs", "2"]), /--runs: "2" must be a whole number from 5 to 1000/);
    expectOneLineError(mneme(["bench", "--repeat", "x"]), /--repeat/);
  });

  it("config files: missing, not JSON, not an object, unknown keys, wrong types", () => {
    const dir = tempDir();
    const file = (name: string, text: string) => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    };
    expectOneLineError(
      mneme(["serve", "--config", join(dir, "none.json")]),
      /config file .*none\.json: no such file/,
    );
    expectOneLineError(
      mneme(["serve", "--config", file("bad.json", "{port:")]),
      /config file .*bad\.json: .*JSON/,
    );
    expectOneLineError(mneme(["serve", "--config", file("arr.json", "[1]")]), /must hold a JSON object/);
    expectOneLineError(
      mneme(["serve", "--config", file("typo.json", '{"porrt": 1}')]),
      /unknown option "porrt"/,
    );
    expectOneLineError(
      mneme(["serve", "--config", file("bool.json", '{"free-on-close": "yes"}')]),
      /"free-on-close" must be true or false/,
    );
    expectOneLineError(
      mneme(["serve", "--config", file("obj.json", '{"port": {"a": 1}}')]),
      /"port" must be a string or a number/,
    );
    expectOneLineError(mneme(["serve"], { MNEME_PORT: "x1" }), /--port: "x1" is not a whole number/);
  });
});
