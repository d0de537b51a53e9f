/**
 * Shared pieces of the benchmarks: the result shape every bench module returns, a seeded PRNG,
 * medians, the machine line, table rendering and pre-faulting of fresh buffers.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import os from "node:os";

/** Options every bench module accepts. */
export interface BenchOptions {
  /** Timed runs per measurement (the median is reported); at least 5. */
  runs: number;
  /** Short sequences and fewer runs: a smoke test of the harness, not figures. */
  quick: boolean;
  /** Only the parts (workloads) whose key contains this, when set (for profiling one shape). */
  only?: string;
  /** Progress lines (stderr). */
  log: (line: string) => void;
}

/** What a bench module's run() resolves to. */
export interface BenchResult {
  /** Short name, also what the command-line filter matches. */
  name: string;
  /** A readable table for the terminal. */
  text: string;
  /** The same figures as a markdown table (for BENCHMARKS.md). */
  markdown: string;
  /** Everything measured, for the JSON line. */
  data: unknown;
}

/** A bench module: bench/<name>.bench.ts exporting run(). */
export interface BenchModule {
  run(options: BenchOptions): Promise<BenchResult>;
}

/** mulberry32: small, fast and good enough to generate request sequences. Returns [0, 1). */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * Writes every page of a fresh buffer once (a byte or-ed with 0, so nothing
 * changes), so the kernel's first-touch page faults happen here and not in a timed loop.
 */
export function prefault(bytes: Uint8Array): void {
  for (let i = 0; i < bytes.length; i += 4096) bytes[i] |= 0;
}

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
  date: string;
  /** Short hash of src/page/buddy.ts, so figures can be tied to the allocator they measured. */
  buddy: string;
}

export function machine(): Machine {
  const cpus = os.cpus();
  let buddy = "unknown";
  try {
    const src = readFileSync(new URL("../src/page/buddy.ts", import.meta.url));
    buddy = createHash("sha256").update(src).digest("hex").slice(0, 10);
  } catch {
    // running from somewhere without the source tree
  }
  return {
    cpu: cpus[0]?.model.trim() ?? "unknown CPU",
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    date: new Date().toISOString().slice(0, 16).replace("T", " "),
    buddy,
  };
}

/** The machine alone: CPU, cores, memory, Node, platform. */
export function hostLine(m: Machine): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, Node ${m.node}, ${m.platform}`;
}

/** The machine, when, and which buddy.ts was measured. */
export function machineLine(m: Machine): string {
  return `${hostLine(m)}, ${m.date} UTC, buddy.ts ${m.buddy}`;
}

/** A plain text table, first column left-aligned and the others right-aligned. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  const rule = `|${header.map((_, c) => (c === 0 ? "---" : "---:")).join("|")}|`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}
