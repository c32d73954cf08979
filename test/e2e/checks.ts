/**
 * Checks the end-to-end scenarios share: rows written on the leader and read on every replica,
 * the leader key as the DCS holds it (through `raftdcs ctl dump`), a window in which the leadership
 * must not move, and a witness catching up with the Raft log after a restart.
 */
import { expect } from 'vitest';
import { ctl } from '../cli/ctl-helpers.js';
import type { E2eCluster, Healthy } from './harness.js';
import type { Witness } from './node.js';
import { psqlOk, raftStatus, until } from './observe.js';

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
