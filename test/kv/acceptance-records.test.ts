/**
 * Group A (docs/dcs.md §12.1) — records and indexes (docs/dcs.md §2.1–§2.3, §3.1).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { KVStoreTTL } from '../../src/kv/kvstore-ttl.js';
import type { KvRecord } from '../../src/kv/record.js';
import type { SyncObjConfOptions } from '../../src/raft/config.js';
import { messageType } from '../helpers/intercept-network.js';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { KvCluster, kvLog, lastLogIndex, ok, plain } from './acceptance-helpers.js';

let cluster: KvCluster | null = null;
let tcpNodes: KVStoreTTL[] = [];
afterEach(async () => {
  await cluster?.destroy();
  cluster = null;
  await Promise.all(tcpNodes.map((n) => n.destroy()));
  tcpNodes = [];
});

describe('A. records and indexes', () => {
  it('A01 a fresh single node numbers its first writes 3 and 4; records carry value, updated, created, index', async () => {
    cluster = await KvCluster.start({ size: 1 });
    const n1 = cluster.n1;
    n1.clock.t = 1000.0;
    const a = ok(await n1.kv.set('/a', '1'));
    const b = ok(await n1.kv.set('/b', '2'));
    expect(a).toStrictEqual({ value: '1', updated: 1000.0, created: 1000.0, index: 3 });
    expect('expire' in a).toBe(false);
    expect(b.index).toBe(4);
    expect(n1.kv.get('/a')).toStrictEqual(a);
    // on the wire: `_set('/a', {value, updated, created})` with float times, no kwargs (a pair)
    const entry = kvLog(n1).find((e) => e.index === 3);
    expect(entry?.method).toBe('_set');
    expect(entry?.kwargs).toBeUndefined();
    expect(plain(entry?.args[1])).toEqual([
      ['value', '1'],
      ['updated', { float: 1000 }],
      ['created', { float: 1000 }],
    ]);
  });

  it('A02 an update keeps created and takes a new updated and a higher index', async () => {
    cluster = await KvCluster.start({ size: 1 });
    const n1 = cluster.n1;
    n1.clock.t = 1000.0;
    const first = ok(await n1.kv.set('/a', 'x'));
    n1.clock.t = 1005.5;
    const second = ok(await n1.kv.set('/a', 'y'));
    expect(second).toMatchObject({ value: 'y', updated: 1005.5, created: 1000.0 });
    expect(n1.kv.get('/a')).toMatchObject({ value: 'y', updated: 1005.5, created: 1000.0 });
    expect(second.index).toBeGreaterThan(first.index);
  });

  it('A03 a TTL adds expire = updated + ttl; no ttl or ttl 0 gives no expire field', async () => {
    cluster = await KvCluster.start({ size: 1 });
    const n1 = cluster.n1;
    n1.clock.t = 1000.25;
    const l = ok(await n1.kv.set('/l', 'pg1', { ttl: 30 }));
    expect(l.expire).toBe(1030.25);
    expect(n1.kv.get('/l')?.expire).toBe(1030.25);
    const again = ok(await n1.kv.set('/l', 'pg1'));
    const z = ok(await n1.kv.set('/z', '1', { ttl: 0 }));
    expect('expire' in again).toBe(false);
    expect('expire' in z).toBe(false);
    expect('expire' in (n1.kv.get('/l') as KvRecord)).toBe(false);
    expect('expire' in (n1.kv.get('/z') as KvRecord)).toBe(false);
  });

  it('A04 getPrefix is a plain string prefix; no match gives an empty map; get of a missing key is null', async () => {
    cluster = await KvCluster.start({ size: 1 });
    const kv = cluster.n1.kv;
    for (const k of ['/service/batman/leader', '/service/batman2/leader', '/service/batmanx']) {
      ok(await kv.set(k, 'v'));
    }
    expect([...kv.getPrefix('/service/batman').keys()]).toEqual([
      '/service/batman/leader',
      '/service/batman2/leader',
      '/service/batmanx',
    ]);
    expect([...kv.getPrefix('/service/batman/').keys()]).toEqual(['/service/batman/leader']);
    const none = kv.getPrefix('/nothing/');
    expect(none).toBeInstanceOf(Map);
    expect(none.size).toBe(0);
    expect(kv.get('/nope')).toBeNull();
  });

  it('A05 map order: an update keeps the position, delete + re-create moves the key to the end', async () => {
    cluster = await KvCluster.start({ size: 1 });
    const kv = cluster.n1.kv;
    for (const k of ['/p/a', '/p/b', '/p/c']) ok(await kv.set(k, '1'));
    ok(await kv.set('/p/a', '2'));
    expect(await kv.delete('/p/b')).toBe(true);
    ok(await kv.set('/p/b', '3'));
    expect([...kv.getPrefix('/p/').keys()]).toEqual(['/p/a', '/p/c', '/p/b']);
  });

  it('A06 read-your-writes on the submitting follower; every node holds the same index, created, updated', async () => {
    cluster = await KvCluster.start();
    const { n1, n2, n3 } = cluster;
    const r = ok(await n2.kv.set('/k', 'v'));
    expect(n2.kv.get('/k')).toStrictEqual(r);
    await cluster.waitApplied(r.index);
    for (const n of [n1, n3]) {
      const got = n.kv.get('/k');
      expect(got?.index, n.name).toBe(r.index);
      expect(got?.created, n.name).toBe(r.created);
      expect(got?.updated, n.name).toBe(r.updated);
    }
  });

  it('A07 a node joining (members discovery + add) consumes exactly one index', async () => {
    const FAST_TCP: SyncObjConfOptions = {
      appendEntriesPeriod: 0.05,
      raftMinTimeout: 0.2,
      raftMaxTimeout: 0.4,
      connectionTimeout: 1,
      connectionRetryTime: 0.3,
      autoTickPeriod: 0.02,
    };
    const [a1, a2, a3, a4] = (await freeLoopbackAddresses(4)) as [string, string, string, string];
    const open = async (addr: string, partners: string[], conf: SyncObjConfOptions) => {
      const kv = await KVStoreTTL.open({
        selfAddr: addr,
        partnerAddrs: partners,
        retryTimeout: 3,
        conf: { ...conf, bindAddress: addr },
        joinBackoffMs: 300,
      });
      tcpNodes.push(kv);
      return kv;
    };
    // N1 times out first and leads; N2, N3 wait long enough never to start an election of their own
    const n1 = await open(a1, [a2, a3], FAST_TCP);
    const slow = { ...FAST_TCP, raftMinTimeout: 2, raftMaxTimeout: 3, connectionTimeout: 3 };
    const n2 = await open(a2, [a1, a3], slow);
    const n3 = await open(a3, [a1, a2], slow);
    await waitFor(() => n1.isLeader() && n2.getLeader() === a1 && n3.getLeader() === a1, 15_000, 'N1 leads');
    const w = ok(await n1.set('/w', '1'));
    const i = w.index;
    await waitFor(() => [n1, n2, n3].every((n) => n.raftLastApplied === i), 5000);
    expect(n1.raftCommitIndex, 'the write is the last entry').toBe(i);
    const termBefore = n1.raftCurrentTerm;
    const n4 = await open(a4, [a1, a2, a3], slow);
    await waitFor(() => n1.otherNodes.includes(a4) && n1.raftCommitIndex >= i + 1, 10_000, 'N4 added');
    const after = ok(await n1.set('/after', '1'));
    expect(n1.raftCurrentTerm, 'no leader change').toBe(termBefore);
    expect(after.index).toBe(i + 2);
    await waitFor(() => n4.get('/after')?.index === i + 2, 5000, 'N4 applying /after');
  });

  it('A08 records handed out are snapshots: mutating them changes nothing stored', async () => {
    cluster = await KvCluster.start({ size: 1 });
    const kv = cluster.n1.kv;
    const r = ok(await kv.set('/a', 'orig'));
    const copy = { ...r };
    const mutate = (o: KvRecord) => {
      for (const [k, v] of [
        ['value', 'evil'],
        ['index', 999],
        ['created', 1],
        ['expire', 5],
      ] as const) {
        try {
          Reflect.set(o, k, v);
        } catch {
          // frozen records may throw in strict mode; either way nothing stored may change
        }
      }
    };
    mutate(r);
    expect(kv.get('/a')).toStrictEqual(copy);
    const got = kv.get('/a') as KvRecord;
    mutate(got);
    expect(kv.get('/a')).toStrictEqual(copy);
    const prefixed = kv.getPrefix('/');
    mutate(prefixed.get('/a') as KvRecord);
    prefixed.delete('/a');
    expect(kv.get('/a')).toStrictEqual(copy);
    expect(kv.getPrefix('/').get('/a')).toStrictEqual(copy);
  });
});

describe('applied index and call results', () => {
  it('raftLastApplied counts an entry only once the state machine has applied it', async () => {
    // pysyncobj advances raftLastApplied by applying; counting an entry when the core hands it out
    // would let a reader see raftLastApplied >= i while entry i's effect is not there yet
    cluster = await KvCluster.start();
    const { n2, n3 } = cluster;
    const lastAppliedDuringApply: number[] = [];
    const push = n3.sets.push.bind(n3.sets);
    n3.sets.push = (...items) => {
      lastAppliedDuringApply.push(n3.kv.raftLastApplied);
      return push(...items);
    };
    const records = [];
    for (let i = 0; i < 5; i++) records.push(ok(await n2.kv.set(`/k${i}`, 'v')));
    const last = records[records.length - 1] as KvRecord;
    await cluster.waitApplied(last.index, 5000, [n3]);
    expect(n3.sets.map(([k, r]) => [k, r.index])).toEqual(records.map((r, i) => [`/k${i}`, r.index]));
    // while entry i is being applied, raftLastApplied is below i; right after, it is i
    expect(lastAppliedDuringApply).toEqual(records.map((r) => r.index - 1));
    expect(n3.kv.raftLastApplied).toBeGreaterThanOrEqual(last.index);
  });

  it('an index assignment that reaches the submitter after the entry was applied still yields the record', async () => {
    // over TCP the leader's answer precedes the entries on the same connection; a reordering
    // (the simulator's non-FIFO links) must not turn a stored write into "false"
    cluster = await KvCluster.start();
    const { n1, n2 } = cluster;
    cluster.net.interceptor = (from, to, m) =>
      from === n1.addr && to === n2.addr && messageType(m) === 'apply_command_response' ? 'hold' : 'deliver';
    const pending = n2.kv.set('/late', 'v');
    await cluster.waitApplied(lastLogIndex(n1) > 2 ? lastLogIndex(n1) : 3, 3000, [n2]);
    expect(n2.kv.get('/late')?.value).toBe('v');
    cluster.net.interceptor = null;
    cluster.net.release();
    expect(await pending).toMatchObject({ value: 'v' });
  });
});
