/**
 * MnemeClient's errors against a real `mneme serve`: every refusal is a MnemeError (ServiceError
 * with a stable code, or InvalidArgumentError for what the client can check before sending), in
 * single calls and in pipelines, and a refused call changes nothing on the server.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidArgumentError, MnemeError } from "../../src/errors.js";
import { MnemeClient, ServiceError } from "../../src/index.js";
import { type ServerProcess, spawnServer } from "./helpers.js";

let server: ServerProcess;
let client: MnemeClient;

beforeAll(async () => {
  server = await spawnServer(["--quota-handles", "2", "--requirepass", "pw"]);
  client = new MnemeClient({ port: server.port, password: "pw", maxRetriesPerRequest: 0 });
});

afterAll(async () => {
  await client.close();
  await server.stop();
});

async function refusal(p: Promise<unknown>): Promise<MnemeError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(MnemeError);
  return e as MnemeError;
}

describe("MnemeClient errors", () => {
  it("what the server refuses is a ServiceError with a code, and changes nothing", async () => {
    const h = await client.alloc(16);
    await client.write(h, 0, new Uint8Array([1, 2, 3]));
    const before = await client.stats();

    const bad = await refusal(client.read(`${h}x`, 0, 1));
    expect(bad).toBeInstanceOf(ServiceError);
    expect(bad.code).toBe("EBADHANDLE");
    expect((bad as ServiceError).reply).toMatch(/^ERR invalid handle/);

    expect((await refusal(client.read(h, 10, 10))).code).toBe("EINVAL");
    expect((await refusal(client.write(h, 15, new Uint8Array(2)))).code).toBe("EINVAL");
    expect((await refusal(client.alloc(0))).code).toBe("EINVAL");
    expect((await refusal(client.alloc(1 << 30))).code).toBe("ENOMEM");
    expect((await refusal(client.map(4096, { store: "file", name: "../x" }))).code).toBe("EINVAL");

    const second = await client.alloc(8);
    const quota = await refusal(client.alloc(8));
    expect(quota.code).toBe("ENOMEM");
    expect(quota.message).toMatch(/quota exceeded/);
    await client.free(second);

    expect(await client.read(h, 0, 3)).toEqual(new Uint8Array([1, 2, 3]));
    const after = await client.stats();
    expect(after.handles).toBe(before.handles);
    await client.free(h);
    expect((await refusal(client.free(h))).code).toBe("EBADHANDLE");
  });

  it("a refusal inside a pipeline rejects with a ServiceError", async () => {
    const h = await client.alloc(4);
    const e = await refusal(client.pipeline((p) => p.size(h).read(h, 2, 8)));
    expect(e).toBeInstanceOf(ServiceError);
    expect(e.code).toBe("EINVAL");
    await client.free(h);
  });

  it("without the password: EAUTH", async () => {
    const stranger = new MnemeClient({ port: server.port, maxRetriesPerRequest: 0, enableReadyCheck: false });
    // ioredis also reports its refused HELLO as an error event.
    stranger.redis.on("error", () => {});
    try {
      const e = await refusal(stranger.alloc(8));
      expect(e.code).toBe("EAUTH");
      expect((e as ServiceError).reply).toMatch(/^NOAUTH/);
    } finally {
      stranger.redis.disconnect();
    }
  });

  it("arguments the client can check are InvalidArgumentError, and nothing is sent", async () => {
    const h = await client.alloc(8);
    const processed = async () =>
      Number(/total_commands_processed:(\d+)/.exec(String(await client.redis.info("stats")))?.[1]);
    const sent = await processed();
    const bad: [() => Promise<unknown>, string][] = [
      [() => client.alloc(-1), "size"],
      [() => client.alloc(1.5), "size"],
      [() => client.alloc(Number.NaN), "size"],
      [() => client.alloc(8, -2), "align"],
      [() => client.read(h, -1, 1), "offset"],
      [() => client.read(h, 0, Number.POSITIVE_INFINITY), "length"],
      [() => client.write(h, 0, "text" as unknown as Uint8Array), "data"],
      [() => client.size(42 as unknown as string), "handle"],
      [() => client.free(""), "handle"],
      [() => client.map(-5), "length"],
    ];
    for (const [call, argument] of bad) {
      const e = await refusal(Promise.resolve().then(call));
      expect(e).toBeInstanceOf(InvalidArgumentError);
      expect((e as InvalidArgumentError).argument).toBe(argument);
    }
    expect(() => client.pipeline((p) => p.read(h, 0, -1))).toThrow(InvalidArgumentError);
    // Only the first INFO arrived since.
    expect(await processed()).toBe(sent + 1);
    await client.free(h);
  });
});
