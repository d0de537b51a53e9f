/**
 * `mneme inspect DIR [--json]`: what a file replication directory holds, without starting a
 * server and without changing a byte (a torn tail is reported, not cut): segments, the newest
 * checkpoint, records after it by type, the allocations a recovery would restore, and damage.
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { InvalidArgumentError, LogCorruptionError } from "../errors.js";
import type { Damage } from "../replication/backend.js";
import { FileBackend } from "../replication/file-backend.js";
import { check, decode, type Record_, RecordType, TYPE_NAMES } from "../replication/format.js";

export interface InspectReport {
  dir: string;
  segments: { name: string; firstSeq: number; bytes: number }[];
  checkpoint: null | { name: string; seq: number; bytes: number; records: number };
  /** Damaged checkpoints passed over (a recovery would refuse them without --recover-skip-corrupt). */
  badCheckpoints: Damage[];
  records: Record<string, number>;
  firstSeq: number | null;
  lastSeq: number;
  logBytes: number;
  live: { allocations: number; maps: number; bytes: number; owners: Record<string, number> };
  tornTail: Damage | null;
  damage: Damage[];
}

/** Reads DIR the way recovery would, changing nothing. */
export async function inspectDir(dir: string): Promise<InspectReport> {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new InvalidArgumentError("directory", dir, "does not exist or is not a directory");
  const backend = new FileBackend(dir, { segmentSize: Number.MAX_SAFE_INTEGER });
  const segments = backend
    .segments()
    .map((s) => ({ name: s.name, firstSeq: s.first, bytes: statSync(join(dir, s.name)).size }));
  const live = new Map<string, { owner: string; size: number; kind: "anon" | "map" }>();
  const apply = (r: Record_) => {
    if (r.type === RecordType.ALLOC) live.set(r.handle, { owner: r.owner, size: r.size, kind: "anon" });
    else if (r.type === RecordType.MAP) live.set(r.handle, { owner: r.owner, size: r.length, kind: "map" });
    else if (r.type === RecordType.FREE || r.type === RecordType.UNMAP) live.delete(r.handle);
  };
  const badCheckpoints: Damage[] = [];
  let checkpoint: InspectReport["checkpoint"] = null;
  let lostUpTo = 0;
  for (const c of backend.checkpoints()) {
    try {
      const loaded = await new FileBackend(dir, { segmentSize: 1 }).loadCheckpointNamed(c.name);
      let records = 0;
      for (let at = 0; at < loaded.bytes.length; ) {
        const k = check(loaded.bytes, at);
        if (!k.ok) break;
        apply(decode(loaded.bytes, at, k.size, k.type));
        records++;
        at += k.size;
      }
      checkpoint = { name: c.name, seq: c.seq, bytes: statSync(join(dir, c.name)).size, records };
      break;
    } catch (e) {
      // Damage is reported; a file that cannot be read is an error naming it (exit 1).
      if (!(e instanceof LogCorruptionError)) throw e;
      badCheckpoints.push({ where: e.file, offset: e.offset, why: e.why });
      lostUpTo = Math.max(lostUpTo, c.seq);
    }
  }
  if (segments.length === 0 && checkpoint === null && badCheckpoints.length === 0)
    throw new InvalidArgumentError(
      "directory",
      dir,
      "holds no mneme replication log (no log-*.seg, no checkpoint)",
    );
  const records: Record<string, number> = {};
  for (const name of Object.values(TYPE_NAMES)) if (name !== "END") records[name] = 0;
  let firstSeq: number | null = null;
  const report = await backend.replay(
    checkpoint?.seq ?? 0,
    (e) => {
      firstSeq ??= e.seq;
      records[TYPE_NAMES[e.type]]++;
      apply(e.record);
    },
    { skipCorrupt: true, readOnly: true, lostUpTo },
  );
  const owners: Record<string, number> = {};
  let bytes = 0;
  let maps = 0;
  for (const b of live.values()) {
    owners[b.owner] = (owners[b.owner] ?? 0) + 1;
    if (b.kind === "map") maps++;
    else bytes += b.size;
  }
  return {
    dir,
    segments,
    checkpoint,
    badCheckpoints,
    records,
    firstSeq,
    lastSeq: report.lastSeq,
    logBytes: report.bytes,
    live: { allocations: live.size - maps, maps, bytes, owners },
    tornTail: report.truncated,
    damage: report.skipped,
  };
}

export function formatInspect(r: InspectReport): string {
  const lines = [`replication directory ${r.dir}`];
  const segBytes = r.segments.reduce((a, s) => a + s.bytes, 0);
  lines.push(`segments: ${r.segments.length} (${segBytes} bytes)`);
  for (const s of r.segments) lines.push(`  ${s.name}  ${s.bytes} bytes, first record ${s.firstSeq}`);
  lines.push(
    r.checkpoint === null
      ? "checkpoint: none"
      : `checkpoint: ${r.checkpoint.name} at record ${r.checkpoint.seq} (${r.checkpoint.bytes} bytes, ${r.checkpoint.records} records)`,
  );
  for (const d of r.badCheckpoints)
    lines.push(`  DAMAGED checkpoint ${d.where} at offset ${d.offset}: ${d.why}`);
  const byType = Object.entries(r.records)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  const total = Object.values(r.records).reduce((a, b) => a + b, 0);
  lines.push(
    `records after the checkpoint: ${total} (${byType})${r.firstSeq === null ? "" : `, seq ${r.firstSeq}..${r.lastSeq}`}, ${r.logBytes} bytes`,
  );
  const owners = Object.entries(r.live.owners)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  lines.push(
    `live: ${r.live.allocations} allocations (${r.live.bytes} bytes), ${r.live.maps} map regions${owners ? `; owners: ${owners}` : ""}`,
  );
  lines.push(
    r.tornTail === null
      ? "torn tail: none"
      : `torn tail: ${r.tornTail.where} at offset ${r.tornTail.offset} (${r.tornTail.why}); a recovery cuts it there`,
  );
  if (r.damage.length === 0) lines.push("damage: none");
  for (const d of r.damage)
    lines.push(
      `DAMAGE: ${d.where} at offset ${d.offset}: ${d.why} (recovery refuses without --recover-skip-corrupt)`,
    );
  return lines.join("\n");
}

export function registerInspect(program: Command): void {
  program
    .command("inspect")
    .description(
      "summarize a replication directory (segments, records, checkpoint, live allocations, damage)",
    )
    .argument("<dir>", "the data directory given to serve --replicate file:DIR")
    .option("--json", "print the summary as JSON")
    .addHelpText(
      "after",
      "\nExit status: 0 when recovery would load the directory, 2 when it would refuse (damage in\n" +
        "the middle of the log, a bad checkpoint), 1 on an error.\n" +
        "\nExamples:\n  mneme inspect ./mneme-data\n  mneme inspect /var/lib/mneme --json | jq .live\n" +
        "  mneme inspect ./mneme-data || mneme serve --recover-skip-corrupt   (operator's choice)",
    )
    .action(async (dir: string, o: { json?: boolean }) => {
      const r = await inspectDir(dir);
      console.log(o.json ? JSON.stringify(r, null, 2) : formatInspect(r));
      if (r.damage.length > 0 || r.badCheckpoints.length > 0) process.exitCode = 2;
    });
}
