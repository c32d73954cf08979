/**
 * Group G (docs/dcs.md §12.7) — the retry loop and errors (docs/dcs.md §3.4–§3.6), measured in
 * real time with Patroni's 1 s pause between rounds (the budgets in the cases are built around it).
 *
 * G02 and G03 are stated for Raft DCS methods: here they are checked on the exact KVStoreTTL calls
 * Patroni's Raft DCS makes for them (patroni/dcs/raft.py: touch_member, _delete_leader,
 * attempt_to_acquire_leader, _update_leader); acceptance-retry-dcs.test.ts runs them on RaftDcs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DCSError, RaftError } from '../../src/kv/errors.js';
import { FailReason } from '../../src/raft/core/types.js';
import type { PyDictKey, PyValue } from '../../src/wire/value.js';
import { messageType } from '../helpers/intercept-network.js';
import { waitFor } from '../helpers/wait.js';
import { ADDRS, FIRST_LEADER, KvCluster, lastLogIndex, sleep, type TestNode } from './acceptance-helpers.js';

let cluster: KvCluster | null = null;
afterEach(async () => {
  await cluster?.destroy();
  cluster = null;
});

const LEADER = '/service/batman/leader';
const MEMBER = '/service/batman/members/pg1';

/** Elapsed seconds of an operation and its outcome (value or thrown error). */
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

/**
 * A 3-node cluster whose N2 and N3 are then cut off from N1: N1 either still believes it leads
 * (leaderFallbackTimeout 30 s) or has stepped down and knows no leader.
 */
async function n1Alone(state: N1State, prepare?: (n1: TestNode) => Promise<void>): Promise<TestNode> {
  cluster = await KvCluster.start({
    leaderConf: state === 'knows no leader' ? { ...FIRST_LEADER, leaderFallbackTimeout: 0.3 } : FIRST_LEADER,
  });
  const { n1 } = cluster;
  await prepare?.(n1);
  cluster.net.isolate(n1.addr, true);
  if (state === 'knows no leader') {
    await waitFor(() => !n1.kv.isLeader() && n1.kv.getLeader() === null, 3000, 'N1 stepping down');
  } else {
    await sleep(50);
    expect(n1.kv.isLeader()).toBe(true);
  }
  return n1;
}

async function setPg1Leader(n1: TestNode): Promise<void> {
  expect(await n1.kv.set(LEADER, 'pg1', { ttl: 30 })).not.toBe(false);
}

describe('G. retry and errors', () => {
  for (const state of ['believes it leads', 'knows no leader'] as const) {
    it(`G01 (N1 ${state}) set with timeout 1 → false after 1–3 s; raiseOnRaftError → RaftError('timeout')`, async () => {
      const n1 = await n1Alone(state);
      const soft = await timed(() => n1.kv.set('/a', '1', { timeout: 1 }));
      expect(soft.error).toBeUndefined();
      expect(soft.value).toBe(false);
      expect(soft.s).toBeGreaterThanOrEqual(1);
      expect(soft.s).toBeLessThan(3);
      const hard = await timed(() => n1.kv.set('/a', '1', { timeout: 1, raiseOnRaftError: true }));
      expect(hard.error).toBeInstanceOf(RaftError);
      expect(hard.error).toBeInstanceOf(DCSError);
      expect((hard.error as Error).message).toBe('timeout');
      expect(hard.s).toBeGreaterThanOrEqual(1);
      expect(hard.s).toBeLessThan(3);
    });
  }

  it('G02 (KV calls of touch_member and _delete_leader) false in 2–4 s and ≤ 3 s, no throw', async () => {
    const n1 = await n1Alone('believes it leads', setPg1Leader);
    expect(n1.kv.get(LEADER)?.value).toBe('pg1');
    // touch_member: set(member_path, json, ttl, timeout=2)
    const touch = await timed(() => n1.kv.set(MEMBER, '{"state":"running"}', { ttl: 30, timeout: 2 }));
    expect(touch.error).toBeUndefined();
    expect(touch.value).toBe(false);
    expect(touch.s).toBeGreaterThanOrEqual(2);
    expect(touch.s).toBeLessThanOrEqual(4);
    // _delete_leader: delete(leader_path, prevValue=name, timeout=1)
    const del = await timed(() => n1.kv.delete(LEADER, { prevValue: 'pg1', timeout: 1 }));
    expect(del.error).toBeUndefined();
    expect(del.value).toBe(false);
    expect(del.s).toBeLessThanOrEqual(3);
  });

  it('G03 (KV call of attempt_to_acquire_leader, no leader key, retry_timeout 3) throws RaftError after 3–5 s', async () => {
    const n1 = await n1Alone('believes it leads');
    n1.kv.setRetryTimeout(3);
    expect(n1.kv.get(LEADER)).toBeNull();
    // attempt_to_acquire_leader: set(leader, name, ttl, handle_raft_error=False, prevExist=False)
    const acquire = await timed(() =>
      n1.kv.set(LEADER, 'pg1', { ttl: 30, raiseOnRaftError: true, prevExist: false }),
    );
    expect(acquire.error).toBeInstanceOf(RaftError);
    expect(acquire.s).toBeGreaterThanOrEqual(3);
    expect(acquire.s).toBeLessThanOrEqual(5);
  });

  it('G03 (KV call of _update_leader with leader = pg1 locally, retry_timeout 3) throws RaftError after 3–5 s, not false', async () => {
    const n1 = await n1Alone('believes it leads', setPg1Leader);
    n1.kv.setRetryTimeout(3);
    // _update_leader: set(leader, name, ttl, handle_raft_error=False, prevValue=name)
    const update = await timed(() =>
      n1.kv.set(LEADER, 'pg1', { ttl: 30, raiseOnRaftError: true, prevValue: 'pg1' }),
    );
    expect(update.error).toBeInstanceOf(RaftError);
    expect(update.s).toBeGreaterThanOrEqual(3);
    expect(update.s).toBeLessThanOrEqual(5);
  });

  it('G04 setRetryTimeout(2) is the budget of calls without a timeout, and of timeout 0', async () => {
    const n1 = await n1Alone('knows no leader');
    n1.kv.setRetryTimeout(2);
    for (const options of [{}, { timeout: 0 }]) {
      const r = await timed(() => n1.kv.set('/a', '1', options));
      expect(r.value, JSON.stringify(options)).toBe(false);
      expect(r.s, JSON.stringify(options)).toBeGreaterThanOrEqual(1.9);
      expect(r.s, JSON.stringify(options)).toBeLessThan(3.1);
    }
  });

  it('G05 a set started without a leader succeeds once a leader is elected 2 s later', async () => {
    cluster = new KvCluster({});
    const addrs = ADDRS.slice(0, 3);
    for (const a of addrs) for (const b of addrs) if (a < b) cluster.net.setCut(a, b, true);
    for (let i = 0; i < 3; i++) cluster.add(addrs, i);
    const { n1 } = cluster;
    await sleep(200);
    expect(cluster.nodes.every((n) => n.kv.getLeader() === null)).toBe(true);
    const pending = timed(() => n1.kv.set('/a', '1'));
    await sleep(2000);
    for (const a of addrs) for (const b of addrs) if (a < b) cluster.net.setCut(a, b, false);
    const r = await pending;
    expect(r.error).toBeUndefined();
    expect(r.value).toMatchObject({ value: '1' });
    expect(r.s).toBeGreaterThanOrEqual(2);
    expect(n1.kv.get('/a')?.value).toBe('1');
  });

  it('G06 REQUEST_DENIED from the leader: false at once, no second submission, no exception', async () => {
    cluster = await KvCluster.start();
    const { n1, n2 } = cluster;
    let submissions = 0;
    cluster.net.interceptor = (from, to, m) => {
      if (to !== n1.addr || from !== n2.addr || messageType(m) !== 'apply_command') return 'deliver';
      submissions++;
      const requestId = (m as Map<PyDictKey, PyValue>).get('request_id') as PyValue;
      cluster?.net.inject(
        n1.addr,
        n2.addr,
        new Map<PyDictKey, PyValue>([
          ['type', 'apply_command_response'],
          ['request_id', requestId],
          ['error', FailReason.RequestDenied],
        ]),
      );
      return 'drop';
    };
    const before = lastLogIndex(n1);
    const r = await timed(() => n2.kv.set('/a', '1'));
    expect(r.error).toBeUndefined();
    expect(r.value).toBe(false);
    expect(r.s).toBeLessThan(0.5);
    await sleep(1500); // a retry would come after the 1 s pause
    expect(submissions).toBe(1);
    expect(lastLogIndex(n1)).toBe(before);
    expect(cluster.nodes.every((n) => n.kv.get('/a') === null)).toBe(true);
  });
});
