/**
 * examples/service-ioredis runs as a process against a real `mneme serve` process (dist/:
 * `npm run build` first) on a free port: ALLOC/WRITE/READ/SIZE/STATS/FREE through redis.call,
 * binary data through callBuffer, a pipeline, a second connection of the same identity, and the
 * refusals.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Summary } from "../../examples/service-ioredis/main.js";
import { type ServerProcess, spawnServer } from "../service/helpers.js";
import { lastJson, runExample } from "./run-example.js";

describe("service-ioredis example", () => {
  let srv: ServerProcess;
  beforeAll(async () => {
    srv = await spawnServer();
  });
  afterAll(async () => {
    expect(await srv.stop("SIGTERM")).toBe(0);
  });

  it("uses the memory service from ioredis", async () => {
    const { stdout } = await runExample("examples/service-ioredis/main.ts", ["--port", String(srv.port)]);
    expect(stdout).toMatch(/^ALLOC 4096 -> [0-9a-f]+\.[0-9a-f]{32}$/m);
    const s = lastJson<Summary>(stdout);
    expect(s).toMatchObject({
      written: 18,
      textOk: true,
      binaryOk: true,
      size: 4096,
      pipelineOk: true,
      sharedOk: true,
      handlesBefore: 0,
      handlesDuring: 1,
      handlesAfter: 0,
      freedOk: true,
    });
    expect(s.refused).toEqual([
      "ERR offset or length out of range",
      "ERR size must be at least 1 byte",
      "ERR invalid handle (unknown, freed, or held by another identity)",
    ]);
  });
});
