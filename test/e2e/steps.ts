/**
 * The bodies of the end-to-end steps, run in order on one shared cluster by ./scenarios.ts. Each
 * starts from the settled state the previous one left (`run.healthy`), measures what it is about,
 * asserts its bound, and leaves the cluster settled again with one more row written and replicated.
 *
 * The promotion bound: a dead primary's leader key lives up to ttl after its last refresh, and the
 * replicas look at it once per loop_wait, hence ttl + loop_wait; the margin is 2 × retry_timeout (a
 * DCS write may be retried for up to retry_timeout while the Raft cluster elects a new leader,
 * once to take the key and once to refresh it) plus 10 s for PostgreSQL's promotion and our polling
 * on a loaded 2-core machine — 42 s. Switchover and failover are bounded the same way, loosely: the
 * leader notices the failover key within loop_wait and hands over without waiting for any ttl.
 */
import { expect } from 'vitest';
import { ctl } from '../cli/ctl-helpers.js';
import {
  BOUNDS,
  createTable,
  expectLeadershipStable,
  leaderKey,
  rowIds,
  waitRaftConverged,
  waitWitnessCaughtUp,
  writeAndReplicate,
} from './checks.js';
import { LOOP_WAIT, RETRY_TIMEOUT, TTL } from './config.js';
import { compareList } from './ctl-compare.js';
import type { E2eCluster, Healthy } from './harness.js';
import { raftStatus, until } from './observe.js';
import { report } from './report.js';

export const PROMOTE_MARGIN_S = 2 * RETRY_TIMEOUT + 10;
export const PROMOTE_BOUND_MS = (TTL + LOOP_WAIT + PROMOTE_MARGIN_S) * 1000;

/** The state the steps of one topology share. */
export interface Run {
  readonly label: { readonly topology: string; readonly witness: string };
  /** the settled state the last step left */
  healthy: Healthy | null;
  /** the id of the next row to write */
  nextRow: number;
}

export function measured(run: Run, what: string, ms: number, detail?: string): void {
  report({ ...run.label, what, seconds: ms / 1000, ...(detail ? { detail } : {}) });
}

function settled(run: Run): Healthy {
  if (!run.healthy) throw new Error('no settled cluster state from the previous step');
  return run.healthy;
}

/** Every row written so far is on the leader, and a new one reaches every replica. */
async function expectData(run: Run, c: E2eCluster, h: Healthy, step: string): Promise<void> {
  const expected = Array.from({ length: run.nextRow - 1 }, (_, i) => i + 1);
  expect(await rowIds(c, h.leader), `rows on the leader ${h.leader} after ${step}`).toEqual(expected);
  await writeAndReplicate(c, h, run.nextRow++, step);
}

/** Wait until the former leader streams again from the new one; asserts the new leader and timeline. */
async function rejoined(
  run: Run,
  c: E2eCluster,
  expected: { leader: string; timeline: number },
  what: string,
  detail: string,
): Promise<Healthy> {
  const t0 = Date.now();
  const h = await c.waitHealthy(BOUNDS.rejoinMs, what);
  expect(h.leader).toBe(expected.leader);
  expect(h.timeline).toBe(expected.timeline);
  measured(run, what, Date.now() - t0, detail);
  run.healthy = h;
  return h;
}

/** Start every node and witness; a table written on the primary reaches every replica. */
export async function bootstrap(run: Run, c: E2eCluster): Promise<void> {
  const t0 = Date.now();
  await c.startAll();
  const h = await c.waitHealthy(BOUNDS.bootstrapMs, 'the bootstrap');
  measured(run, `bootstrap -> leader + ${h.replicas.length} streaming replica(s)`, Date.now() - t0);
  expect(h.timeline).toBe(1);
  run.healthy = h;
  await createTable(c, h);
  const ms = await writeAndReplicate(c, h, run.nextRow++, 'bootstrap');
  measured(run, 'row committed on the primary -> on every replica', ms);
}

/** `raftdcs ctl list` and `patronictl list` agree on the settled cluster. */
export async function compareLists(run: Run, c: E2eCluster, when: string): Promise<void> {
  await c.waitHealthy(BOUNDS.rejoinMs, `a settled cluster before comparing the lists (${when})`);
  const r = await compareList((c.nodes[0] ?? expect.unreachable('no nodes')).yamlFile);
  const how = r.lagNormalised ? 'lags normalised' : 'byte for byte but the title';
  console.log(
    `[e2e] ${run.label.topology} ${run.label.witness}: ctl list = patronictl list ` +
      `(${when}; attempt ${r.attempts}, ${how})\n${r.ours}`,
  );
}

/** `raftdcs ctl switchover` or `failover` to a replica; it must become master, the old leader a replica. */
export async function manualFailover(
  run: Run,
  c: E2eCluster,
  kind: 'switchover' | 'failover',
): Promise<void> {
  const h = settled(run);
  const candidate = kind === 'switchover' ? h.replicas[0] : h.replicas[h.replicas.length - 1];
  if (!candidate) throw new Error('no replica to hand over to');
  const args =
    kind === 'switchover'
      ? ['switchover', '--leader', h.leader, '--candidate', candidate]
      : ['failover', '--candidate', candidate];
  const t0 = Date.now();
  const r = await ctl(['-c', c.node(candidate).yamlFile, ...args, '--force', '--wait', '60'], {
    timeoutMs: 120_000,
  });
  expect(r.code, `raftdcs ctl ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(0);
  expect(r.stdout).toContain(`A member acted on the ${kind}`);
  const p = await c.waitPromoted(h.leader, t0, PROMOTE_BOUND_MS, candidate);
  measured(run, `raftdcs ctl ${kind} -> candidate master (REST API)`, p.ms, `${h.leader} -> ${candidate}`);
  expect(p.ms).toBeLessThan(PROMOTE_BOUND_MS);
  const next = { leader: candidate, timeline: h.timeline + 1 };
  const h2 = await rejoined(run, c, next, `${kind}: former leader streaming again`, h.leader);
  await expectData(run, c, h2, kind);
}

/** SIGKILL of the primary's postmaster: a replica is promoted, the old primary comes back as a replica. */
export async function killPrimaryPostmaster(run: Run, c: E2eCluster): Promise<void> {
  const h = settled(run);
  const t0 = Date.now();
  await c.node(h.leader).killPostmaster();
  const p = await c.waitPromoted(h.leader, t0, PROMOTE_BOUND_MS);
  measured(run, 'primary postgres killed -> replica promoted', p.ms, `${h.leader} -> ${p.leader}`);
  expect(p.ms).toBeLessThan(PROMOTE_BOUND_MS);
  const next = { leader: p.leader, timeline: h.timeline + 1 };
  const h2 = await rejoined(run, c, next, 'crashed primary streaming again', h.leader);
  await expectData(run, c, h2, 'postmaster killed');
}

/**
 * SIGKILL of the primary's Patroni, then its orphaned PostgreSQL stopped (no two primaries): a
 * replica is promoted once the leader key expires — with one Patroni member gone, every Raft
 * commit needs a witness, so each witness must have applied the promotion's writes. Then the
 * node's Patroni is started again and its PostgreSQL must come back as a replica.
 */
export async function killPrimaryPatroni(run: Run, c: E2eCluster): Promise<void> {
  const h = settled(run);
  const old = c.node(h.leader);
  const before = await Promise.all(c.witnesses.map((w) => raftStatus(w.addr)));
  const t0 = Date.now();
  await old.killPatroni();
  await old.stopPostgres();
  const p = await c.waitPromoted(h.leader, t0, PROMOTE_BOUND_MS);
  measured(run, 'Patroni of the primary killed -> replica promoted', p.ms, `${h.leader} -> ${p.leader}`);
  expect(p.ms).toBeLessThan(PROMOTE_BOUND_MS);
  const after = await Promise.all(c.witnesses.map((w) => raftStatus(w.addr)));
  c.witnesses.forEach((w, i) => {
    const applied = after[i]?.lastApplied ?? -1;
    expect(applied, `${w.label} applies the writes`).toBeGreaterThan(before[i]?.lastApplied ?? 0);
  });
  await old.start();
  const next = { leader: p.leader, timeline: h.timeline + 1 };
  const h2 = await rejoined(run, c, next, 'restarted Patroni: former primary streaming again', h.leader);
  await waitRaftConverged(c, 60_000, 'after the Patroni restart');
  await expectData(run, c, h2, 'Patroni killed');
}

/**
 * kill -9 of every Patroni process and every witness at once (each PostgreSQL keeps running), then
 * all of them started again: the witnesses first, then the node that held the leader key, the
 * others once that node follows a Raft leader. The leader key (same `created` time), the leadership
 * and the data survive, and every Raft member follows one leader again.
 *
 * Why that order: pysyncobj 0.3.11 (inside each Patroni node) keeps neither its term nor its vote
 * across a restart. Started all at the same instant, the Patroni nodes can elect one of them among
 * themselves at a term used before and commit entries after entries of a later term; a member that
 * kept its term (a raftdcs witness) or a log ending in that later term then wins an election with a
 * shorter log and overwrites them, and each Patroni follower that had applied them fails pysyncobj's
 * `assert idx > self.__raftLastApplied` — its tick thread dies and the node is left without a Raft
 * member (seen in these tests' first runs, with Python witnesses as well). Restarted in this order,
 * every majority that can elect a leader during the restart contains a witness, and a raftdcs
 * witness brings the term it persisted. `waitRaftConverged` would name that failure if it happened.
 */
export async function restartEveryMember(run: Run, c: E2eCluster): Promise<void> {
  const h = settled(run);
  const key = await leaderKey(c);
  expect(key?.value).toBe(h.leader);
  await Promise.all([...c.nodes.map((n) => n.killPatroni()), ...c.witnesses.map((w) => w.kill())]);
  const t0 = Date.now();
  for (const w of c.witnesses) w.start();
  await Promise.all(
    c.witnesses.map((w) =>
      until(
        `${w.label} to answer the status command`,
        60_000,
        async () => (await raftStatus(w.addr)) ?? undefined,
      ),
    ),
  );
  const first = c.node(h.leader);
  await first.start();
  await until(`${first.name}'s Raft member to follow a leader`, 60_000, async () =>
    (await raftStatus(first.addrs.raft))?.leader ? true : undefined,
  );
  await Promise.all(c.nodes.filter((n) => n !== first).map((n) => n.start()));
  const h2 = await c.waitHealthy(BOUNDS.rejoinMs, 'the cluster after restarting every Raft member');
  measured(
    run,
    'every Patroni + witness killed and restarted -> leader + replicas streaming',
    Date.now() - t0,
  );
  await waitRaftConverged(c, 60_000, 'after restarting every member');
  expect(h2).toEqual(h);
  const after = await leaderKey(c);
  expect(after?.value).toBe(h.leader);
  expect(after?.created, 'the leader key survived the restart').toBe(key?.created);
  await expectData(run, c, h2, 'all members restarted');
}

/**
 * kill -9 of one witness — the Raft leader when a witness leads — and its restart: the Raft cluster
 * commits without it, the leadership does not move for ttl + loop_wait (the longest a leader key
 * can live without a refresh), the leader key is the same one, refreshed; the restarted witness
 * catches up with the Raft log.
 */
export async function killAndRestartWitness(run: Run, c: E2eCluster): Promise<void> {
  const h = settled(run);
  await waitRaftConverged(c, 60_000, 'before the witness kill');
  const key = await leaderKey(c);
  expect(key?.value).toBe(h.leader);
  const views = await Promise.all(c.witnesses.map((w) => raftStatus(w.addr)));
  const w = c.witnesses.find((x, i) => views[i]?.leader === x.addr) ?? c.witnesses[0];
  if (!w) throw new Error('no witness');
  const role = views.some((s) => s?.leader === w.addr) ? 'the witness led Raft' : 'the witness followed';
  const probe = c.node(h.leader).addrs.raft;
  const commitBefore = (await raftStatus(probe))?.commitIdx ?? 0;
  const tKill = Date.now();
  await w.kill();
  const commitMs = await until('a Raft commit after the witness kill', 30_000, async () => {
    const s = await raftStatus(probe);
    return s && s.commitIdx > commitBefore ? Date.now() - tKill : undefined;
  });
  measured(run, 'witness killed -> next Raft commit (Patroni writes every loop_wait)', commitMs, role);
  const polls = await expectLeadershipStable(c, h, (TTL + LOOP_WAIT) * 1000);
  const keyDown = await leaderKey(c);
  expect(keyDown?.value).toBe(h.leader);
  expect(keyDown?.created, 'the same leader key, refreshed').toBe(key?.created);
  expect(Date.parse(keyDown?.updated ?? '')).toBeGreaterThan(tKill);
  console.log(
    `[e2e] ${run.label.topology} ${run.label.witness}: leader ${h.leader} kept through ${polls} polls`,
  );
  const tStart = Date.now();
  w.start();
  const answers = async () => (await raftStatus(w.addr)) ?? undefined;
  await until(`${w.label} to answer the status command`, 60_000, answers);
  measured(run, 'witness started -> answers the Raft status command', Date.now() - tStart);
  const ms = await waitWitnessCaughtUp(c, w, 60_000);
  measured(run, 'witness answering -> caught up with the Raft log', ms);
  const h2 = await c.waitHealthy(BOUNDS.rejoinMs, 'the cluster after the witness restart');
  expect(h2).toEqual(h);
  expect((await leaderKey(c))?.created).toBe(key?.created);
  await waitRaftConverged(c, 60_000, 'after the witness restart');
  await expectData(run, c, h2, 'witness restarted');
}
