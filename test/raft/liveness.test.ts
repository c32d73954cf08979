/**
 * The runtime's liveness record (src/raft/runtime/liveness.ts) and `SyncObj.liveness()`: ticks
 * counted only when the loop runs (autoTick, or doTick with autoTick off), the time a peer was last
 * heard from, forgotten when its connection goes. In-process nodes on a MemoryNetwork.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SyncObjConfOptions } from '../../src/raft/config.js';
import { LivenessRecord } from '../../src/raft/runtime/liveness.js';
import { SyncObj } from '../../src/raft/syncobj.js';
import { MemoryNetwork } from '../../src/raft/transport/memory-transport.js';
import { waitFor } from '../helpers/wait.js';

const FAST: SyncObjConfOptions = {
  appendEntriesPeriod: 0.02,
  raftMinTimeout: 0.08,
  raftMaxTimeout: 0.16,
  connectionTimeout: 0.5,
  autoTickPeriod: 0.01,
  dynamicMembershipChange: true,
};

let nodes: SyncObj[] = [];
afterEach(async () => {
  await Promise.all(nodes.map((n) => n.destroy()));
  nodes = [];
});

function node(net: MemoryNetwork, self: string, partners: string[], conf: SyncObjConfOptions = {}): SyncObj {
  const n = new SyncObj(self, partners, { ...FAST, ...conf }, { deps: { transport: net.factory } });
  nodes.push(n);
  return n;
}

describe('LivenessRecord', () => {
  it('records ticks and the last message per peer; forget drops a peer; snapshots are copies', () => {
    const r = new LivenessRecord(100);
    expect(r.snapshot(100)).toEqual({
      nowMs: 100,
      sinceMs: 100,
      lastTickMs: null,
      ticks: 0,
      lastHeardMs: new Map(),
    });
    r.ticked(110);
    r.ticked(120);
    r.heard('a', 115);
    r.heard('b', 118);
    r.heard('a', 121);
    const s = r.snapshot(125);
    expect(s).toMatchObject({ nowMs: 125, lastTickMs: 120, ticks: 2 });
    expect([...s.lastHeardMs]).toEqual([
      ['a', 121],
      ['b', 118],
    ]);
    r.forget('a');
    expect([...r.snapshot(130).lastHeardMs]).toEqual([['b', 118]]);
    expect([...s.lastHeardMs.keys()]).toEqual(['a', 'b']);
  });
});

describe('SyncObj.liveness()', () => {
  it('counts ticks of the automatic loop; a leader hears its followers, followers hear the leader', async () => {
    const net = new MemoryNetwork();
    const addrs = ['127.0.0.1:1301', '127.0.0.1:1302', '127.0.0.1:1303'];
    const cs = addrs.map((a) =>
      node(
        net,
        a,
        addrs.filter((b) => b !== a),
      ),
    );
    await waitFor(() => cs.some((c) => c.isLeader()) && cs.every((c) => c.getLeader() !== null), 5000);
    const leader = cs.find((c) => c.isLeader()) as SyncObj;
    const followers = cs.filter((c) => c !== leader);
    const first = leader.liveness();
    await waitFor(() => leader.liveness().ticks > first.ticks + 3, 5000, 'more ticks');
    const later = leader.liveness();
    expect(later.lastTickMs).not.toBeNull();
    expect(later.nowMs - (later.lastTickMs as number)).toBeLessThan(1000);
    // every follower answers the heartbeats
    for (const f of followers) {
      await waitFor(() => leader.liveness().lastHeardMs.has(f.selfNode as string), 5000, 'answers');
      const heard = f.liveness().lastHeardMs.get(leader.selfNode as string);
      expect(heard).toBeDefined();
    }
    // a follower's link to the leader cut: it forgets what it heard from it
    const f = followers[0] as SyncObj;
    net.setCut(f.selfNode as string, leader.selfNode as string, true);
    await waitFor(() => !f.liveness().lastHeardMs.has(leader.selfNode as string), 5000, 'forgotten');
    await waitFor(() => !leader.liveness().lastHeardMs.has(f.selfNode as string), 5000, 'forgotten');
  });

  it('with autoTick off only doTick counts as a tick', async () => {
    const net = new MemoryNetwork();
    const a = node(net, '127.0.0.1:1311', [], { autoTick: false });
    await a.waitBinded();
    const before = a.liveness();
    expect(before.ticks).toBe(0);
    expect(before.lastTickMs).toBeNull();
    expect(before.nowMs).toBeGreaterThanOrEqual(before.sinceMs);
    await a.doTick();
    await a.doTick();
    const after = a.liveness();
    expect(after.ticks).toBe(2);
    expect(after.lastTickMs).not.toBeNull();
  });

  it('a destroyed node stops ticking', async () => {
    const net = new MemoryNetwork();
    const a = node(net, '127.0.0.1:1321', []);
    await waitFor(() => a.liveness().ticks > 2, 5000, 'ticks');
    await a.destroy();
    const stopped = a.liveness().ticks;
    await a.doTick();
    expect(a.liveness().ticks).toBe(stopped);
  });
});
