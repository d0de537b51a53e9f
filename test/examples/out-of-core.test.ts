/**
 * examples/out-of-core runs for real: a sparse 1 GiB file mapped through an AddressSpace with
 * 16384 frames, a 96 MiB region (more than the 64 MiB of frames) filled and scanned with the
 * sequential hint, random updates with the random hint, a willneed prefetch and a dontneed
 * release; the example checks every element of the scan, each update through the vm and in the
 * file itself. The array's argument checks run in this thread.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AddressSpace, AnonymousStore, InvalidArgumentError } from "mneme";
import { describe, expect, it, vi } from "vitest";
import type { Summary } from "../../examples/out-of-core/main.js";
import { PagedFloat64Array } from "../../examples/out-of-core/paged-array.js";
import { lastJson, runExample } from "./run-example.js";

// "mneme" is the sources here and in the example's modules (vi.mock is hoisted).
vi.mock("mneme", () => import("../../src/index.js"));

describe("out-of-core example", () => {
  it("pages a 96 MiB region of a sparse 1 GiB file through 64 MiB of frames, with hints", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mneme-ooc-test-"));
    try {
      const { stdout } = await runExample("examples/out-of-core/main.ts", ["--file", join(dir, "a.f64")]);
      expect(stdout).toMatch(/^fill +faults \d+, hits \d+, evictions \d+, writebacks \d+/m);
      const s = lastJson<Summary>(stdout);
      expect(s).toMatchObject({
        fileBytes: 1024 ** 3,
        frames: 16_384,
        regionBytes: 96 * 1024 ** 2,
        scanMismatches: 0,
        scanSumOk: true,
        updatesOk: true,
        untouchedOk: true,
        farOk: true,
        fileOk: true,
      });
      // Sparse: on disk, about the region that was written, far from the 1 GiB the file spans.
      expect(s.diskBytes).toBeLessThan(s.fileBytes / 4);
      const { fill, scan, random, far, release } = s.phases;
      // The region does not fit: filling it evicts and writes back; scanning it faults it back in.
      expect(fill.faults).toBe(96 * 256);
      expect(fill.evictions).toBe(96 * 256 - 16_384);
      expect(fill.writebacks).toBeGreaterThan(0);
      expect(scan.faults).toBeGreaterThan(16_384 / 2);
      expect(scan.evictions).toBeGreaterThan(0);
      // sequential: read-ahead on the scan; random: none on the updates.
      expect(scan.readahead).toBeGreaterThan(0);
      expect(random.faults).toBeGreaterThan(0);
      expect(random.readahead).toBe(0);
      // willneed read the far window in (one prefetch per read-ahead batch).
      expect(far.prefetched + far.readahead).toBe(256);
      // dontneed wrote the dirty pages back and dropped the region.
      expect(release.writebacks).toBeGreaterThan(0);
      expect(release.dropped).toBeGreaterThan(0);
      expect(release.dirty).toBe(0);
      expect(release.resident).toBe(256);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("get/set/read/write/advise on a small space, and typed errors for bad indices", async () => {
    const space = new AddressSpace({ frames: 4 });
    try {
      const v = space.map({ length: 16 * 4096, store: new AnonymousStore() });
      const a = new PagedFloat64Array(space, v, 16 * 512);
      await a.set(5, Math.PI);
      expect(await a.get(5)).toBe(Math.PI);
      await a.write(1000, Float64Array.of(1, 2, 3));
      expect([...(await a.read(999, 5))]).toEqual([0, 1, 2, 3, 0]);
      await a.advise(0, a.length, "random");
      const before = space.stats();
      await expect(a.get(a.length)).rejects.toThrow(InvalidArgumentError);
      await expect(a.get(-1)).rejects.toThrow(InvalidArgumentError);
      await expect(a.get(1.5)).rejects.toThrow(InvalidArgumentError);
      await expect(a.set(a.length, 1)).rejects.toThrow(InvalidArgumentError);
      await expect(a.read(a.length - 2, 3)).rejects.toThrow(InvalidArgumentError);
      await expect(a.write(a.length - 1, Float64Array.of(1, 2))).rejects.toThrow(InvalidArgumentError);
      await expect(a.advise(0, 0, "random")).rejects.toThrow(InvalidArgumentError);
      expect(space.stats()).toEqual(before);
      expect(() => new PagedFloat64Array(space, v, 0)).toThrow(InvalidArgumentError);
      expect(await a.get(5)).toBe(Math.PI);
    } finally {
      await space.close();
    }
  });
});
