/**
 * Group F (docs/dcs.md §12.6): KV callbacks (on every node, from the log, not from snapshots) and
 * the Raft DCS change event / `watch` (docs/dcs.md §2.9, §9).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KVStoreTTL } from '../../src/kv/kvstore-ttl.js';
import type { KvRecord } from '../../src/kv/record.js';
import type { SyncObjConfOptions } from '../../src/raft/config.js';
import { MemoryJournal } from '../../src/raft/journal/memory.js';
import { journalPaths } from '../../src/raft/journal/paths.js';
import { MemoryDumpStore } from '../../src/raft/snapshot/dump-store.js';
import { MemoryNetwork } from '../../src/raft/transport/memory-transport.js';
import { type PyDict, type PyDictKey, PyFloat, type PyValue } from '../../src/wire/value.js';
import { ADDRS, DcsCluster, flush, P, rec, waitFor } from './dcs-helpers.js';

// ------------------------------------------------------------------------------------------------
// KV-level harness for F01–F03: KVStoreTTL nodes with callback recorders

const KV_FAST: SyncObjConfOptions = {
  appendEntriesPeriod: 0.02,
  raftMinTimeout: 0.3,
  raftMaxTimeout: 0.5,
  connectionTimeout: 1,
  autoTickPeriod: 0.01,
};
const KV_FIRST: SyncObjConfOptions = { ...KV_FAST, raftMinTimeout: 0.07, raftMaxTimeout: 0.08 };

interface KvNode {
  readonly addr: string;
  kv: KVStoreTTL;
  readonly clock: { t: number };
  readonly journal: MemoryJournal;
  readonly dumpStore: MemoryDumpStore;
  sets: [string, KvRecord][];
  deletes: string[];
}

let kvNodes: KvNode[] = [];
let dcsCluster: DcsCluster | null = null;
afterEach(async () => {
  await Promise.all(kvNodes.map((n) => n.kv.destroy()));
  kvNodes = [];
  await dcsCluster?.destroy();
  dcsCluster = null;
});

function openKv(
  net: MemoryNetwork,
  node: KvNode,
  partners: readonly string[],
  conf = KV_FAST,
  dataDir: string | null = null,
): KVStoreTTL {
  // with a data dir: Patroni's file names and the real journal and dump files
  const files = dataDir === null ? null : journalPaths(dataDir, node.addr);
  node.kv = new KVStoreTTL({
    selfAddr: node.addr,
    partnerAddrs: partners.filter((p) => p !== node.addr),
    conf: {
      ...conf,
      logCompactionMinEntries: 100_000,
      journalFile: files?.journal ?? null,
      fullDumpFile: files?.dump ?? null,
    },
    wallClock: () => node.clock.t,
    onSet: (k, r) => node.sets.push([k, r]),
    onDelete: (k) => node.deletes.push(k),
    deps:
      files === null
        ? { transport: net.factory, journal: node.journal, dumpStore: node.dumpStore }
        : { transport: net.factory },
  });
  return node.kv;
}

function newKvNode(net: MemoryNetwork, i: number, partners: readonly string[]): KvNode {
  const node: KvNode = {
    addr: ADDRS[i] as string,
    kv: null as unknown as KVStoreTTL,
    clock: { t: 1000 },
    journal: new MemoryJournal(),
    dumpStore: new MemoryDumpStore(),
    sets: [],
    deletes: [],
  };
  openKv(net, node, partners, i === 0 ? KV_FIRST : KV_FAST);
  kvNodes.push(node);
  return node;
}

async function kvCluster(size = 3): Promise<{ net: MemoryNetwork; nodes: KvNode[] }> {
  const net = new MemoryNetwork();
  const addrs = ADDRS.slice(0, size);
  const nodes = addrs.map((_, i) => newKvNode(net, i, addrs));
  const n1 = nodes[0] as KvNode;
  await waitFor(
    () => n1.kv.isLeader() && nodes.every((n) => n.kv.getLeader() === n1.addr),
    5000,
    'N1 leader',
  );
  await waitFor(() => n1.kv.raftCommitIndex >= 2, 5000, 'no-op committed');
  await applied(nodes, n1.kv.raftCommitIndex);
  return { net, nodes };
}

async function applied(nodes: readonly KvNode[], index: number): Promise<void> {
  await waitFor(() => nodes.every((n) => n.kv.raftLastApplied >= index), 5000, `applied ${index}`);
  await flush();
}

/** A record dict as a Python peer's `set()` sends it. */
function recordDict(value: string, updated: number, created: number, expire?: number): PyDict {
  const m = new Map<PyDictKey, PyValue>([
    ['value', value],
    ['updated', new PyFloat(updated)],
    ['created', new PyFloat(created)],
  ]);
  if (expire !== undefined) m.set('expire', new PyFloat(expire));
  return m;
}

/** Commit a raw replicated call (as a Python peer would submit it) and resolve with its result. */
function raw(
  kv: KVStoreTTL,
  method: '_set' | '_delete' | '_expire',
  args: PyValue[],
  kw?: [string, PyValue][],
) {
  return new Promise<PyValue | undefined>((resolve, reject) => {
    kv.callWithCallback(kv[method], args, kw ? new Map<PyDictKey, PyValue>(kw) : undefined, (r, reason) =>
      reason === 0 ? resolve(r) : reject(new Error(`fail reason ${reason}`)),
    );
  });
}

function clearRecorders(nodes: readonly KvNode[]): void {
  for (const n of nodes) {
    n.sets = [];
    n.deletes = [];
  }
}

describe('F: callbacks', () => {
  it('F01 a successful set runs on_set once on every node with the stored record; a failed CAS runs none', async () => {
    const { nodes } = await kvCluster();
    const [n1, n2] = nodes as [KvNode, KvNode, KvNode];
    clearRecorders(nodes);
    const r = rec((await n2.kv.set('/a', '1')) || null);
    await applied(nodes, r.index);
    for (const n of nodes) expect(n.sets).toEqual([['/a', r]]);
    expect(r).toMatchObject({ value: '1', updated: 1000, created: 1000 });

    // the callback sees the adjusted `created` (a stale incarnation's created is replaced by updated)
    clearRecorders(nodes);
    const adjusted = (await raw(n1.kv, '_set', ['/a', recordDict('2', 1200, 50)])) as unknown as KvRecord;
    expect(adjusted).toMatchObject({ value: '2', updated: 1200, created: 1200 });
    await applied(nodes, adjusted.index);
    for (const n of nodes)
      expect(n.sets).toEqual([['/a', { value: '2', updated: 1200, created: 1200, index: adjusted.index }]]);

    // CAS failing at apply time (the local pre-check passed): no callback anywhere
    clearRecorders(nodes);
    expect(await raw(n1.kv, '_set', ['/a', recordDict('3', 1300, 1200)], [['prevValue', 'nope']])).toBe(
      false,
    );
    // CAS failing the local pre-check: nothing replicated, no callback
    expect(await n2.kv.set('/a', '4', { prevExist: false })).toBe(false);
    await applied(nodes, n1.kv.raftCommitIndex);
    for (const n of nodes) {
      expect(n.sets).toEqual([]);
      expect(n.kv.get('/a')?.value).toBe('2');
    }
  });

  it('F02 on_delete runs for explicit, recursive and expiry deletes; not for a no-op expire or a failed CAS delete', async () => {
    const { nodes } = await kvCluster();
    const [n1] = nodes as [KvNode, KvNode, KvNode];
    for (const k of ['/x', '/r/1', '/r/2', '/r/3']) expect(await n1.kv.set(k, 'v')).not.toBe(false);
    await applied(nodes, n1.kv.raftCommitIndex);

    clearRecorders(nodes);
    expect(await n1.kv.delete('/x')).toBe(true);
    await applied(nodes, n1.kv.raftCommitIndex);
    for (const n of nodes) expect(n.deletes).toEqual(['/x']);

    clearRecorders(nodes);
    expect(await n1.kv.delete('/r/', { recursive: true })).toBe(true);
    await applied(nodes, n1.kv.raftCommitIndex);
    for (const n of nodes) expect(n.deletes).toEqual(['/r/1', '/r/2', '/r/3']);

    // expiry (leader-driven)
    const t = rec((await n1.kv.set('/t', 'x', { ttl: 5 })) || null);
    await applied(nodes, t.index);
    clearRecorders(nodes);
    for (const n of nodes) n.clock.t = 1006;
    await waitFor(() => nodes.every((n) => n.kv.get('/t') === null), 3000, '/t expired everywhere');
    await flush();
    for (const n of nodes) expect(n.deletes).toEqual(['/t']);

    // a no-op expire (record no longer matches) and a failed CAS delete: no callback
    for (const n of nodes) n.clock.t = 1000;
    const p = rec((await n1.kv.set('/p', 'y', { ttl: 50 })) || null);
    await applied(nodes, p.index);
    clearRecorders(nodes);
    const stale = recordDict('y', p.updated + 0.001, p.created, p.expire);
    stale.set('index', p.index);
    await raw(n1.kv, '_expire', ['/p', stale]);
    expect(
      await raw(
        n1.kv,
        '_delete',
        ['/p'],
        [
          ['recursive', false],
          ['prevValue', 'nope'],
        ],
      ),
    ).toBe(false);
    await applied(nodes, n1.kv.raftCommitIndex);
    for (const n of nodes) {
      expect(n.deletes).toEqual([]);
      expect(n.kv.get('/p')).toEqual(p);
    }
  });

  it('F03 a restart from the data dir re-applies the journal with on_set once per entry; dump state runs none', async () => {
    const net = new MemoryNetwork();
    const dir = mkdtempSync(join(tmpdir(), 'raftdcs-f03-'));
    try {
      const n1: KvNode = {
        addr: ADDRS[0],
        kv: null as unknown as KVStoreTTL,
        clock: { t: 1000 },
        journal: new MemoryJournal(),
        dumpStore: new MemoryDumpStore(),
        sets: [],
        deletes: [],
      };
      openKv(net, n1, [ADDRS[0]], KV_FIRST, dir);
      kvNodes.push(n1);
      await waitFor(() => n1.kv.isLeader() && n1.kv.raftCommitIndex >= 2, 5000, 'single node leader');
      const written: [string, KvRecord][] = [];
      const put = async (k: string, v: string, ttl?: number) => {
        written.push([k, rec((await n1.kv.set(k, v, { ttl })) || null)]);
      };
      await put('/k1', 'a');
      n1.clock.t = 1001.5;
      await put('/k2', 'b', 300);
      n1.clock.t = 1002.25;
      await put('/k3', 'c');
      n1.clock.t = 1003;
      await put('/k1', 'd'); // an update: created kept
      const before = n1.kv.getPrefix('/');
      expect([...before.keys()]).toEqual(['/k1', '/k2', '/k3']);
      expect(before.get('/k1')).toMatchObject({ value: 'd', created: 1000, updated: 1003 });
      expect(before.get('/k2')).toMatchObject({ expire: 1301.5 });

      // restart from the journal file alone: every entry re-applied once, records identical
      await n1.kv.destroy();
      expect(existsSync(join(dir, `${ADDRS[0]}.journal`))).toBe(true);
      n1.sets = [];
      openKv(net, n1, [ADDRS[0]], KV_FIRST, dir);
      await waitFor(() => n1.kv.getPrefix('/').size === 3 && n1.kv.appliedLocalLog, 5000, 'journal replayed');
      await flush();
      expect(n1.kv.getPrefix('/')).toEqual(before);
      expect(n1.sets).toEqual(written);

      // dump, then restart: the state comes from the dump file, no on_set for it
      await waitFor(() => n1.kv.isLeader(), 5000, 'leader again');
      n1.kv.forceLogCompaction();
      await waitFor(() => Number(n1.kv.getStatus().log_len) <= 3, 5000, 'dump');
      await n1.kv.destroy();
      expect(existsSync(join(dir, `${ADDRS[0]}.dump`))).toBe(true);
      n1.sets = [];
      openKv(net, n1, [ADDRS[0]], KV_FIRST, dir);
      await waitFor(() => n1.kv.getPrefix('/').size === 3, 5000, 'dump loaded');
      await waitFor(() => n1.kv.appliedLocalLog, 5000);
      await flush();
      expect(n1.kv.getPrefix('/')).toEqual(before);
      expect(n1.sets.filter(([k]) => k.startsWith('/k'))).toEqual([]);
    } finally {
      await Promise.all(kvNodes.map((n) => n.kv.destroy()));
      kvNodes = [];
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('F03 a new member receiving the leader snapshot gets every key with its index, created, updated, expire and no on_set', async () => {
    const { net, nodes } = await kvCluster();
    const [n1] = nodes as [KvNode, KvNode, KvNode];
    n1.clock.t = 1000.5;
    for (let i = 0; i < 10; i++) {
      expect(await n1.kv.set(`/s${i}`, `v${i}`, i % 2 ? { ttl: 600 } : {})).not.toBe(false);
    }
    await applied(nodes, n1.kv.raftCommitIndex);
    const before = n1.kv.getPrefix('/');
    n1.kv.forceLogCompaction();
    await waitFor(() => Number(n1.kv.getStatus().log_len) <= 3, 5000, 'leader compacted its log');
    const n4 = newKvNode(net, 3, ADDRS.slice(0, 4));
    await n1.kv.addNodeToCluster(n4.addr);
    await waitFor(() => n4.kv.getPrefix('/').size === before.size, 5000, 'N4 received the snapshot');
    expect(n4.kv.getPrefix('/')).toEqual(before);
    expect(n4.sets.filter(([k]) => k.startsWith('/s'))).toEqual([]);
    // and entries after the snapshot do run on_set on N4
    const after = rec((await n1.kv.set('/after', 'x')) || null);
    await waitFor(() => n4.kv.get('/after') !== null, 5000);
    await flush();
    expect(n4.sets).toEqual([['/after', after]]);
  });
});

// ------------------------------------------------------------------------------------------------
// DCS events and watch

describe('F: Raft DCS change events and watch', () => {
  async function started(): Promise<DcsCluster> {
    dcsCluster = await DcsCluster.start();
    return dcsCluster;
  }

  it('F04 status/optime wake us unless we hold the leader key; config and sync always do', async () => {
    const c = await started();
    const dcs = c.n1.dcs;
    const kv = c.n2.dcs.kv; // raw writes from another node: every node applies them
    const settle = () => c.settle();
    const check = async (key: string, value: string, expected: boolean) => {
      await dcs.watch(null, 0); // clear
      expect(await kv.set(P + key, value)).not.toBe(false);
      await settle();
      expect(await dcs.watch(null, 0), `${key} with leader ${dcs.kv.get(`${P}leader`)?.value}`).toBe(
        expected,
      );
    };
    expect(await kv.set(`${P}leader`, 'pg2')).not.toBe(false);
    await settle();
    await check('status', '{"optime":1}', true);
    await check('optime/leader', '2', true);
    await check('config', '{"ttl":30}', true);
    await check('sync', '{"leader":"pg2","quorum":0,"sync_standby":null}', true);
    expect(await kv.set(`${P}leader`, 'pg1')).not.toBe(false);
    await settle();
    await check('status', '{"optime":3}', false);
    await check('optime/leader', '4', false);
    await check('config', '{"ttl":20}', true);
    await check('sync', '{"leader":"pg1","quorum":0,"sync_standby":null}', true);
    // no leader key at all counts as "not us"
    expect(await kv.delete(`${P}leader`)).toBe(true);
    await check('status', '{"optime":5}', true);
  });

  it('F05 deleting the leader key (explicitly, by expiry, recursively) wakes us', async () => {
    const c = await started();
    const dcs = c.n1.dcs;
    const kv = c.n2.dcs.kv;
    expect(await kv.set(`${P}leader`, 'pg2')).not.toBe(false);
    await c.settle();
    await dcs.watch(null, 0);
    expect(await kv.delete(`${P}leader`)).toBe(true);
    await c.settle();
    expect(await dcs.watch(null, 0)).toBe(true);

    expect(await kv.set(`${P}leader`, 'pg2', { ttl: 5 })).not.toBe(false);
    await c.settle();
    expect(await dcs.watch(null, 0)).toBe(false);
    c.setTime(1005);
    await waitFor(
      () => c.nodes.every((n) => n.dcs.kv.get(`${P}leader`) === null),
      3000,
      'leader key expired',
    );
    await flush();
    expect(await dcs.watch(null, 0)).toBe(true);

    expect(await kv.set(`${P}leader`, 'pg2')).not.toBe(false);
    expect(await kv.set(`${P}members/pg2`, '{}')).not.toBe(false);
    await c.settle();
    await dcs.watch(null, 0);
    expect(await c.n2.dcs.deleteCluster()).toBe(true);
    await c.settle();
    expect(dcs.kv.getPrefix(P).size).toBe(0);
    expect(await dcs.watch(null, 0)).toBe(true);
  });

  it('F06 history, failover, initialize, failsafe, member updates and another holder refreshing its lock do not wake us', async () => {
    const c = await started();
    const dcs = c.n1.dcs;
    const kv = c.n3.dcs.kv;
    expect(await kv.set(`${P}members/pg2`, '{"state":"running"}', { ttl: 30 })).not.toBe(false);
    expect(await c.n2.dcs.attemptToAcquireLeader()).toBe(true);
    await c.settle();
    await dcs.watch(null, 0);
    for (const [key, value] of [
      ['history', '[[1,25165984,"no recovery target specified"]]'],
      ['failover', '{"leader":"pg2","member":"pg3"}'],
      ['initialize', '7301234567890123456'],
      ['failsafe', '{"pg2":"http://h:8008/patroni"}'],
      ['members/pg2', '{"state":"stopped"}'],
    ] as const) {
      expect(await kv.set(P + key, value)).not.toBe(false);
      await c.settle();
      expect(await dcs.watch(null, 0), key).toBe(false);
    }
    // pg2 refreshes its own lock
    const cluster = await c.n2.dcs.getCluster();
    const before = rec(c.n1.dcs.kv.get(`${P}leader`));
    c.setTime(1010);
    expect(await c.n2.dcs.updateLeader(cluster, null)).toBe(true);
    await c.settle();
    expect(rec(dcs.kv.get(`${P}leader`)).index).toBeGreaterThan(before.index);
    expect(await dcs.watch(null, 0)).toBe(false);
    // our choice (docs/dcs.md §9.1): creating a member key does not wake us either (as in Patroni)
    expect(await kv.set(`${P}members/pg9`, '{}')).not.toBe(false);
    await c.settle();
    expect(await dcs.watch(null, 0)).toBe(false);
  });

  it('F07 watch returns at once when the event is set, else after the timeout, and clears it', async () => {
    const c = await started();
    const dcs = c.n1.dcs;
    dcs.wakeup();
    let t = performance.now();
    expect(await dcs.watch(null, 5)).toBe(true);
    expect(performance.now() - t).toBeLessThan(100);
    t = performance.now();
    expect(await dcs.watch(null, 0.2)).toBe(false);
    const waited = performance.now() - t;
    expect(waited).toBeGreaterThanOrEqual(190);
    expect(waited).toBeLessThan(600);
  });

  it('F08 a waiting watch returns within 1 s when another node deletes the leader key', async () => {
    const c = await started();
    expect(await c.n2.dcs.attemptToAcquireLeader()).toBe(true);
    await c.settle();
    await c.n1.dcs.watch(null, 0);
    const t = performance.now();
    const watching = c.n1.dcs.watch(null, 10);
    const cluster = await c.n2.dcs.getCluster();
    expect(await c.n2.dcs.deleteLeader(cluster.leader, null)).toBe(true);
    expect(await watching).toBe(true);
    expect(performance.now() - t).toBeLessThan(1000);
    expect(c.n1.dcs.kv.get(`${P}leader`)).toBeNull();
  });
});
