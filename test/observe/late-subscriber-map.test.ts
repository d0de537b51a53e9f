/**
 * A dashboard connecting (or an EventSource reconnecting) between two map checks set the map the
 * server compares against to the one it had just sent the newcomer: the dashboards already open,
 * which held the older map, were never sent the change (until the arena changed again), so their
 * arena showed a block freed or missed one allocated.
 */
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { type ArenaMap, RUN_FIELDS, runAt } from "../../src/observe/feed.js";
import { ObserveServer } from "../../src/observe/http.js";
import type { Service } from "../../src/service/server.js";
import { startService } from "../service/helpers.js";
import { subscribe } from "./helpers.js";

function kindAt(map: ArenaMap, address: number): string {
  const seg = map.segments[0];
  const r = runAt(seg.runs, Math.floor(address / seg.pageSize));
  return map.kinds[seg.runs[r * RUN_FIELDS + 2]];
}

describe("/events map updates with dashboards joining", () => {
  let svc: Service | undefined;
  let http: ObserveServer | undefined;
  afterEach(async () => {
    await http?.close();
    await svc?.close();
    svc = undefined;
    http = undefined;
  });

  it("a dashboard already open gets the arena change a newcomer was sent on connecting", async () => {
    svc = await startService();
    // One map check a second (a period of 1000 ms): the newcomer arrives before the next one.
    http = new ObserveServer(svc, { intervalMs: 1000 });
    const base = `http://127.0.0.1:${await http.listen("127.0.0.1", 0)}`;
    const redis = new Redis({ port: svc.port, lazyConnect: true, maxRetriesPerRequest: 0 });
    await redis.connect();
    const first = await subscribe(`${base}/events`);
    let late: Awaited<ReturnType<typeof subscribe>> | undefined;
    try {
      await first.next((m) => m.event === "stats");
      const h = String(await redis.call("ALLOC", String(1 << 20)));
      const address = Number.parseInt(h.split(".")[0], 16);
      late = await subscribe(`${base}/events`);
      const lateMap = JSON.parse((await late.next((m) => m.event === "map")).data) as ArenaMap;
      expect(kindAt(lateMap, address)).toBe("large");
      // The first dashboard's map on connecting predates the ALLOC; it must be sent the new one.
      const isNew = (data: string) => kindAt(JSON.parse(data) as ArenaMap, address) === "large";
      await first.next((m) => m.event === "map" && isNew(m.data), 10_000);
    } finally {
      first.close();
      late?.close();
      redis.disconnect();
    }
  });
});
