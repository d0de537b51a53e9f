import { Redis } from "ioredis";
import type { ServiceConfig } from "../../src/service/config.js";
import type { Service } from "../../src/service/server.js";
import { startService } from "../service/helpers.js";

/** An in-process service with its HTTP side on a free port, and an ioredis client to it. */
export async function startObserved(
  config: Partial<ServiceConfig> = {},
): Promise<{ svc: Service; redis: Redis; base: string; stop: () => Promise<void> }> {
  const svc = await startService({ http: true, httpPort: 0, ...config });
  const redis = new Redis({ port: svc.port, lazyConnect: true, maxRetriesPerRequest: 0 });
  await redis.connect();
  return {
    svc,
    redis,
    base: `http://127.0.0.1:${svc.httpPort}`,
    stop: async () => {
      redis.disconnect();
      await svc.close();
    },
  };
}

/** The value of one sample line of a Prometheus text exposition, or undefined. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) got[k] = v;
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

export interface SseMessage {
  event: string;
  data: string;
}

/** Reads server-sent events from `url`; `next(pred)` resolves with the first message matching. */
export async function subscribe(url: string): Promise<{
  next: (pred: (m: SseMessage) => boolean, timeoutMs?: number) => Promise<SseMessage>;
  close: () => void;
  seen: SseMessage[];
}> {
  const ctrl = new AbortController();
  const res = await fetch(url, { signal: ctrl.signal });
  if (!res.ok || res.body === null) throw new Error(`subscribe ${url}: ${res.status}`);
  const seen: SseMessage[] = [];
  const waiting: { pred: (m: SseMessage) => boolean; resolve: (m: SseMessage) => void }[] = [];
  let buf = "";
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        buf += decoder.decode(value, { stream: true });
        let i = buf.indexOf("\n\n");
        while (i >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = "message";
          let data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) event = line.slice(7);
            else if (line.startsWith("data: ")) data += line.slice(6);
          }
          if (data !== "") {
            const m = { event, data };
            seen.push(m);
            for (const w of [...waiting]) {
              if (w.pred(m)) {
                waiting.splice(waiting.indexOf(w), 1);
                w.resolve(m);
              }
            }
          }
          i = buf.indexOf("\n\n");
        }
      }
    } catch {
      // aborted
    }
  })();
  return {
    seen,
    next: (pred, timeoutMs = 20_000) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error("no matching server-sent event")), timeoutMs);
        waiting.push({
          pred,
          resolve: (m) => {
            clearTimeout(t);
            resolve(m);
          },
        });
      }),
    close: () => ctrl.abort(),
  };
}
