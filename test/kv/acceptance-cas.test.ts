/**
 * Groups B (apply-time rules, docs/dcs.md §2.5, §2.6) and C (compare-and-set, §2.5, §3.2); legend in
 * §12.2, §12.3. "Committed entry set(k, rec, kw)" = the raw replicated call injected through
 * `callWithCallback` with exactly the argument shapes a Python peer sends.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { KvRecord } from '../../src/kv/record.js';
import { FailReason } from '../../src/raft/core/types.js';
import { messageType } from '../helpers/intercept-network.js';
import { waitFor } from '../helpers/wait.js';
import {
  expectSameEverywhere,
  FAST,
  FIRST_LEADER,
  KvCluster,
  kvLog,
  kwargs,
  lastLogIndex,
  ok,
  plain,
  rawCall,
  recordDict,
  sleep,
} from './acceptance-helpers.js';

let cluster: KvCluster | null = null;
afterEach(async () => {
  await cluster?.destroy();
  cluster = null;
});

describe('B. apply-time rules', () => {
  it('B01 created: replaced by updated when it differs from the stored one, kept when equal', async () => {
    cluster = await KvCluster.start();
    const { n1, n2 } = cluster;
    const first = await rawCall(n2.kv, '_set', ['/k', recordDict('v0', 100.0, 100.0)]);
    expect(first.reason).toBe(FailReason.Success);
    expect(n2.kv.get('/k')?.created).toBe(100.0);
    const second = await rawCall(n2.kv, '_set', ['/k', recordDict('v', 200.0, 50.0)]);
    expect(second.reason).toBe(FailReason.Success);
    expect(second.result).not.toBe(false);
    await cluster.waitApplied(lastLogIndex(n1));
    for (const n of cluster.nodes) {
      expect(n.kv.get('/k'), n.name).toMatchObject({ value: 'v', created: 200.0, updated: 200.0 });
    }
    const third = await rawCall(n1.kv, '_set', ['/k', recordDict('v2', 300.0, 200.0)]);
    expect(third.reason).toBe(FailReason.Success);
    await cluster.waitApplied(lastLogIndex(n1));
    for (const n of cluster.nodes) {
      expect(n.kv.get('/k'), n.name).toMatchObject({ value: 'v2', created: 200.0, updated: 300.0 });
    }
  });

  it('B02 prevIndex 0 is a real value (4.x): it fails against every record', async () => {
    cluster = await KvCluster.start();
    const { n1, n3 } = cluster;
    const a = ok(await n1.kv.set('/a', 'x'));
    await cluster.waitApplied(a.index);
    const out = await rawCall(
      n3.kv,
      '_set',
      ['/a', recordDict('y', 1001.0, 1000.0)],
      kwargs([['prevIndex', 0]]),
    );
    expect(out.reason).toBe(FailReason.Success);
    expect(out.result).toBe(false);
    await cluster.waitApplied(lastLogIndex(n1));
    for (const n of cluster.nodes) expect(n.kv.get('/a'), n.name).toStrictEqual(a);
  });

  it('B03 prevIndex: null imposes nothing and is replicated as exactly {prevIndex: None}', async () => {
    cluster = await KvCluster.start();
    const { n1 } = cluster;
    const r = ok(await n1.kv.set('/a', 'x', { prevIndex: null }));
    expect(r.value).toBe('x');
    const entry = kvLog(n1).find((e) => e.index === r.index);
    expect(entry?.method).toBe('_set');
    expect(plain(entry?.kwargs)).toEqual([['prevIndex', null]]);
  });
});

describe('C. compare-and-set', () => {
  it('C01 prevExist false/true against absent and existing keys', async () => {
    cluster = await KvCluster.start();
    const kv = cluster.n2.kv;
    const created = ok(await kv.set('/a', '1', { prevExist: false }));
    expect(await kv.set('/a', '2', { prevExist: false })).toBe(false);
    expect(kv.get('/a')).toStrictEqual(created);
    expect(await kv.set('/b', '1', { prevExist: true })).toBe(false);
    expect(kv.get('/b')).toBeNull();
    const updated = ok(await kv.set('/a', '3', { prevExist: true }));
    expect(updated.value).toBe('3');
  });

  it('C02 prevValue', async () => {
    cluster = await KvCluster.start();
    const kv = cluster.n2.kv;
    ok(await kv.set('/l', 'pg1'));
    ok(await kv.set('/l', 'pg1', { prevValue: 'pg1' }));
    expect(await kv.set('/l', 'x', { prevValue: 'pg2' })).toBe(false);
    expect(kv.get('/l')?.value).toBe('pg1');
    expect(await kv.set('/m', 'x', { prevValue: 'pg1' })).toBe(false);
    expect(kv.get('/m')).toBeNull();
  });

  it('C03 prevIndex', async () => {
    cluster = await KvCluster.start();
    const kv = cluster.n2.kv;
    const r = ok(await kv.set('/c', '1'));
    expect(await kv.set('/c', '2', { prevIndex: r.index - 1 })).toBe(false);
    const next = ok(await kv.set('/c', '3', { prevIndex: r.index }));
    expect(next.index).toBeGreaterThan(r.index);
    expect(await kv.set('/d', '1', { prevIndex: r.index })).toBe(false);
    expect(kv.get('/d')).toBeNull();
  });

  it('C04 all conditions must hold', async () => {
    cluster = await KvCluster.start();
    const kv = cluster.n2.kv;
    ok(await kv.set('/a', 'x'));
    expect(await kv.set('/a', 'z', { prevExist: true, prevValue: 'y' })).toBe(false);
    expect(kv.get('/a')?.value).toBe('x');
    ok(await kv.set('/a', 'z', { prevExist: true, prevValue: 'x' }));
  });

  it('C05 concurrent prevIndex CAS from two nodes: exactly one wins, everybody ends with its value', async () => {
    cluster = await KvCluster.start();
    const { n2, n3 } = cluster;
    const c = ok(await cluster.n1.kv.set('/c', 'n1'));
    await cluster.waitApplied(c.index);
    const [r2, r3] = await Promise.all([
      n2.kv.set('/c', 'N2', { prevIndex: c.index }),
      n3.kv.set('/c', 'N3', { prevIndex: c.index }),
    ]);
    const winners = [r2, r3].filter((r) => r !== false) as KvRecord[];
    expect(winners).toHaveLength(1);
    expect([r2, r3].filter((r) => r === false)).toHaveLength(1);
    const winner = winners[0] as KvRecord;
    await cluster.waitApplied(lastLogIndex(cluster.n1));
    const everywhere = expectSameEverywhere(cluster.nodes, '/c');
    expect(everywhere).toStrictEqual(winner);
    expect(winner.value).toBe(r2 !== false ? 'N2' : 'N3');
    // both passed their local pre-check: the loser lost at apply time
    const casEntries = kvLog(cluster.n1).filter(
      (e) => e.method === '_set' && e.kwargs?.get('prevIndex') === c.index,
    );
    expect(casEntries).toHaveLength(2);
  });

  it('C06 a local pre-check failure returns false and replicates nothing', async () => {
    cluster = await KvCluster.start();
    const { n1, n2 } = cluster;
    const l = ok(await n1.kv.set('/l', 'pg1'));
    await cluster.waitApplied(l.index);
    expect(n2.kv.get('/l')?.value).toBe('pg1');
    const before = lastLogIndex(n1);
    let forwarded = 0;
    cluster.net.interceptor = (_from, _to, m) => {
      if (messageType(m) === 'apply_command') forwarded++;
      return 'deliver';
    };
    expect(await n2.kv.set('/l', 'pg2', { prevValue: 'pg2' })).toBe(false);
    await sleep(100);
    expect(lastLogIndex(n1)).toBe(before);
    expect(forwarded).toBe(0);
  });

  it('C07 a stale follower passes its local pre-check but the CAS fails at apply time: false, no throw', async () => {
    // elections slower than the hold-back window, so holding N1 → N3 traffic starts none
    const slow = { ...FAST, raftMinTimeout: 1.5, raftMaxTimeout: 2, connectionTimeout: 2 };
    cluster = await KvCluster.start({ conf: slow, leaderConf: { ...FIRST_LEADER, connectionTimeout: 2 } });
    const { n1, n2, n3 } = cluster;
    const l = ok(await n1.kv.set('/l', 'pg1'));
    await cluster.waitApplied(l.index);
    // hold back everything the leader sends to N3
    cluster.net.interceptor = (from, to) => (from === n1.addr && to === n3.addr ? 'hold' : 'deliver');
    const pg2 = ok(await n2.kv.set('/l', 'pg2'));
    expect(n3.kv.get('/l')?.value, 'N3 is stale').toBe('pg1');
    const pending = n3.kv.set('/l', 'pg1', { prevValue: 'pg1' });
    // N3's submission reached the leader and was appended after the pg2 write
    await waitFor(() => lastLogIndex(n1) > pg2.index, 2000, 'the leader appending N3 submission');
    expect(cluster.net.heldMessages.length).toBeGreaterThan(0);
    cluster.net.interceptor = null;
    cluster.net.release();
    await expect(pending).resolves.toBe(false);
    expect(n3.kv.get('/l')?.value).toBe('pg2');
    expect(n3.kv.get('/l')).toStrictEqual(pg2);
  });
});
