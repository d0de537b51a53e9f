/**
 * NodeLists (src/vm/policies/lists.ts), the lists and key index every policy is built on, against
 * a plain model: a Map from key to list and an array per list in head-to-tail order. The keys mix
 * small integers with the address space's store id * 2^32 + page keys, negatives and fractions,
 * and few enough distinct values that adds and deletes collide in the open-addressed index
 * (backward-shift deletion must keep every other key findable).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NIL, NodeLists } from "../../src/vm/policies/lists.js";

const LISTS = 3;

const key = fc.oneof(
  fc.integer({ min: 0, max: 40 }),
  fc.integer({ min: 0, max: 40 }).map((p) => 2 ** 32 * (1 + (p % 3)) + p),
  fc.constantFrom(-1, -(2 ** 33), 0.5, 2 ** 53 - 1),
);

const op = fc.oneof(
  fc.record({ kind: fc.constant("add" as const), key, list: fc.integer({ min: 0, max: LISTS - 1 }) }),
  fc.record({ kind: fc.constant("delete" as const), key }),
  fc.record({ kind: fc.constant("move" as const), key, list: fc.integer({ min: 0, max: LISTS - 1 }) }),
);

function listKeys(l: NodeLists, list: number): number[] {
  const out: number[] = [];
  for (let n = l.head[list]; n !== NIL; n = l.older[n]) out.push(l.key[n]);
  return out;
}

describe("NodeLists", () => {
  it("matches a Map-and-arrays model under random adds, deletes and moves", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), fc.integer({ min: 1, max: 64 }), (ops, initial) => {
        const l = new NodeLists(LISTS, initial);
        const where = new Map<number, number>();
        const lists: number[][] = Array.from({ length: LISTS }, () => []);
        for (const o of ops) {
          const n = l.find(o.key);
          expect(n !== NIL).toBe(where.has(o.key));
          if (o.kind === "add") {
            if (n !== NIL) continue;
            l.add(o.key, o.list);
            where.set(o.key, o.list);
            lists[o.list].unshift(o.key);
          } else if (n !== NIL) {
            const from = where.get(o.key) as number;
            lists[from].splice(lists[from].indexOf(o.key), 1);
            if (o.kind === "delete") {
              l.delete(n);
              where.delete(o.key);
            } else {
              l.moveToHead(n, o.list);
              where.set(o.key, o.list);
              lists[o.list].unshift(o.key);
            }
          }
        }
        l.check("model");
        expect(l.count).toBe(where.size);
        expect([...l.keys()].sort((a, b) => a - b)).toEqual([...where.keys()].sort((a, b) => a - b));
        for (let i = 0; i < LISTS; i++) {
          expect(listKeys(l, i)).toEqual(lists[i]);
          expect(l.size[i]).toBe(lists[i].length);
        }
        for (const [k, list] of where) expect(l.list[l.find(k)]).toBe(list);
      }),
      { numRuns: 300 },
    );
  });

  it("keeps every key findable under churn near half full (probe runs wrap the index's end)", () => {
    // 256 initial nodes give 512 slots; 200-250 live keys keep it 40-49% full without growing.
    const l = new NodeLists(1, 256);
    const live: number[] = [];
    let x = 12345;
    const next = () => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return x;
    };
    for (let i = 0; i < 50000; i++) {
      const add = live.length < 200 || (live.length < 250 && next() % 2 === 0);
      if (add) {
        const k = 2 ** 32 * (1 + (next() % 5)) + next();
        if (l.has(k)) continue;
        l.add(k, 0);
        live.push(k);
      } else {
        const at = next() % live.length;
        const k = live[at];
        live[at] = live[live.length - 1];
        live.pop();
        l.delete(l.find(k));
      }
      if (i % 1000 === 0) for (const k of live) expect(l.key[l.find(k)]).toBe(k);
    }
    l.check("churn");
    expect(l.count).toBe(live.length);
  });

  it("finds every key after the index grows and after most keys are deleted again", () => {
    const l = new NodeLists(1, 16);
    const keys = Array.from({ length: 5000 }, (_, i) => 2 ** 32 * 7 + i * 4097);
    for (const k of keys) l.add(k, 0);
    for (const k of keys) expect(l.key[l.find(k)]).toBe(k);
    for (let i = 0; i < keys.length; i++) if (i % 10 !== 0) l.delete(l.find(keys[i]));
    l.check("grown");
    expect(l.count).toBe(500);
    for (let i = 0; i < keys.length; i++) expect(l.has(keys[i])).toBe(i % 10 === 0);
  });
});
