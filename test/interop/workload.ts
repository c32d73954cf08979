/**
 * Concurrent command workloads for the interop tests and the checks of their results: every
 * operation succeeded, and each result a proposer got is the one the agreed applied sequence implies.
 */
import { expect } from 'vitest';
import { type InteropNode, type OpResult, replay } from './harness.js';
import type { AppliedRecord, Scalar } from './ts-object.js';

export interface Proposed {
  readonly node: InteropNode;
  readonly op: 'incr' | 'put' | 'rm';
  readonly args: Scalar[];
  readonly outcome: OpResult;
}

const KEYS = ['k0', 'k1', 'k2', 'k3'];

/**
 * `perNode` rounds on every node, all in flight at once: each round is an `incr` by a value unique
 * in the test (so its record identifies it), a `put` of a unique value on one of four shared keys,
 * and every third round an `rm` of another shared key (present or not).
 */
export async function runWorkload(
  nodes: readonly InteropNode[],
  perNode: number,
  tag: string,
): Promise<Proposed[]> {
  const jobs: Promise<Proposed>[] = [];
  nodes.forEach((node, ni) => {
    for (let i = 0; i < perNode; i++) {
      const n = uniqueIncrement(tag, ni, i);
      jobs.push(node.incr(n).then((outcome) => ({ node, op: 'incr', args: [n], outcome })));
      const k = KEYS[(ni + i) % KEYS.length] as string;
      const v = `${tag}:${node.name}:${i}`;
      jobs.push(node.put(k, v).then((outcome) => ({ node, op: 'put', args: [k, v], outcome })));
      if (i % 3 === 2) {
        const rk = KEYS[(ni + i + 1) % KEYS.length] as string;
        jobs.push(node.rm(rk).then((outcome) => ({ node, op: 'rm', args: [rk], outcome })));
      }
    }
  });
  return Promise.all(jobs);
}

/** One proposal on one node, with its outcome. */
export async function propose(node: InteropNode, op: Proposed['op'], args: Scalar[]): Promise<Proposed> {
  const outcome =
    op === 'incr'
      ? await node.incr(args[0] as number)
      : op === 'put'
        ? await node.put(args[0] as string, args[1] as Scalar)
        : await node.rm(args[0] as string);
  return { node, op, args, outcome };
}

let tagCounter = 0;
const tagBase = new Map<string, number>();

/** Increments unique per (tag, node, round): 1 + a per-tag base + 1000 × node + round. */
function uniqueIncrement(tag: string, node: number, round: number): number {
  let base = tagBase.get(tag);
  if (base === undefined) {
    base = ++tagCounter * 100_000;
    tagBase.set(tag, base);
  }
  return base + node * 1000 + round + 1;
}

export function opsCount(proposed: readonly Proposed[]): number {
  return proposed.length;
}

/** A long value cut for messages: its start, its length. */
function short(text: string, max = 60): string {
  return text.length <= max ? text : `${text.slice(0, max)}…(${text.length} chars)`;
}

/** `py py1 put("k0", "a:py1:3")`, long arguments shortened. */
export function describeProposal(p: Proposed): string {
  return `${p.node.kind} ${p.node.name} ${p.op}(${p.args.map((a) => short(JSON.stringify(a))).join(', ')})`;
}

/** Every proposal succeeded (err 0 = SUCCESS); lists all failures otherwise. */
export function expectAllSucceeded(proposed: readonly Proposed[]): void {
  const failed = proposed.filter((p) => !p.outcome.ok || p.outcome.err !== 0);
  expect(
    failed.map((p) => `${describeProposal(p)} -> ${short(JSON.stringify(p.outcome))}`),
    'failed proposals',
  ).toEqual([]);
}

/**
 * The results the proposers got are the ones the applied sequence implies:
 * - incr(n): n is unique, so its record is found and the result must be the counter after it;
 * - put(k, v): v is unique, the result must be k's previous value at that point;
 * - rm(k): per key, the multiset of results must equal the multiset the sequence implies.
 * Each successful proposal must appear exactly once in the sequence, a DISCARDED one not at all.
 * For rm, when some rm failed or timed out (it may or may not have been applied), each result a
 * proposer got must still be one that an applied rm of that key yields.
 */
export function expectResultsMatch(records: readonly AppliedRecord[], proposed: readonly Proposed[]): void {
  const { results } = replay(records);
  const where = new Map<string, number[]>();
  records.forEach(([, , op, ...args], i) => {
    const key = op === 'rm' ? 'rm' : JSON.stringify([op, ...args]);
    const list = where.get(key) ?? [];
    list.push(i);
    where.set(key, list);
  });
  const rmExpected = new Map<string, Scalar[]>();
  const rmGot = new Map<string, Scalar[]>();
  for (const i of where.get('rm') ?? []) {
    const k = (records[i] as AppliedRecord)[3] as string;
    rmExpected.set(k, [...(rmExpected.get(k) ?? []), results[i] as Scalar]);
  }
  for (const p of proposed) {
    if (!p.outcome.ok) continue; // timed out: may or may not have been applied
    const who = describeProposal(p);
    if (p.outcome.err !== 0) {
      // DISCARDED means another entry took its index: it must not have been applied; other
      // reasons (LEADER_CHANGED, NOT_LEADER…) leave it open, as in pysyncobj
      if (p.outcome.err === 3 && p.op !== 'rm') {
        const at = where.get(JSON.stringify([p.op, ...p.args])) ?? [];
        expect(at, `${who} was reported DISCARDED to its proposer but applied`).toEqual([]);
      }
      continue;
    }
    if (p.op === 'rm') {
      const k = p.args[0] as string;
      rmGot.set(k, [...(rmGot.get(k) ?? []), p.outcome.result]);
      continue;
    }
    const at = where.get(JSON.stringify([p.op, ...p.args])) ?? [];
    expect(
      at.length,
      `${who} must be applied exactly once (applied at positions ${JSON.stringify(at)})`,
    ).toBe(1);
    const i = at[0] as number;
    expect(
      p.outcome.result,
      `${who} returned ${short(JSON.stringify(p.outcome.result))} to its proposer, but applied as ${short(JSON.stringify(records[i]), 120)} it yields ${short(JSON.stringify(results[i]))}`,
    ).toEqual(results[i]);
  }
  const norm = (m: Map<string, Scalar[]>) =>
    Object.fromEntries(
      [...m.entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => [k, v.map((x) => JSON.stringify(x)).sort()]),
    );
  const rmUncertain = proposed.some((p) => p.op === 'rm' && (!p.outcome.ok || p.outcome.err !== 0));
  if (!rmUncertain) {
    expect(
      norm(rmGot),
      'rm results per key (what proposers got vs what the applied sequence implies)',
    ).toEqual(norm(rmExpected));
    return;
  }
  // some rm may or may not have been applied: what proposers got must be among what was applied
  for (const [k, got] of rmGot) {
    const left = [...(rmExpected.get(k) ?? [])].map((x) => JSON.stringify(x));
    for (const g of got) {
      const i = left.indexOf(JSON.stringify(g));
      expect(
        i,
        `rm(${k}) returned ${JSON.stringify(g)}, which no applied rm(${k}) yields`,
      ).toBeGreaterThanOrEqual(0);
      left.splice(i, 1);
    }
  }
}

/** Indexes strictly increase and terms never decrease along an applied sequence. */
export function expectWellOrdered(records: readonly AppliedRecord[], who: string): void {
  for (let i = 1; i < records.length; i++) {
    const [pi, pt] = records[i - 1] as AppliedRecord;
    const [ci, ct] = records[i] as AppliedRecord;
    if (!(ci > pi && ct >= pt)) {
      throw new Error(
        `${who}: applied out of order at position ${i}: ${short(JSON.stringify(records[i - 1]), 120)} then ${short(JSON.stringify(records[i]), 120)}`,
      );
    }
  }
}
