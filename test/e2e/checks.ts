/**
 * Checks the end-to-end scenarios share: rows written on the leader and read on every replica,
 * the leader key as the DCS holds it (through `raftdcs ctl dump`), a window in which the leadership
 * must not move, a witness catching up with the Raft log after a restart, and every Raft member
 * following one leader — with the death of a Patroni node's pysyncobj tick thread recognised and
 * explained.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { ctl } from '../cli/ctl-helpers.js';
import type { E2eCluster, Healthy } from './harness.js';
import type { Witness } from './node.js';
import { psqlOk, raftStatus, until } from './observe.js';
import { START_MARKER } from './procs.js';

/** Bounds, in ms, and why. */
export const BOUNDS = {
  /** initdb, the first leader, pg_basebackup of each replica, streaming; on a loaded 2-core machine */
  bootstrapMs: 180_000,
  /** a committed row reaching every streaming replica */
  replicateMs: 30_000,
  /** a former leader back as a streaming replica: pg_rewind or a new clone, then streaming */
  rejoinMs: 150_000,
} as const;

export const TABLE = 'e2e_rows';

/** Create the table on the leader (once). */
export async function createTable(c: E2eCluster, h: Healthy): Promise<void> {
  await psqlOk(
    c.node(h.leader).addrs.pg,
    `CREATE TABLE ${TABLE} (id int PRIMARY KEY, step text NOT NULL, written_on text NOT NULL)`,
  );
}

/**
 * Insert row `id` on the leader, then wait until every replica returns it; the milliseconds from
 * the commit to the last replica seeing it.
 */
export async function writeAndReplicate(
  c: E2eCluster,
  h: Healthy,
  id: number,
  step: string,
): Promise<number> {
  await psqlOk(c.node(h.leader).addrs.pg, `INSERT INTO ${TABLE} VALUES (${id}, '${step}', '${h.leader}')`);
  const t0 = Date.now();
  await Promise.all(
    h.replicas.map((r) =>
      until(`row ${id} (${step}) on replica ${r}`, BOUNDS.replicateMs, async () => {
        const out = await psqlOk(c.node(r).addrs.pg, `SELECT step FROM ${TABLE} WHERE id = ${id}`);
        return out === step ? true : undefined;
      }),
    ),
  );
  return Date.now() - t0;
}

/** The ids in the table, read on `node`. */
export async function rowIds(c: E2eCluster, node: string): Promise<number[]> {
  const out = await psqlOk(c.node(node).addrs.pg, `SELECT id FROM ${TABLE} ORDER BY id`);
  return out === '' ? [] : out.split('\n').map(Number);
}

export interface LeaderKey {
  readonly value: string;
  readonly index: number;
  readonly created: string;
  readonly updated: string;
}

/** The leader key of the cluster, read through `raftdcs ctl dump` with a node's YAML. */
export async function leaderKey(c: E2eCluster): Promise<LeaderKey | null> {
  const yaml = (c.nodes[0] ?? expect.unreachable('no nodes')).yamlFile;
  const r = await ctl(['-c', yaml, 'dump', 'leader', '-f', 'json'], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`raftdcs ctl dump leader failed (${r.code}): ${r.stderr}`);
  const rows = JSON.parse(r.stdout) as (LeaderKey & { key: string })[];
  const row = rows.find((x) => x.key.endsWith('/leader'));
  return row ? { value: row.value, index: row.index, created: row.created, updated: row.updated } : null;
}

/**
 * Watch for `windowMs`: on every poll `h.leader` is a running master on `h.timeline` and no other
 * node is a master. Returns the number of polls.
 */
export async function expectLeadershipStable(c: E2eCluster, h: Healthy, windowMs: number): Promise<number> {
  const end = Date.now() + windowMs;
  const maxPolls = Math.ceil(windowMs / 500) + 1;
  let polls = 0;
  while (Date.now() < end && polls < maxPolls) {
    const st = await c.statuses();
    polls++;
    const leader = st.get(h.leader);
    const seen = JSON.stringify(
      Object.fromEntries([...st].map(([n, s]) => [n, s && [s.role, s.state, s.timeline]])),
    );
    expect(leader?.role, `poll ${polls}: ${seen}`).toBe('master');
    expect(leader?.timeline, `poll ${polls}: ${seen}`).toBe(h.timeline);
    for (const [name, s] of st)
      if (name !== h.leader) expect(s?.role, `poll ${polls}: ${seen}`).not.toBe('master');
    await new Promise((r) => setTimeout(r, Math.min(500, Math.max(0, end - Date.now()))));
  }
  return polls;
}

/**
 * Wait until `w` follows a Raft leader and has applied at least what that leader had committed
 * when the wait began; the milliseconds it took.
 */
export async function waitWitnessCaughtUp(c: E2eCluster, w: Witness, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  const target = await until('a Raft leader that reports its commit index', timeoutMs, async () => {
    for (const n of c.nodes) {
      const s = await raftStatus(n.addrs.raft);
      if (s?.leader) {
        const ls = s.leader === n.addrs.raft ? s : await raftStatus(s.leader);
        if (ls) return ls.commitIdx;
      }
    }
    return undefined;
  });
  let last = '';
  await until(
    `${w.label} to follow a Raft leader and apply index ${target}`,
    timeoutMs,
    async () => {
      const s = await raftStatus(w.addr);
      last = JSON.stringify(s);
      return s?.leader && s.lastApplied >= target ? true : undefined;
    },
    () => last,
    200,
  );
  return Date.now() - t0;
}

/**
 * What the Patroni logs (the current process of each node: the text after the last start marker)
 * show of a dead pysyncobj tick thread — then the node's Raft member is gone.
 */
export function pysyncobjTickDeaths(c: E2eCluster): string[] {
  const out: string[] = [];
  for (const n of c.nodes) {
    let text = '';
    try {
      text = readFileSync(n.logFile, 'utf8');
    } catch {
      continue;
    }
    text = text.slice(Math.max(0, text.lastIndexOf(START_MARKER)));
    const at = text.indexOf('Exception in thread Thread-2 (_autoTickThread)');
    if (at >= 0) {
      const tb = text.slice(at).split('\n').slice(0, 30);
      const last = tb.find((l) => /^\w*Error/.test(l)) ?? '(no exception line)';
      const site = tb.filter((l) => l.includes('pysyncobj/syncobj.py')).pop() ?? '';
      out.push(`${n.name}: pysyncobj tick thread died: ${last.trim()} at ${site.trim()}`);
    }
  }
  return out;
}

/**
 * Wait until every Raft member — each Patroni node's and each witness — answers the `status`
 * command, all name the same leader, and each has applied what that leader had committed when it
 * was asked. Fails at once, with the reason, when a Patroni node's pysyncobj tick thread died
 * (then that node's Raft member answers nothing and takes no part any more).
 */
export async function waitRaftConverged(c: E2eCluster, timeoutMs: number, what: string): Promise<void> {
  const members = [
    ...c.nodes.map((n) => [n.name, n.addrs.raft]),
    ...c.witnesses.map((w) => [w.label, w.addr]),
  ];
  let last = '';
  let deaths: string[] = [];
  try {
    await until(
      `every Raft member to follow one leader and apply its commit index (${what})`,
      timeoutMs,
      async () => {
        deaths = pysyncobjTickDeaths(c);
        if (deaths.length > 0) return true; // no point waiting: thrown below
        const st = await Promise.all(members.map(([, a]) => raftStatus(a as string)));
        last = members.map(([n], i) => `${n}=${JSON.stringify(st[i])}`).join(' ');
        const leader = st[0]?.leader;
        if (!leader || st.some((s) => s === null || s.leader !== leader)) return undefined;
        const ls = st[members.findIndex(([, a]) => a === leader)];
        if (!ls) return undefined;
        return st.every((s) => (s?.lastApplied ?? -1) >= ls.commitIdx) ? true : undefined;
      },
      () => last,
      250,
    );
  } catch (e) {
    deaths = pysyncobjTickDeaths(c);
    if (deaths.length === 0) throw e;
  }
  if (deaths.length > 0) throw new PysyncobjDied(deaths);
}

/** A Patroni node's Raft member died inside pysyncobj 0.3.11 (a Python-side failure, explained). */
export class PysyncobjDied extends Error {
  constructor(readonly deaths: readonly string[]) {
    super(
      `${deaths.join('; ')} — pysyncobj 0.3.11 keeps neither its term nor its vote across a restart; ` +
        'after a restart it can elect a leader at a term used before and commit entries that a later ' +
        'leader (with a higher last log term) overwrites, and its follower then fails this assertion ' +
        'and stops ticking. The Patroni process runs on without a Raft member.',
    );
  }
}
