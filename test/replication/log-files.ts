/** Looking at a file log's files in tests: its segments in order, and where each record starts. */
import { readdirSync, readFileSync } from "node:fs";
import { FILE_HEADER } from "../../src/replication/file-backend.js";
import { walk } from "../../src/replication/format.js";

/** The segment files of a log directory, oldest first. */
export function segments(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".seg"))
    .sort();
}

/** Offsets of the records of a segment. */
export function recordOffsets(file: string): number[] {
  const offs: number[] = [];
  walk(readFileSync(file), FILE_HEADER, (_e, at) => offs.push(at));
  return offs;
}
