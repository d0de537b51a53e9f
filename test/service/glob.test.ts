/**
 * Redis's glob patterns (CONFIG GET, COMMAND LIST FILTERBY PATTERN) against a reference
 * implementation on every short pattern over a small alphabet, and a pattern of many stars,
 * which took exponential time with a matcher that tried every split.
 */
import { describe, expect, it } from "vitest";
import { globMatch } from "../../src/service/glob.js";

/** A literal transcription of the recursive definition, for short inputs only. */
function reference(p: string, s: string): boolean {
  if (p === "") return s === "";
  if (p[0] === "*") return reference(p.slice(1), s) || (s !== "" && reference(p, s.slice(1)));
  if (s === "") return false;
  if (p[0] === "?") return reference(p.slice(1), s.slice(1));
  if (p[0] === "[") {
    const end = p.indexOf("]", 1);
    const body = end < 0 ? p.slice(1) : p.slice(1, end);
    const rest = end < 0 ? "" : p.slice(end + 1);
    const not = body.startsWith("^");
    const set = not ? body.slice(1) : body;
    return set.includes(s[0]) !== not && reference(rest, s.slice(1));
  }
  return p[0] === s[0] && reference(p.slice(1), s.slice(1));
}

function* words(alphabet: string, max: number): Generator<string> {
  yield "";
  if (max === 0) return;
  for (const w of words(alphabet, max - 1)) if (w.length === max - 1) for (const c of alphabet) yield w + c;
}

function all(alphabet: string, max: number): string[] {
  const out: string[] = [];
  for (let n = 0; n <= max; n++) for (const w of words(alphabet, n)) if (w.length === n) out.push(w);
  return out;
}

describe("globMatch", () => {
  it("agrees with the recursive definition for every pattern of *, ?, a, b, [ab], [^a] up to 4 tokens", () => {
    const tokens = ["*", "?", "a", "b", "[ab]", "[^a]"];
    let patterns = [""];
    const every = [""];
    for (let n = 0; n < 4; n++) {
      patterns = patterns.flatMap((p) => tokens.map((t) => p + t));
      every.push(...patterns);
    }
    const texts = all("abc", 4);
    const wrong: string[] = [];
    for (const p of every)
      for (const s of texts) if (globMatch(p, s) !== reference(p, s)) wrong.push(`${p} on ${s}`);
    expect(wrong).toEqual([]);
  });

  it("ignores case, takes ranges and escapes", () => {
    expect(globMatch("MAX*", "maxclients")).toBe(true);
    expect(globMatch("[a-c]x", "bx")).toBe(true);
    expect(globMatch("[c-a]x", "bx")).toBe(true);
    expect(globMatch("[a-c]x", "dx")).toBe(false);
    expect(globMatch("a\\*", "a*")).toBe(true);
    expect(globMatch("a\\*", "ab")).toBe(false);
    expect(globMatch("a\\?", "ab")).toBe(false);
  });

  it("a pattern of many stars that does not match returns (it took exponential time)", () => {
    expect(globMatch(`${"*a".repeat(40)}b`, "a".repeat(200))).toBe(false);
  });
});
