/**
 * --free-on-close across a kill -9: a block lives as long as the connection that made it, so the
 * blocks of connections that ended with the crash must not come back after recovery (nothing
 * could ever free them: no connection owns them any more). MAP regions belong to the identity
 * and stay; without the option every block comes back.
 */
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { spawnServer, tempDir } from "../service/helpers.js";
import { kill9 } from "./crash-helpers.js";

async function crashAndRestart(freeOnClose: boolean): Promise<{ block: unknown; region: unknown }> {
  const data = tempDir();
  const args = ["--data", data, "--appendfsync", "always", ...(freeOnClose ? ["--free-on-close"] : [])];
  const first = await spawnServer(args);
  const c = new Redis({ port: first.port, lazyConnect: true });
  await c.connect();
  const h = String(await c.call("ALLOC", 5000));
  const m = String(await c.call("MAP", 65536));
  await c.call("WRITE", h, 0, "kept?");
  await c.call("WRITE", m, 100, "region");
  c.disconnect();
  await kill9(first);

  const second = await spawnServer(args);
  const d = new Redis({ port: second.port, lazyConnect: true });
  try {
    await d.connect();
    const block = await d.call("READ", h, 0, 5).then(String, (e: Error) => e.message);
    const region = await d.call("READ", m, 100, 6).then(String, (e: Error) => e.message);
    return { block, region };
  } finally {
    d.disconnect();
    await second.stop();
  }
}

describe("--free-on-close and recovery", () => {
  it("frees the recovered blocks of the connections that ended with the crash, keeps MAP regions", async () => {
    const r = await crashAndRestart(true);
    expect(r.block).toMatch(/ERR .*handle/i);
    expect(r.region).toBe("region");
  }, 60_000);

  it("without the option the block comes back with its bytes", async () => {
    const r = await crashAndRestart(false);
    expect(r.block).toBe("kept?");
    expect(r.region).toBe("region");
  }, 60_000);
});
