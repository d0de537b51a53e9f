/**
 * A server whose pool was full when it stopped must start again with the same --memory: recovery
 * allocates every live block again (from the checkpoint image, then the log), and a layout that
 * differs from the one the blocks had may not fit where the original did.
 */
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { rng } from "../helpers/rng.js";
import { startService, tempDir } from "../service/helpers.js";

const MEMORY = 4 << 20;

for (const checkpoint of [false, true]) {
  describe(`recovery of a full pool (${checkpoint ? "from a checkpoint" : "from the log"})`, () => {
    it.each([100, 102, 106, 108, 114, 128])(
      "every block comes back at the same --memory (seed %i)",
      async (seed) => {
        const dir = tempDir();
        const config = { replicate: `file:${dir}`, memory: MEMORY };
        const a = await startService(config);
        const r = new Redis({ port: a.port });
        const rnd = rng(seed);
        const live = new Map<string, number>();
        const fill = async () => {
          for (let misses = 0; misses < 40; ) {
            const size = 1 + Math.floor(rnd() * (rnd() < 0.2 ? 200_000 : 3000));
            const align = rnd() < 0.2 ? 1 << (3 + Math.floor(rnd() * 14)) : 0;
            try {
              const h = String(await r.call("ALLOC", size, ...(align ? ["ALIGN", align] : [])));
              live.set(h, size);
              await r.call("WRITE", h, 0, h.slice(-1));
              await r.call("WRITE", h, size - 1, "z");
            } catch (e) {
              if (!/OOM/.test((e as Error).message)) throw e;
              misses++;
            }
          }
        };
        await fill();
        for (const h of [...live.keys()]) {
          if (rnd() < 0.5) {
            await r.call("FREE", h);
            live.delete(h);
          }
        }
        await fill();
        await r.call("SYNC");
        if (checkpoint) await a.replication!.checkpoint();
        r.disconnect();
        await a.close();

        const b = await startService(config);
        const r2 = new Redis({ port: b.port });
        try {
          for (const [h, size] of live) {
            expect(String(await r2.callBuffer("READ", h, size - 1, 1))).toBe("z");
            if (size > 1) expect(String(await r2.callBuffer("READ", h, 0, 1))).toBe(h.slice(-1));
          }
        } finally {
          r2.disconnect();
          await b.close();
        }
      },
    );
  });
}
