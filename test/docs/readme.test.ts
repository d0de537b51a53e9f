import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url).pathname;
const readme = readFileSync(join(root, "README.md"), "utf8");
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);

/** Runs a README block as pasted (imports of "mneme" resolve to this package) and returns its output. */
function run(block: string): string {
  const dir = mkdtempSync(join(root, "test", "docs", ".readme-"));
  try {
    const file = join(dir, "block.ts");
    writeFileSync(file, block);
    return execFileSync(process.execPath, ["--import", "tsx", file], { cwd: root, encoding: "utf8" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("README", () => {
  it("has a short quick start that runs when pasted and shows the typed error", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    expect(blocks[0].trim().split("\n").length).toBeLessThanOrEqual(15);
    const out = run(blocks[0]);
    expect(out).toContain("true");
    expect(out).toContain("free blocks per order");
  });

  it("objects block: 34 objects per slab, a vread across pages", () => {
    const block = blocks.find((b) => b.includes("createCache"));
    expect(block).toBeDefined();
    const out = run(block as string);
    expect(out.split("\n")[0]).toBe("34");
    expect(out.split("\n")[1]).toBe("1,2,3,4,5,6,7,8 320");
  });

  it("virtual memory block: reads back what it wrote far into a file larger than its frames", () => {
    const block = blocks.find((b) => b.includes("AddressSpace"));
    expect(block).toBeDefined();
    const out = run(block as string);
    expect(out).toContain("far away");
    expect(out).toMatch(/faults: [1-9]/);
  });
});
