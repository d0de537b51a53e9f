import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url).pathname;

/** The README's TypeScript blocks must run as pasted (imports of "mneme" resolve to this package). */
describe("README quick start", () => {
  it("runs when pasted and shows the typed error", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
    expect(blocks.length).toBeGreaterThan(0);
    expect(blocks[0].trim().split("\n").length).toBeLessThanOrEqual(15);
    const dir = mkdtempSync(join(root, "test", "docs", ".quickstart-"));
    try {
      const file = join(dir, "quickstart.ts");
      writeFileSync(file, blocks[0]);
      const out = execFileSync(process.execPath, ["--import", "tsx", file], { cwd: root, encoding: "utf8" });
      expect(out).toContain("true");
      expect(out).toContain("free blocks per order");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
