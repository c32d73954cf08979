/**
 * Log compaction and snapshots in the runtime: dumps are made by pysyncobj's knobs, a new member
 * behind the leader's log start receives the dump, a restart loads dump + journal.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { KVStoreTTL } from '../../src/kv/kvstore-ttl.js';
import type { SyncObjConfOptions } from '../../src/raft/config.js';
import { MemoryJournal } from '../../src/raft/journal/memory.js';
import { MemoryDumpStore } from '../../src/raft/snapshot/dump-store.js';
import { MemoryNetwork } from '../../src/raft/transport/memory-transport.js';
import { waitFor } from '../helpers/wait.js';

const FAST: SyncObjConfOptions = {
  appendEntriesPeriod: 0.02,
  raftMinTimeout: 0.08,
  raftMaxTimeout: 0.16,
  connectionTimeout: 0.5,
  autoTickPeriod: 0.01,
  logCompactionMinEntries: 20,
};

let nodes: KVStoreTTL[] = [];
afterEach(async () => {
  await Promise.all(nodes.map((n) => n.destroy()));
  nodes = [];
});

function kv(
  net: MemoryNetwork,
  addr: string,
  partners: string[],
  extra: Partial<ConstructorParameters<typeof KVStoreTTL>[0]> = {},
) {
  const n = new KVStoreTTL({
    selfAddr: addr,
    partnerAddrs: partners,
    conf: FAST,
    deps: { transport: net.factory },
    ...extra,
  });
  nodes.push(n);
  return n;
}

describe('log compaction and snapshots', () => {
  it('compacts the log and brings a new member up to date with the dump (no on_set for dumped keys)', async () => {
    const net = new MemoryNetwork();
    const addrs = ['127.0.0.1:3001', '127.0.0.1:3002', '127.0.0.1:3003'];
    const cs = addrs.map((a) => kv(net, a, addrs));
    await waitFor(() => cs.some((c) => c.isLeader()), 20_000);
    const leader = cs.find((c) => c.isLeader())!;
    for (let i = 0; i < 100; i++) expect(await leader.set(`/k${i}`, `v${i}`)).not.toBe(false);
    await waitFor(() => Number(leader.getStatus().log_len) < 60, 20_000, 'leader compaction');
    const seen: string[] = [];
    const d = kv(net, '127.0.0.1:3004', addrs, { onSet: (k) => seen.push(k) });
    await leader.addNodeToCluster('127.0.0.1:3004');
    await waitFor(() => d.size === 100, 20_000, 'new member catching up');
    expect(d.get('/k42')).toEqual(leader.get('/k42'));
    expect(seen.filter((k) => k.startsWith('/k') && Number(k.slice(2)) < 60)).toEqual([]);
    await leader.set('/after', 'x');
    await waitFor(() => d.get('/after')?.value === 'x', 20_000);
  });

  it('restarts from its dump and journal with the same records', async () => {
    const net = new MemoryNetwork();
    const journal = new MemoryJournal();
    const dumpStore = new MemoryDumpStore();
    const a = kv(net, '127.0.0.1:3011', [], { deps: { transport: net.factory, journal, dumpStore } });
    await waitFor(() => a.isLeader(), 20_000);
    for (let i = 0; i < 50; i++) await a.set(`/k${i}`, `v${i}`, { ttl: i % 2 ? 30 : undefined });
    await waitFor(() => Number(a.getStatus().log_len) < 40, 20_000);
    const before = a.getPrefix('/');
    await a.destroy();
    const seen: string[] = [];
    const b = kv(net, '127.0.0.1:3011', [], {
      onSet: (k) => seen.push(k),
      deps: { transport: net.factory, journal, dumpStore },
    });
    await waitFor(() => b.size === before.size, 20_000);
    expect(b.getPrefix('/')).toEqual(before);
    // entries after the dump point are replayed through _set (on_set), those in the dump are not
    expect(seen.length).toBeLessThan(before.size);
  });
});
