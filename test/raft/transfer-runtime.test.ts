/**
 * SyncObj.transferLeadership over an in-process network (real pickle codec, no sockets): the promise
 * resolves once this node sees the target lead; calls made meanwhile fail NOT_LEADER; refusals and
 * a transfer the target never completes reject with a SyncObjError that says why.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SyncObjConfOptions } from '../../src/raft/config.js';
import { FailReason } from '../../src/raft/core/types.js';
import { SyncObjError } from '../../src/raft/syncobj.js';
import { MemoryNetwork } from '../../src/raft/transport/memory-transport.js';
import type { Transport, TransportHandler } from '../../src/raft/transport/types.js';
import type { PyValue } from '../../src/wire/value.js';
import { waitFor } from '../helpers/wait.js';
import { Counter } from './runtime-helpers.js';

/** Real elections on the auto tick (runtime-helpers' FAST has neither). */
const TICKING: SyncObjConfOptions = {
  appendEntriesPeriod: 0.02,
  raftMinTimeout: 0.08,
  raftMaxTimeout: 0.16,
  connectionTimeout: 0.5,
  autoTickPeriod: 0.01,
  appendEntriesUseBatch: false,
  dynamicMembershipChange: true,
  commandsWaitLeader: false,
};

let nodes: Counter[] = [];
afterEach(async () => {
  await Promise.all(nodes.map((n) => n.destroy()));
  nodes = [];
});

const ADDRS = ['127.0.0.1:1001', '127.0.0.1:1002', '127.0.0.1:1003'];

/** A cluster on `net`; the nodes in `deaf` drop every `timeout_now` (a raftdcs without transfers). */
function cluster(net: MemoryNetwork, deaf: readonly string[] = []): Counter[] {
  const out = ADDRS.map((a) => {
    const transport = (handler: TransportHandler, conf: unknown, self: string | null): Transport => {
      if (!deaf.includes(a)) return net.factory(handler, conf, self);
      const onMessage = (peer: string, value: PyValue) => {
        if (value instanceof Map && value.get('type') === 'timeout_now') return;
        handler.onMessage(peer, value);
      };
      return net.factory({ ...handler, onMessage }, conf, self);
    };
    return new Counter(
      a,
      ADDRS.filter((b) => b !== a),
      TICKING,
      { deps: { transport } },
    );
  });
  nodes.push(...out);
  return out;
}

async function leaderOf(cs: Counter[]): Promise<Counter> {
  await waitFor(
    () => cs.filter((c) => c.isLeader()).length === 1 && cs.every((c) => c.getLeader() !== null),
    5000,
  );
  return cs.find((c) => c.isLeader()) as Counter;
}

async function rejection(p: Promise<unknown>): Promise<SyncObjError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(SyncObjError);
  return e as SyncObjError;
}

describe('SyncObj.transferLeadership', () => {
  it('resolves once the target leads; a call made meanwhile fails NOT_LEADER; nothing is lost', async () => {
    const cs = cluster(new MemoryNetwork());
    const leader = await leaderOf(cs);
    await leader.call(leader.incr, [1]);
    const target = cs.find((c) => c !== leader) as Counter;
    const address = target.selfNode as string;
    const done = leader.transferLeadership(address);
    const during = await rejection(leader.call(leader.incr, [10]));
    expect(during.reason).toBe(FailReason.NotLeader);
    await done;
    expect(leader.getLeader()).toBe(address);
    expect(target.isLeader()).toBe(true);
    expect(leader.isLeader()).toBe(false);
    await target.call(target.incr, [2]);
    await waitFor(() => cs.every((c) => c.value === 3), 5000);
  });

  it('rejects with transfer_refused, and a message naming the leader, on a follower; a bad address is a TypeError', async () => {
    const cs = cluster(new MemoryNetwork());
    const leader = await leaderOf(cs);
    const [f, other] = cs.filter((c) => c !== leader) as [Counter, Counter];
    const refused = await rejection(f.transferLeadership(other.selfNode as string));
    expect(refused.reason).toBe('transfer_refused');
    expect(refused.code).toBe('TRANSFER_REFUSED');
    expect(refused.message).toBe(`this node is not the leader; the leader is ${leader.selfNode}`);
    const self = await rejection(leader.transferLeadership(leader.selfNode as string));
    expect(self.message).toBe(`the target ${leader.selfNode} is this node, the leader already`);
    await expect(leader.transferLeadership('no-port')).rejects.toThrow(TypeError);
    await leader.call(leader.incr, [1]); // nothing was started
  });

  it('rejects with transfer_failed when the target never campaigns; the leader then accepts calls again', async () => {
    const cs = cluster(new MemoryNetwork(), ADDRS); // no node acts on timeout_now
    const leader = await leaderOf(cs);
    await leader.call(leader.incr, [1]); // the followers have answered over their connections
    const address = (cs.find((c) => c !== leader) as Counter).selfNode as string;
    const t0 = Date.now();
    const failed = await rejection(leader.transferLeadership(address));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(failed.reason).toBe('transfer_failed');
    expect(failed.message).toBe(
      `leadership transfer to ${address} abandoned after 160 ms: it was told to campaign but did not take over; this node leads on`,
    );
    expect(leader.isLeader()).toBe(true);
    await leader.call(leader.incr, [1]);
  });

  it('rejects with destroyed when the node stops during the transfer', async () => {
    const cs = cluster(new MemoryNetwork(), ADDRS);
    const leader = await leaderOf(cs);
    await leader.call(leader.incr, [1]);
    const target = cs.find((c) => c !== leader) as Counter;
    const pending = leader.transferLeadership(target.selfNode as string);
    await leader.destroy();
    const e = await rejection(pending);
    expect(e.message).toBe('the node was destroyed during the leadership transfer');
    expect(e.reason).toBe('destroyed');
  });
});
