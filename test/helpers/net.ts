/** Loopback helpers shared by the tests and the benches that start servers. */
import { connect, createServer, type Server, type Socket } from "node:net";

/** A port that was free a moment ago on 127.0.0.1 (for a server the caller is about to start). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface Proxy {
  port: number;
  /** Connections accepted so far (a client's first one and its reconnection attempts). */
  accepted: () => number;
  /** From now on the server's replies are dropped (the commands still reach it). */
  silence: () => void;
  /** Cuts every open connection; later ones are forwarded both ways again. */
  cut: () => void;
  close: () => Promise<void>;
}

/**
 * A loopback TCP proxy to `port` that a test can cut or silence, for clients that must live
 * through a lost connection (a connection to it is one to the server, or closed if it is down).
 */
export async function proxy(port: number): Promise<Proxy> {
  const open = new Set<Socket>();
  let accepted = 0;
  let silent = false;
  const server: Server = createServer((inbound) => {
    accepted++;
    const outbound = connect(port, "127.0.0.1");
    for (const s of [inbound, outbound]) {
      open.add(s);
      s.on("close", () => open.delete(s));
      s.on("error", () => {});
    }
    inbound.pipe(outbound);
    outbound.on("data", (d) => {
      if (!silent) inbound.write(d);
    });
    inbound.on("close", () => outbound.destroy());
    outbound.on("close", () => inbound.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    port: (server.address() as { port: number }).port,
    accepted: () => accepted,
    silence: () => {
      silent = true;
    },
    cut: () => {
      for (const s of open) s.destroy();
      silent = false;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of open) s.destroy();
        server.close(() => r());
      }),
  };
}
