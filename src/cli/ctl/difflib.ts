/**
 * Python's `difflib.unified_diff(a, b)` (3 lines of context, no file names), the diff
 * `patronictl edit-config` shows. Hunks are computed with difflib's own matcher
 * (`SequenceMatcher`: longest matching block first, recursively on both sides; with `autojunk`,
 * lines occurring more than 1% + 1 times in a sequence of ≥ 200 lines are not used as anchors), so
 * the hunks are the ones patronictl prints, not merely a valid diff. Pure: no I/O.
 */
import { assert } from '../../assert.js';

interface Match {
  readonly a: number;
  readonly b: number;
  readonly size: number;
}

type Opcode = readonly [
  tag: 'equal' | 'replace' | 'delete' | 'insert',
  i1: number,
  i2: number,
  j1: number,
  j2: number,
];

class SequenceMatcher {
  private readonly b2j = new Map<string, number[]>();

  constructor(
    private readonly a: readonly string[],
    private readonly b: readonly string[],
  ) {
    b.forEach((line, j) => {
      const list = this.b2j.get(line);
      if (list) list.push(j);
      else this.b2j.set(line, [j]);
    });
    if (b.length >= 200) {
      const limit = Math.floor(b.length / 100) + 1;
      for (const [line, js] of [...this.b2j]) if (js.length > limit) this.b2j.delete(line);
    }
  }

  private longestMatch(alo: number, ahi: number, blo: number, bhi: number): Match {
    let besti = alo;
    let bestj = blo;
    let bestsize = 0;
    let j2len = new Map<number, number>();
    for (let i = alo; i < ahi; i++) {
      const next = new Map<number, number>();
      const line = this.a[i];
      for (const j of (line === undefined ? undefined : this.b2j.get(line)) ?? []) {
        if (j < blo) continue;
        if (j >= bhi) break;
        const k = (j2len.get(j - 1) ?? 0) + 1;
        next.set(j, k);
        if (k > bestsize) {
          besti = i - k + 1;
          bestj = j - k + 1;
          bestsize = k;
        }
      }
      j2len = next;
    }
    // no junk function: extend over equal lines (the popular ones the index left out)
    while (besti > alo && bestj > blo && this.a[besti - 1] === this.b[bestj - 1]) {
      besti--;
      bestj--;
      bestsize++;
    }
    while (
      besti + bestsize < ahi &&
      bestj + bestsize < bhi &&
      this.a[besti + bestsize] === this.b[bestj + bestsize]
    ) {
      bestsize++;
    }
    return { a: besti, b: bestj, size: bestsize };
  }

  private matchingBlocks(): Match[] {
    const queue: [number, number, number, number][] = [[0, this.a.length, 0, this.b.length]];
    const blocks: Match[] = [];
    while (queue.length > 0) {
      const [alo, ahi, blo, bhi] = queue.pop() as [number, number, number, number];
      const m = this.longestMatch(alo, ahi, blo, bhi);
      if (m.size > 0) {
        blocks.push(m);
        if (alo < m.a && blo < m.b) queue.push([alo, m.a, blo, m.b]);
        if (m.a + m.size < ahi && m.b + m.size < bhi) queue.push([m.a + m.size, ahi, m.b + m.size, bhi]);
      }
    }
    blocks.sort((x, y) => x.a - y.a || x.b - y.b || x.size - y.size);
    const merged: Match[] = [];
    let cur: Match = { a: 0, b: 0, size: 0 };
    for (const m of blocks) {
      if (cur.a + cur.size === m.a && cur.b + cur.size === m.b) cur = { ...cur, size: cur.size + m.size };
      else {
        if (cur.size > 0) merged.push(cur);
        cur = m;
      }
    }
    if (cur.size > 0) merged.push(cur);
    merged.push({ a: this.a.length, b: this.b.length, size: 0 });
    return merged;
  }

  private opcodes(): Opcode[] {
    let i = 0;
    let j = 0;
    const out: Opcode[] = [];
    for (const m of this.matchingBlocks()) {
      if (i < m.a && j < m.b) out.push(['replace', i, m.a, j, m.b]);
      else if (i < m.a) out.push(['delete', i, m.a, j, m.b]);
      else if (j < m.b) out.push(['insert', i, m.a, j, m.b]);
      i = m.a + m.size;
      j = m.b + m.size;
      if (m.size > 0) out.push(['equal', m.a, i, m.b, j]);
    }
    return out;
  }

  groupedOpcodes(n: number): Opcode[][] {
    const codes = this.opcodes();
    if (codes.length === 0) codes.push(['equal', 0, 1, 0, 1]);
    const first = codes[0];
    if (first?.[0] === 'equal') {
      codes[0] = [
        'equal',
        Math.max(first[1], first[2] - n),
        first[2],
        Math.max(first[3], first[4] - n),
        first[4],
      ];
    }
    const last = codes.at(-1);
    if (last?.[0] === 'equal') {
      codes[codes.length - 1] = [
        'equal',
        last[1],
        Math.min(last[2], last[1] + n),
        last[3],
        Math.min(last[4], last[3] + n),
      ];
    }
    const groups: Opcode[][] = [];
    let group: Opcode[] = [];
    for (const code of codes) {
      let [tag, i1, i2, j1, j2] = code;
      if (tag === 'equal' && i2 - i1 > 2 * n) {
        group.push(['equal', i1, Math.min(i2, i1 + n), j1, Math.min(j2, j1 + n)]);
        groups.push(group);
        group = [];
        i1 = Math.max(i1, i2 - n);
        j1 = Math.max(j1, j2 - n);
      }
      group.push([tag, i1, i2, j1, j2]);
    }
    if (group.length > 0 && !(group.length === 1 && group[0]?.[0] === 'equal')) groups.push(group);
    return groups;
  }
}

function range(start: number, stop: number): string {
  let beginning = start + 1;
  const length = stop - start;
  if (length === 1) return String(beginning);
  if (length === 0) beginning -= 1;
  return `${beginning},${length}`;
}

/**
 * `difflib.unified_diff(a, b, n=context)` with `lineterm=''`: the lines of the diff (the first two
 * are `--- ` and `+++ `), or `[]` when the sequences are equal.
 */
export function unifiedDiff(a: readonly string[], b: readonly string[], context = 3): string[] {
  const out: string[] = [];
  for (const group of new SequenceMatcher(a, b).groupedOpcodes(context)) {
    if (out.length === 0) out.push('--- ', '+++ ');
    const first = group[0];
    const last = group.at(-1);
    assert(first !== undefined && last !== undefined, 'an empty group of diff opcodes');
    out.push(`@@ -${range(first[1], last[2])} +${range(first[3], last[4])} @@`);
    for (const [tag, i1, i2, j1, j2] of group) {
      if (tag === 'equal') {
        for (const line of a.slice(i1, i2)) out.push(` ${line}`);
        continue;
      }
      if (tag === 'replace' || tag === 'delete') for (const line of a.slice(i1, i2)) out.push(`-${line}`);
      if (tag === 'replace' || tag === 'insert') for (const line of b.slice(j1, j2)) out.push(`+${line}`);
    }
  }
  return out;
}

/** patronictl's `show_diff` lines: both texts split into lines (trailing newlines ignored). */
export function configDiff(before: string, after: string): string[] {
  const lines = (s: string) => s.replace(/\n+$/, '').split('\n');
  return unifiedDiff(lines(before), lines(after));
}
