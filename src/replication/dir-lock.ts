/**
 * One server per replication directory. Two servers logging to one directory (a second
 * `mneme serve` started in the same place on another port) write over each other's segments,
 * each naming its next one for its own seq and creating it afresh, and one's recovery cuts the
 * other's record being appended as a torn tail: the log of both is lost. The lock is a file
 * holding its owner's pid, made with O_EXCL; one whose process is gone (kill -9) is stale and
 * taken over.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { MnemeError } from "../errors.js";

export const LOCK_FILE = "mneme.lock";

/** Takes the directory's lock; returns its release. */
export function lockDirectory(dir: string): () => void {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, "wx");
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      return () => {
        try {
          if (owner(path) === process.pid) unlinkSync(path);
        } catch {
          // Removed by hand meanwhile: nothing to release.
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw e;
      const pid = owner(path);
      // This very process (an embedding program's second service) is no other writer to refuse.
      if (pid !== process.pid && alive(pid))
        throw new MnemeError(
          "ELOCKED",
          `replication directory ${dir} is in use by process ${pid} (another mneme serve?): stop it, ` +
            `or remove ${path} if that process is not mneme`,
        );
      unlinkSync(path);
    }
  }
}

function owner(path: string): number {
  try {
    return Number.parseInt(readFileSync(path, "utf8"), 10);
  } catch {
    return Number.NaN;
  }
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
  // A killed process its parent has not reaped yet (a zombie) still answers signal 0.
  try {
    return readFileSync(`/proc/${pid}/stat`, "latin1").split(") ").at(-1)?.[0] !== "Z";
  } catch {
    return true;
  }
}
