/** Loopback helpers shared by the tests and the benches that start servers. */
import { createServer } from "node:net";

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
