import { afterEach, expect, it } from 'vitest';
import { KVStoreTTL } from '../../src/kv/kvstore-ttl.js';
import { MemoryNetwork } from '../../src/raft/transport/memory-transport.js';
import { waitFor } from '../helpers/wait.js';

const FAST = {
  appendEntriesPeriod: 0.02,
  raftMinTimeout: 0.08,
  raftMaxTimeout: 0.16,
  connectionTimeout: 0.5,
  autoTickPeriod: 0.01,
};
let nodes: KVStoreTTL[] = [];
afterEach(async () => {
  await Promise.all(nodes.map((n) => n.destroy()));
  nodes = [];
});

it('sets, gets, deletes and expires across three nodes', async () => {
  const net = new MemoryNetwork();
  const addrs = ['127.0.0.1:2001', '127.0.0.1:2002', '127.0.0.1:2003'];
  let t = 1000;
  nodes = addrs.map(
    (a) =>
      new KVStoreTTL({
        selfAddr: a,
        partnerAddrs: addrs,
        conf: FAST,
        wallClock: () => t,
        deps: { transport: net.factory },
      }),
  );
  await waitFor(() => nodes.some((n) => n.isLeader()), 20_000);
  const r = await nodes[1]!.set('/a', '1');
  expect(r).toMatchObject({ value: '1', updated: 1000, created: 1000 });
  expect(r !== false && r.index).toBeGreaterThanOrEqual(3);
  await waitFor(() => nodes.every((n) => n.get('/a')?.value === '1'), 20_000);
  expect(await nodes[2]!.set('/a', '2', { prevValue: 'x' })).toBe(false);
  expect(await nodes[0]!.set('/t', 'x', { ttl: 5 })).toMatchObject({ expire: 1005 });
  t = 1006;
  await waitFor(() => nodes.every((n) => n.get('/t') === null), 20_000);
  expect(await nodes[0]!.delete('/a')).toBe(true);
  await waitFor(() => nodes.every((n) => n.get('/a') === null), 20_000);
  expect(await nodes[0]!.delete('/a')).toBe(false);
});
