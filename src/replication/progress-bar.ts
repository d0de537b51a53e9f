/**
 * The progress bar of a long recovery in `mneme serve` (cli-progress), on a terminal only: in a
 * pipe or a log file it would be noise. It appears once a recovery has read for half a second,
 * so short recoveries print nothing but their summary line.
 */
import cliProgress from "cli-progress";
import type { Service } from "../service/server.js";

const SHOW_AFTER_MS = 500;

export function recoveryBar(
  svc: Service,
  stream: NodeJS.WriteStream = process.stderr,
  showAfterMs = SHOW_AFTER_MS,
): { stop(): void } {
  if (!stream.isTTY) return { stop() {} };
  const started = Date.now();
  let bar: cliProgress.SingleBar | null = null;
  svc.recoveryProgress = (done, total) => {
    if (bar === null) {
      if (Date.now() - started < showAfterMs) return;
      bar = new cliProgress.SingleBar(
        { stream, format: "recovering [{bar}] {percentage}% | {value}/{total} bytes of log | {eta}s left" },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0);
    }
    bar.setTotal(total);
    bar.update(done);
  };
  return {
    stop() {
      bar?.stop();
      svc.recoveryProgress = undefined;
    },
  };
}
