/**
 * `--quota-bytes 0` is no byte limit, as INFO's quota_bytes and /metrics' mneme_quota_bytes
 * show the default; it was refused ("must be a positive size"), so a value copied from INFO, or
 * `"quota-bytes": 0` in a config file, kept the server from starting.
 */
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { spawnServer } from "../service/helpers.js";

describe("serve --quota-bytes 0", () => {
  it("starts with no byte limit: INFO says 0, a MAP larger than the pool is granted", async () => {
    const server = await spawnServer(["--quota-bytes", "0", "--replicate", "off"]);
    const r = new Redis({ port: server.port, lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await r.connect();
      expect(String(await r.info("mneme"))).toMatch(/\r\nquota_bytes:0\r\n/);
      const region = String(await r.call("MAP", 1 << 30));
      expect(await r.call("FREE", region)).toBe("OK");
    } finally {
      r.disconnect();
      await server.stop();
    }
  });
});
