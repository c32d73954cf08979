/**
 * The end-to-end scenarios on one shared cluster of topology A (2 Patroni nodes + 1 witness) or B
 * (3 Patroni nodes + 2 witnesses), the witnesses being `raftdcs controller`s or Debian's
 * `patroni_raft_controller`s. In order: bootstrap and replication; `raftdcs ctl list` against
 * `patronictl list`; `raftdcs ctl switchover` and `failover`; the primary's postmaster killed; the
 * primary's Patroni killed (and its orphaned PostgreSQL stopped); a witness killed and restarted
 * (no failover); every Raft member killed and restarted at once (the leader key and the data
 * survive). Each step prints what it measured and asserts a bound.
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
  waitWitnessCaughtUp,
  writeAndReplicate,
} from './checks.js';
import { LOOP_WAIT, RETRY_TIMEOUT, TTL } from './config.js';
import { compareList } from './ctl-compare.js';
import { describeE2e } from './env.js';
import { type SharedCluster, useSharedCluster } from './fixture.js';
import type { E2eCluster, Healthy } from './harness.js';
import type { WitnessKind } from './node.js';
import { raftStatus } from './observe.js';
import { report } from './report.js';

export const PROMOTE_MARGIN_S = 2 * RETRY_TIMEOUT + 10;
export const PROMOTE_BOUND_MS = (TTL + LOOP_WAIT + PROMOTE_MARGIN_S) * 1000;

export interface TopologyOptions {
  readonly topology: 'A' | 'B';
  readonly witness: WitnessKind;
}

const TOPOLOGIES = {
  A: { nodes: 2, witnesses: 1 },
  B: { nodes: 3, witnesses: 2 },
} as const;

/** Context of one topology's steps. */
interface Run {
  readonly shared: SharedCluster;
  readonly label: { topology: string; witness: string };
  /** the last settled state and the next row id */
  healthy: Healthy | null;
  nextRow: number;
}

function measured(run: Run, what: string, ms: number): void {
  report({ ...run.label, what, seconds: ms / 1000 });
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
  leader: string,
  timeline: number,
  what: string,
): Promise<Healthy> {
  const t0 = Date.now();
  const h = await c.waitHealthy(BOUNDS.rejoinMs, what);
  expect(h.leader).toBe(leader);
  expect(h.timeline).toBe(timeline);
  measured(run, `${what}`, Date.now() - t0);
  run.healthy = h;
  return h;
}

function compareStep(run: Run, when: string): void {
  run.shared.step(`raftdcs ctl list equals patronictl list (${when})`, 120_000, async (c) => {
    await c.waitHealthy(BOUNDS.rejoinMs, `a settled cluster before comparing the lists (${when})`);
    const r = await compareList((c.nodes[0] ?? expect.unreachable()).yamlFile);
    console.log(
      `[e2e] ${run.label.topology} ${run.label.witness}: ctl list = patronictl list (${when}; attempt ${r.attempts}` +
        `${r.lagNormalised ? ', lags normalised' : ', byte for byte but the title'})\n${r.ours}`,
    );
  });
}

/** A `raftdcs ctl switchover` or `failover` to `candidate`; the candidate must become master. */
async function manualFailover(run: Run, c: E2eCluster, kind: 'switchover' | 'failover'): Promise<void> {
  const h = settled(run);
  const candidate = kind === 'switchover' ? h.replicas[0] : h.replicas[h.replicas.length - 1];
  if (!candidate) throw new Error('no replica to hand over to');
  const yaml = c.node(candidate).yamlFile;
  const args =
    kind === 'switchover'
      ? ['switchover', '--leader', h.leader, '--candidate', candidate]
      : ['failover', '--candidate', candidate];
  const t0 = Date.now();
  const r = await ctl(['-c', yaml, ...args, '--force', '--wait', '60'], { timeoutMs: 120_000 });
  expect(r.code, `raftdcs ctl ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(0);
  expect(r.stdout).toContain(`A member acted on the ${kind}`);
  const p = await c.waitPromoted(h.leader, t0, PROMOTE_BOUND_MS, candidate);
  measured(run, `raftdcs ctl ${kind} -> ${candidate} master (REST API)`, p.ms);
  expect(p.ms).toBeLessThan(PROMOTE_BOUND_MS);
  const h2 = await rejoined(run, c, candidate, h.timeline + 1, `${kind}: ${h.leader} streaming again`);
  await expectData(run, c, h2, kind);
}

export function topologySuite(o: TopologyOptions): void {
  const shape = TOPOLOGIES[o.topology];
  const witnesses = Array.from({ length: shape.witnesses }, () => o.witness);
  const title =
    `e2e topology ${o.topology}: ${shape.nodes} Patroni 3.0.2 nodes + ${shape.witnesses} ` +
    `${o.witness === 'raftdcs' ? 'raftdcs controller' : 'patroni_raft_controller'} witness(es)`;
  describeE2e(title, () => {
    const run: Run = {
      shared: useSharedCluster({
        scope: `${o.topology.toLowerCase()}-${o.witness}`,
        nodes: shape.nodes,
        witnesses,
      }),
      label: { topology: o.topology, witness: o.witness },
      healthy: null,
      nextRow: 1,
    };
    const { step } = run.shared;

    step('bootstraps, and a table written on the primary appears on every replica', 240_000, async (c) => {
      const t0 = Date.now();
      await c.startAll();
      const h = await c.waitHealthy(BOUNDS.bootstrapMs, 'the bootstrap');
      measured(run, `bootstrap -> leader + ${h.replicas.length} streaming replica(s)`, Date.now() - t0);
      expect(h.timeline).toBe(1);
      run.healthy = h;
      await createTable(c, h);
      const ms = await writeAndReplicate(c, h, run.nextRow++, 'bootstrap');
      measured(run, 'row committed on the primary -> on every replica', ms);
    });

    compareStep(run, 'after the bootstrap');

    step('raftdcs ctl switchover: the candidate becomes master', 240_000, (c) =>
      manualFailover(run, c, 'switchover'),
    );
    step('raftdcs ctl failover: the candidate becomes master', 240_000, (c) =>
      manualFailover(run, c, 'failover'),
    );
    compareStep(run, 'after switchover and failover');

    step('primary postmaster SIGKILLed: a replica is promoted', 240_000, async (c) => {
      const h = settled(run);
      const t0 = Date.now();
      await c.node(h.leader).killPostmaster();
      const p = await c.waitPromoted(h.leader, t0, PROMOTE_BOUND_MS);
      measured(run, 'primary postgres killed -> replica promoted', p.ms);
      expect(p.ms).toBeLessThan(PROMOTE_BOUND_MS);
      const h2 = await rejoined(run, c, p.leader, h.timeline + 1, 'crashed primary streaming again');
      await expectData(run, c, h2, 'postmaster killed');
    });

    step("primary's Patroni SIGKILLed, its postgres stopped: a replica is promoted", 300_000, async (c) => {
      const h = settled(run);
      const old = c.node(h.leader);
      const before = await Promise.all(c.witnesses.map((w) => raftStatus(w.addr)));
      const t0 = Date.now();
      await old.killPatroni();
      await old.stopPostgres();
      const p = await c.waitPromoted(h.leader, t0, PROMOTE_BOUND_MS);
      measured(run, 'Patroni of the primary killed -> replica promoted', p.ms);
      expect(p.ms).toBeLessThan(PROMOTE_BOUND_MS);
      // with a Patroni member gone, every commit needs a witness: they must have applied the promotion
      const after = await Promise.all(c.witnesses.map((w) => raftStatus(w.addr)));
      c.witnesses.forEach((w, i) => {
        expect(after[i]?.lastApplied ?? -1, `${w.label} applies the writes`).toBeGreaterThan(
          before[i]?.lastApplied ?? 0,
        );
      });
      await old.start();
      const h2 = await rejoined(
        run,
        c,
        p.leader,
        h.timeline + 1,
        'restarted Patroni: former primary streaming again',
      );
      await expectData(run, c, h2, 'Patroni killed');
    });
    compareStep(run, 'after the failovers');

    step('a witness kill -9 and restart: no failover', 240_000, async (c) => {
      const h = settled(run);
      const key = await leaderKey(c);
      expect(key?.value).toBe(h.leader);
      // the harder case when there is one: the witness that leads the Raft cluster
      const leaders = await Promise.all(c.witnesses.map((w) => raftStatus(w.addr)));
      const w = c.witnesses.find((x, i) => leaders[i]?.leader === x.addr) ?? c.witnesses[0];
      if (!w) throw new Error('no witness');
      const probe = c.node(h.leader).addrs.raft;
      const commitBefore = (await raftStatus(probe))?.commitIdx ?? 0;
      const tKill = Date.now();
      await w.kill();
      // Raft commits again without it (a new Raft leader if it led)
      let commitsAfterMs = 0;
      for (let i = 0; i < 300 && commitsAfterMs === 0; i++) {
        const s = await raftStatus(probe);
        if (s && s.commitIdx > commitBefore) commitsAfterMs = Date.now() - tKill;
        else await new Promise((r) => setTimeout(r, 100));
      }
      expect(commitsAfterMs, 'the Raft cluster commits again after the witness kill').toBeGreaterThan(0);
      const role = leaders.some((s) => s?.leader === w.addr) ? 'the Raft leader' : 'a Raft follower';
      measured(
        run,
        `witness (${role}) killed -> next Raft commit (Patroni writes every loop_wait)`,
        commitsAfterMs,
      );
      // a failover needs the leader key to expire: watch for ttl + loop_wait
      await expectLeadershipStable(c, h, (TTL + LOOP_WAIT) * 1000);
      const keyDown = await leaderKey(c);
      expect(keyDown?.value).toBe(h.leader);
      expect(keyDown?.created, 'the same leader key, refreshed').toBe(key?.created);
      expect(Date.parse(keyDown?.updated ?? '')).toBeGreaterThan(tKill);
      w.start();
      const ms = await waitWitnessCaughtUp(c, w, 60_000);
      measured(run, 'witness restarted -> caught up with the Raft log', ms);
      const h2 = await c.waitHealthy(BOUNDS.rejoinMs, 'the cluster after the witness restart');
      expect(h2).toEqual(h);
      expect((await leaderKey(c))?.created).toBe(key?.created);
      await expectData(run, c, h2, 'witness restarted');
    });

    step('every Raft member killed and restarted at once: leader key and data kept', 240_000, async (c) => {
      const h = settled(run);
      const key = await leaderKey(c);
      expect(key?.value).toBe(h.leader);
      await Promise.all([...c.nodes.map((n) => n.killPatroni()), ...c.witnesses.map((w) => w.kill())]);
      const t0 = Date.now();
      for (const w of c.witnesses) w.start();
      await Promise.all(c.nodes.map((n) => n.start()));
      const h2 = await c.waitHealthy(BOUNDS.rejoinMs, 'the cluster after restarting every Raft member');
      measured(
        run,
        'every Patroni + witness killed and restarted -> leader + replicas streaming',
        Date.now() - t0,
      );
      expect(h2).toEqual(h);
      const after = await leaderKey(c);
      expect(after?.value).toBe(h.leader);
      expect(after?.created, 'the leader key survived the restart').toBe(key?.created);
      await expectData(run, c, h2, 'all members restarted');
    });
    compareStep(run, 'after restarting every member');
  });
}
