/**
 * G02 and G03 (docs/dcs.md §12.7) on the Raft DCS itself (src/dcs/raft-dcs.ts), in real time with
 * Patroni's budgets: N1 of a 3-node cluster cut off from N2 and N3, either still believing it leads
 * (leaderFallbackTimeout 30 s) or knowing no leader. The KVStoreTTL calls underneath are checked
 * in acceptance-retry.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DCSError, RaftError } from '../../src/kv/errors.js';
import { DcsCluster, type DcsNode, P, waitFor } from '../dcs/dcs-helpers.js';

let cluster: DcsCluster | null = null;
afterEach(async () => {
  await cluster?.destroy();
  cluster = null;
});

async function timed<T>(op: () => Promise<T>): Promise<{ s: number; value?: T; error?: unknown }> {
  const t0 = performance.now();
  try {
    const value = await op();
    return { s: (performance.now() - t0) / 1000, value };
  } catch (error) {
    return { s: (performance.now() - t0) / 1000, error };
  }
}

type N1State = 'believes it leads' | 'knows no leader';

async function n1Alone(state: N1State, retryTimeout: number, leaderKey: boolean): Promise<DcsNode> {
  cluster = await DcsCluster.start({
    config: { retry_timeout: retryTimeout },
    options:
      state === 'knows no leader' ? { conf: { autoTickPeriod: 0.01, leaderFallbackTimeout: 0.3 } } : {},
  });
  const { n1 } = cluster;
  if (leaderKey) expect(await n1.dcs.kv.set(`${P}leader`, 'pg1', { ttl: 30 })).not.toBe(false);
  cluster.net.isolate(n1.addr, true);
  if (state === 'knows no leader') {
    await waitFor(() => !n1.dcs.kv.isLeader() && n1.dcs.kv.getLeader() === null, 3000, 'N1 stepping down');
  } else {
    expect(n1.dcs.kv.isLeader()).toBe(true);
  }
  return n1;
}

describe('G. retry and errors (Raft DCS)', () => {
  for (const state of ['believes it leads', 'knows no leader'] as const) {
    it(`G02 (N1 ${state}) touchMember → false in 2–4 s; deleteLeader(cluster.leader, null) → false in ≤ 3 s`, async () => {
      const n1 = await n1Alone(state, 10, true);
      const c = await n1.dcs.getCluster();
      expect(c.leader?.name).toBe('pg1');
      const touch = await timed(() => n1.dcs.touchMember({ state: 'running', role: 'primary' }));
      expect(touch.error).toBeUndefined();
      expect(touch.value).toBe(false);
      expect(touch.s).toBeGreaterThanOrEqual(2);
      expect(touch.s).toBeLessThanOrEqual(4);
      const del = await timed(() => n1.dcs.deleteLeader(c.leader, null));
      expect(del.error).toBeUndefined();
      expect(del.value).toBe(false);
      expect(del.s).toBeLessThanOrEqual(3);
    });

    it(`G03 (N1 ${state}, retry_timeout 3, no leader key) attemptToAcquireLeader throws RaftError after 3–5 s`, async () => {
      const n1 = await n1Alone(state, 3, false);
      expect(n1.dcs.kv.get(`${P}leader`)).toBeNull();
      const acquire = await timed(() => n1.dcs.attemptToAcquireLeader());
      expect(acquire.error).toBeInstanceOf(RaftError);
      expect(acquire.error).toBeInstanceOf(DCSError);
      expect(acquire.s).toBeGreaterThanOrEqual(3);
      expect(acquire.s).toBeLessThanOrEqual(5);
    });
  }

  it('G03 (N1 believes it leads, leader = pg1 locally, retry_timeout 3) updateLeader(cluster, null) throws RaftError after 3–5 s, not false', async () => {
    const n1 = await n1Alone('believes it leads', 3, true);
    const c = await n1.dcs.getCluster();
    expect(c.leader?.name).toBe('pg1');
    const update = await timed(() => n1.dcs.updateLeader(c, null));
    expect(update.value).toBeUndefined();
    expect(update.error).toBeInstanceOf(RaftError);
    expect(update.s).toBeGreaterThanOrEqual(3);
    expect(update.s).toBeLessThanOrEqual(5);
  });
});
