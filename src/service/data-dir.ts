/**
 * The data directory (and a `--replicate file:DIR` directory), made ready before anything is
 * written under it: created with its missing parents, and proved writable by a probe file, so
 * that an unusable one stops the start with one clear error instead of failing on the first MAP
 * or log record.
 *
 * Node's own `mkdirSync(path, { recursive: true })` is not used: on a path below a
 * pseudo-filesystem that refuses new entries with ENOENT (`/proc/nonexistent/x`), it loops
 * forever, creating the parent (EEXIST) and retrying the child (ENOENT). Here each level is
 * tried at most twice, so every path ends in a directory or an error.
 */
import { closeSync, mkdirSync, openSync, statSync, unlinkSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { MnemeError } from "../errors.js";

/**
 * A directory the service needs cannot be used: `path` is what was asked for, `why` the reason,
 * `what` which directory it is ("data directory", or "replication directory" for file:DIR).
 */
export class DataDirectoryError extends MnemeError {
  readonly path: string;
  readonly why: string;
  constructor(path: string, why: string, what = "data directory") {
    super("EDATADIR", `${what} ${path}: ${why}`);
    this.path = path;
    this.why = why;
  }
}

/** Creates `path` (and its parents) if needed and checks that files can be made in it. */
export function prepareDataDirectory(path: string, what = "data directory"): void {
  const failure = makeDirectory(resolve(path));
  if (failure !== null) throw new DataDirectoryError(path, failure, what);
  const probe = join(path, `.mneme-probe-${process.pid}`);
  try {
    closeSync(openSync(probe, "wx"));
    unlinkSync(probe);
  } catch (e) {
    throw new DataDirectoryError(path, `cannot create files in it (${reason(e)})`, what);
  }
}

/** Makes the directory `dir` (absolute); null when it exists afterwards, else why not. */
function makeDirectory(dir: string): string | null {
  const first = tryMkdir(dir);
  if (first !== "ENOENT") return first;
  const parent = dirname(dir);
  if (parent === dir) return `cannot create ${dir} (no such file or directory)`;
  const above = makeDirectory(parent);
  if (above !== null) return above;
  const second = tryMkdir(dir);
  return second === "ENOENT" ? `cannot create ${dir} (no such file or directory)` : second;
}

/** null: `dir` is a directory now; "ENOENT": a parent is missing; otherwise the reason. */
function tryMkdir(dir: string): string | null {
  try {
    mkdirSync(dir);
    return null;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return "ENOENT";
    if (code !== "EEXIST") return `cannot create ${dir} (${reason(e)})`;
  }
  try {
    if (statSync(dir).isDirectory()) return null;
  } catch (e) {
    return `cannot use ${dir} (${reason(e)})`;
  }
  return `${dir} exists and is not a directory`;
}

/** The system's words for an fs error ("permission denied"), without Node's prefix and path. */
function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const m = /^[A-Z]+: ([^,]+)/.exec(err.message ?? "");
  return m ? m[1] : String(err.message ?? e);
}
