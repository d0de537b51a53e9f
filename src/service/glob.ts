/**
 * Redis's glob patterns (stringmatchlen, case-insensitive as CONFIG GET and COMMAND LIST FILTERBY
 * PATTERN use it): `*` any run, `?` one character, `[abc]`, `[^a]`, `[a-z]` a set, `\x` the
 * character x itself. A `[` without its `]` takes the rest of the pattern as the set, as Redis does.
 */

/** Whether `text` matches `pattern`, ignoring case. */
export function globMatch(pattern: string, text: string): boolean {
  return matchFrom(pattern.toLowerCase(), 0, text.toLowerCase(), 0);
}

/**
 * Every token but `*` matches exactly one character, so the classic two-pointer walk is exact: on
 * a mismatch, the last `*` takes one more character and the walk resumes after it. O(pattern x
 * text) at worst, where trying every split at every `*` was exponential in the stars (a CONFIG GET
 * of "*a*a*a*...b" would have held the server).
 */
function matchFrom(p: string, pi: number, s: string, si: number): boolean {
  let star = -1;
  let starAt = 0;
  while (si < s.length) {
    if (pi < p.length && p[pi] === "*") {
      star = ++pi;
      starAt = si;
      continue;
    }
    const next = pi < p.length ? matchOne(p, pi, s[si]) : -1;
    if (next >= 0) {
      pi = next;
      si++;
    } else if (star >= 0) {
      pi = star;
      si = ++starAt;
    } else return false;
  }
  while (pi < p.length && p[pi] === "*") pi++;
  return pi === p.length;
}

/** Where the pattern goes on when its token at p[pi] matches `ch`; -1 when it does not. */
function matchOne(p: string, pi: number, ch: string): number {
  const c = p[pi];
  if (c === "?") return pi + 1;
  if (c === "[") {
    const [matched, next] = matchSet(p, pi + 1, ch);
    return matched ? next : -1;
  }
  if (c === "\\" && pi + 1 < p.length) return p[pi + 1] === ch ? pi + 2 : -1;
  return c === ch ? pi + 1 : -1;
}

/** Whether `ch` is in the set that starts at p[i] (after its '['); and where the pattern goes on. */
function matchSet(p: string, i: number, ch: string): [boolean, number] {
  const not = p[i] === "^";
  if (not) i++;
  let matched = false;
  while (i < p.length && p[i] !== "]") {
    if (p[i] === "\\" && i + 1 < p.length) {
      i++;
      if (p[i] === ch) matched = true;
    } else if (i + 2 < p.length && p[i + 1] === "-" && p[i + 2] !== "]") {
      let lo = p[i];
      let hi = p[i + 2];
      if (lo > hi) [lo, hi] = [hi, lo];
      if (ch >= lo && ch <= hi) matched = true;
      i += 2;
    } else if (p[i] === ch) matched = true;
    i++;
  }
  return [not ? !matched : matched, i + 1];
}
