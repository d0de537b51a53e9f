/**
 * MnemeClient against a real `mneme serve` process: MAP regions (anonymous and file-backed, with
 * a hint) through the typed client and its pipelines, as the other commands are.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MnemeClient } from "../../src/service/client.js";
import { type ServerProcess, spawnServer, tempDir } from "./helpers.js";

let server: ServerProcess;
let client: MnemeClient;
const data = tempDir();

beforeAll(async () => {
  server = await spawnServer(["--data", data, "--map-frames", "8"]);
  client = new MnemeClient({ port: server.port, maxRetriesPerRequest: 0 });
});

afterAll(async () => {
  await client.close();
  await server.stop();
});

describe("MnemeClient.map", () => {
  it("a file region larger than the frames: written, read back, in its file after sync, freed", async () => {
    const length = 64 * 4096 + 3;
    const h = await client.map(length, { store: "file", name: "client.bin", hint: "sequential" });
    expect(await client.size(h)).toBe(length);
    const tail = new TextEncoder().encode("end");
    expect(await client.write(h, length - 3, tail)).toBe(3);
    expect(await client.read(h, length - 3, 3)).toEqual(tail);
    await client.sync();
    expect(
      readFileSync(join(data, "maps", "client.bin"))
        .subarray(length - 3)
        .toString(),
    ).toBe("end");
    await client.free(h);
    await expect(client.read(h, 0, 1)).rejects.toThrow(/invalid handle/);
  });

  it("in a pipeline with the other commands; anonymous regions read as zeros; bad options are the server's errors", async () => {
    const [region, block] = (await client.pipeline((p) =>
      p.map(10_000, { store: "anon" }).alloc(16),
    )) as string[];
    const [written, bytes, size] = await client.pipeline((p) =>
      p
        .write(region, 9_999, new Uint8Array([7]))
        .read(region, 9_998, 2)
        .size(region),
    );
    expect([written, [...(bytes as Uint8Array)], size]).toEqual([1, [0, 7], 10_000]);
    await expect(client.map(4096, { store: "file" })).rejects.toThrow(/invalid name/);
    await expect(client.map(0)).rejects.toThrow("ERR MAP length must be positive");
    await client.pipeline((p) => p.free(region).free(block));
  });
});
