/**
 * Group E (docs/dcs.md §12.5) — TTL and leader-driven expiry (docs/dcs.md §4), on in-process
 * clusters with one injected wall clock per node.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { KVStoreTTL } from '../../src/kv/kvstore-ttl.js';
import type { KvRecord } from '../../src/kv/record.js';
import type { SyncObjConfOptions } from '../../src/raft/config.js';
import { FailReason, RaftState } from '../../src/raft/core/types.js';
import { waitFor } from '../helpers/wait.js';
import {
  FAST,
  flush,
  KvCluster,
  kvLog,
  lastLogIndex,
  ok,
  plain,
  rawCall,
  sleep,
  storedDict,
  type TestNode,
} from './acceptance-helpers.js';

let cluster: KvCluster | null = null;
const cleanups: (() => void)[] = [];
afterEach(async () => {
  await cluster?.destroy();
  cluster = null;
  for (const c of cleanups.splice(0)) c();
});

/** Let each node tick a few times at the current clocks. */
async function ticks(ms = 100): Promise<void> {
  await sleep(ms);
  await flush();
}

function expireEntries(node: TestNode, key: string) {
  return kvLog(node).filter((e) => e.method === '_expire' && e.args[0] === key);
}

describe('E. TTL and expiry', () => {
  it('E01 the leader expires an overdue key with one committed expire(key, record incl. index)', async () => {
    cluster = await KvCluster.start();
    const { n1 } = cluster;
    cluster.setTime(1000.0);
    const t = ok(await n1.kv.set('/t', 'x', { ttl: 5 }));
    ok(await n1.kv.set('/p', 'y'));
    await cluster.waitApplied(lastLogIndex(n1));
    cluster.setTime(1004.9);
    await ticks();
    for (const n of cluster.nodes) expect(n.kv.get('/t'), n.name).toStrictEqual(t);
    expect(expireEntries(n1, '/t')).toEqual([]);
    cluster.setTime(1005.0);
    await waitFor(() => cluster!.nodes.every((n) => n.kv.get('/t') === null), 3000, '/t removed everywhere');
    const expires = expireEntries(n1, '/t');
    expect(expires).toHaveLength(1);
    expect(expires[0]?.kwargs).toBeUndefined();
    expect(plain(expires[0]?.args[1])).toEqual(plain(storedDict(t)));
    expect(n1.kv.raftCommitIndex).toBeGreaterThanOrEqual(expires[0]?.index ?? Number.POSITIVE_INFINITY);
    for (const n of cluster.nodes) expect(n.deletes, n.name).toEqual(['/t']);
    cluster.setTime(5000);
    await ticks();
    for (const n of cluster.nodes) expect(n.kv.get('/p')?.value, n.name).toBe('y');
  });

  it("E01b only the leader's clock expires keys: a follower whose clock is past the TTL expires nothing", async () => {
    cluster = await KvCluster.start();
    const { n1, n2 } = cluster;
    cluster.setTime(1000.0);
    const t = ok(await n1.kv.set('/t', 'x', { ttl: 5 }));
    await cluster.waitApplied(lastLogIndex(n1));
    expect(n1.kv.isLeader()).toBe(true);
    n2.clock.t = 2000.0; // a follower an hour ahead
    await ticks(300);
    for (const n of cluster.nodes) expect(n.kv.get('/t'), n.name).toStrictEqual(t);
    expect(expireEntries(n1, '/t')).toEqual([]);
  });

  it("E02 TTL runs between the writer's clock and the leader's: 10 s behind → a 30 s TTL lasts 20 s", async () => {
    cluster = await KvCluster.start();
    const { n1, n2, n3 } = cluster;
    n1.clock.t = 1010.0;
    n3.clock.t = 1010.0;
    n2.clock.t = 1000.0;
    const t = ok(await n2.kv.set('/t', 'x', { ttl: 30 }));
    expect(t.expire).toBe(1030.0);
    n1.clock.t = 1029.99;
    n3.clock.t = 1029.99;
    await ticks(150);
    for (const n of cluster.nodes) expect(n.kv.get('/t'), n.name).not.toBeNull();
    n1.clock.t = 1030.0;
    await waitFor(() => cluster!.nodes.every((n) => n.kv.get('/t') === null), 3000, 'N1 expiring /t');
    // N1 removed it 20 s (on its clock) after the write
    expect(n1.clock.t - 1010.0).toBe(20);
  });

  it('E03 a follower cut off from the leader keeps seeing an expired key', async () => {
    cluster = await KvCluster.start();
    const { n1, n3 } = cluster;
    cluster.setTime(1000.0);
    const t = ok(await n1.kv.set('/t', 'x', { ttl: 5 }));
    await cluster.waitApplied(t.index);
    cluster.setTime(1004.0);
    cluster.net.isolate(n3.addr, true);
    cluster.setTime(1105.0);
    await waitFor(() => n1.kv.get('/t') === null, 3000, 'the leader expiring /t');
    await ticks(150);
    expect(n3.kv.get('/t')).toStrictEqual(t);
  });

  it('E04 a refresh committed before a pending expire protects the key', async () => {
    cluster = await KvCluster.start();
    const { n1 } = cluster;
    cluster.setTime(1000.0);
    const old = ok(await n1.kv.set('/t', 'x', { ttl: 5 }));
    expect(old.expire).toBe(1005.0);
    await cluster.waitApplied(lastLogIndex(n1));
    cluster.setTime(1005.01);
    // the refresh is proposed synchronously, then the leader ticks before it is applied: its
    // expiry check still sees r_old overdue and submits expire('/t', r_old) after the refresh
    const refresh = n1.kv.set('/t', 'x', { ttl: 5 });
    await n1.kv.doTick();
    const r = ok(await refresh);
    await cluster.waitApplied(lastLogIndex(n1));
    await ticks();
    const setIndex = r.index;
    const expires = expireEntries(n1, '/t');
    expect(expires.length).toBeGreaterThanOrEqual(1);
    expect(expires[0]?.index).toBeGreaterThan(setIndex);
    expect(plain(expires[0]?.args[1])).toEqual(plain(storedDict(old)));
    expect(n1.kv.raftCommitIndex).toBeGreaterThanOrEqual(expires[0]?.index as number);
    for (const n of cluster.nodes) {
      expect(n.kv.get('/t'), n.name).toStrictEqual(r);
      expect(n.deletes, n.name).toEqual([]);
    }
    expect(r.expire).toBe(1010.01);
  });

  it('E05 a leader without quorum submits one expire per overdue record, however often it ticks', async () => {
    cluster = await KvCluster.start();
    const { n1, n2, n3 } = cluster;
    cluster.setTime(990.0);
    const t = ok(await n1.kv.set('/t', 'x', { ttl: 5 }));
    await cluster.waitApplied(lastLogIndex(n1));
    for (const n of cluster.nodes) cluster.net.isolate(n.addr, true);
    const commitBefore = n1.kv.raftCommitIndex;
    let tickCount = 0;
    n1.clock.t = 1000.0;
    const onTick = () => {
      tickCount++;
      if (tickCount <= 200) n1.clock.t += 0.05;
    };
    n1.kv.addOnTickCallback(onTick);
    await waitFor(() => tickCount >= 200, 10_000, '200 ticks of N1');
    n1.kv.removeOnTickCallback(onTick);
    expect(n1.clock.t).toBeCloseTo(1010.0, 6);
    expect(n1.kv.isLeader(), 'N1 still believes it leads (leaderFallbackTimeout 30 s)').toBe(true);
    const expires = expireEntries(n1, '/t');
    expect(expires).toHaveLength(1);
    expect(plain(expires[0]?.args[1])).toEqual(plain(storedDict(t)));
    expect(n1.kv.raftCommitIndex, 'uncommitted').toBe(commitBefore);
    expect(expires[0]?.index).toBeGreaterThan(commitBefore);
    // heal: whoever leads now expires /t (every clock is past 995)
    cluster.setTime(1010.0);
    for (const n of cluster.nodes) cluster.net.isolate(n.addr, false);
    await waitFor(
      () =>
        [n1, n2, n3].some((n) => n.kv.raftState === RaftState.Leader) &&
        [n1, n2, n3].every((n) => n.kv.get('/t') === null),
      5000,
      '/t removed everywhere after the heal',
    );
  });

  it('E06 an expire whose record does not match (updated + 0.001) changes nothing and runs no callback', async () => {
    cluster = await KvCluster.start();
    const { n1, n2 } = cluster;
    cluster.setTime(1000.0);
    for (let i = 3; i <= 8; i++) ok(await n1.kv.set(`/k${i}`, 'v'));
    const r = ok(await n1.kv.set('/t', 'x', { ttl: 1000 }));
    expect(r.index).toBe(9);
    await cluster.waitApplied(r.index);
    for (const n of cluster.nodes) n.sets.length = 0;
    const other = storedDict({ ...r, updated: r.updated + 0.001 });
    const out = await rawCall(n2.kv, '_expire', ['/t', other]);
    expect(out.reason).toBe(FailReason.Success);
    await cluster.waitApplied(lastLogIndex(n1));
    for (const n of cluster.nodes) {
      expect(n.kv.get('/t'), n.name).toStrictEqual(r);
      expect(n.deletes, n.name).toEqual([]);
      expect(n.sets, n.name).toEqual([]);
    }
  });

  it('E07 after a restart, expired keys stay visible until a leader exists, then only they go', async () => {
    cluster = await KvCluster.start({ size: 1 });
    await e07(cluster, cluster.n1);
  });

  it('E07 (journalFile + fullDumpFile configured, data dir on disk) same across a real restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raftdcs-e07c-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    await e07ConfiguredFiles(dir);
  });
});

/** E07's body: write at T=1000, stop, restart at T=1010 with the same stores (and optionally other deps). */
async function e07(
  c: KvCluster,
  node: TestNode,
  reopen: () => Partial<ConstructorParameters<typeof KVStoreTTL>[0]> = () => ({}),
): Promise<void> {
  node.clock.t = 1000.0;
  const t = ok(await node.kv.set('/t', 'x', { ttl: 3 }));
  const p = ok(await node.kv.set('/p', 'y'));
  expect(t.expire).toBe(1003.0);
  await c.waitApplied(p.index, 3000, [node]);
  await node.kv.destroy();
  node.clock.t = 1010.0;
  // slow election: a window where the log is applied but no leader exists yet
  const slow: SyncObjConfOptions = {
    ...FAST,
    raftMinTimeout: 1.0,
    raftMaxTimeout: 1.2,
    connectionTimeout: 1.2,
  };
  node.sets.length = 0;
  node.kv = c.open(node, [], { conf: slow, ...reopen() });
  await waitFor(() => node.kv.appliedLocalLog, 3000, 'the journal re-applied');
  await flush();
  expect(node.kv.getLeader()).toBeNull();
  expect(node.kv.get('/t')).toStrictEqual(t);
  expect(node.kv.get('/p')).toStrictEqual(p);
  await waitFor(() => node.kv.isLeader(), 5000, 'N1 leading again');
  await waitFor(() => node.kv.get('/t') === null, 3000, '/t expired by the new leader');
  const after = node.kv.get('/p') as KvRecord;
  expect(after).toStrictEqual(p);
  expect({ index: after.index, created: after.created, updated: after.updated }).toEqual({
    index: p.index,
    created: p.created,
    updated: p.updated,
  });
}

/** E07 with Patroni's file layout: `<data_dir>/<self_addr>.journal` and `.dump` set in the configuration. */
async function e07ConfiguredFiles(dataDir: string): Promise<void> {
  const c = new KvCluster({});
  const files = (): SyncObjConfOptions => ({
    ...FAST,
    journalFile: join(dataDir, '127.0.0.1:7101.journal'),
    fullDumpFile: join(dataDir, '127.0.0.1:7101.dump'),
  });
  const node = c.add(['127.0.0.1:7101'], 0, { conf: files(), deps: { transport: c.net.factory } });
  try {
    await waitFor(() => node.kv.isLeader(), 5000, 'N1 leading');
    await e07(c, node, () => ({
      conf: { ...files(), raftMinTimeout: 1.0, raftMaxTimeout: 1.2, connectionTimeout: 1.2 },
      deps: { transport: c.net.factory },
    }));
  } finally {
    await c.destroy();
  }
}
