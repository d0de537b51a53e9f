/**
 * CLIENT INFO and CLIENT LIST write an IPv6 address as Redis does, in brackets
 * (`addr=[::1]:50000 laddr=[::1]:6389`); they wrote it bare (`addr=::1:50000`), not Redis's
 * format, and with the port hard to tell from the address's own colons.
 */
import { connect, createServer } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import type { Service } from "../../src/service/server.js";
import { frame, startService } from "./helpers.js";

/** Whether this host can listen on IPv6 loopback (some containers have no ::1). */
function ipv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen({ host: "::1", port: 0 }, () => s.close(() => resolve(true)));
  });
}

const hasV6 = await ipv6Loopback();
if (!hasV6) console.warn("client-addr.test.ts: this host has no IPv6 loopback; its IPv6 case is skipped");

const services: Service[] = [];
afterAll(async () => {
  for (const s of services) await s.close();
});

/** CLIENT INFO of a connection to a service listening on `host`. */
async function clientInfo(host: string): Promise<string> {
  const svc = await startService({ host });
  services.push(svc);
  return new Promise<string>((resolve, reject) => {
    const s = connect(svc.port, host);
    let text = "";
    s.on("data", (d) => {
      text += d.toString("latin1");
      if (text.endsWith("\n\r\n")) {
        s.destroy();
        resolve(text);
      }
    });
    s.on("error", reject);
    s.write(frame("CLIENT", "INFO"));
  });
}

describe("client addresses in CLIENT INFO", () => {
  it.skipIf(!hasV6)("an IPv6 address is in brackets, its port after them", async () => {
    expect(await clientInfo("::1")).toMatch(/ addr=\[::1\]:\d+ laddr=\[::1\]:\d+ /);
  });

  it("an IPv4 address is written as it was", async () => {
    expect(await clientInfo("127.0.0.1")).toMatch(/ addr=127\.0\.0\.1:\d+ laddr=127\.0\.0\.1:\d+ /);
  });
});
