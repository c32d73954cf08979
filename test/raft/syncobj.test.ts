/**
 * The SyncObj runtime over an in-process network (real pickle codec, no sockets): replicated
 * methods, forwarding, elections, function ids, membership, read-only nodes, status, fail reasons.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SyncObjConfOptions } from '../../src/raft/config.js';
import { FailReason, RaftState } from '../../src/raft/core/types.js';
import { FunctionTable, type ReplicatedCall, replicated } from '../../src/raft/replicated.js';
import type { ResultReason } from '../../src/raft/runtime/outcome.js';
import { SyncObj, SyncObjConsumer, type SyncObjDeps, SyncObjError } from '../../src/raft/syncobj.js';
import { MemoryNetwork } from '../../src/raft/transport/memory-transport.js';
import type { Transport } from '../../src/raft/transport/types.js';
import { decodePickle } from '../../src/wire/pickle/index.js';
import type { PyValue } from '../../src/wire/value.js';
import { PYSYNCOBJ_STATUS_KEYS } from '../helpers/pysyncobj-status.js';
import { waitFor } from '../helpers/wait.js';

const FAST: SyncObjConfOptions = {
  appendEntriesPeriod: 0.02,
  raftMinTimeout: 0.08,
  raftMaxTimeout: 0.16,
  connectionTimeout: 0.5,
  autoTickPeriod: 0.01,
  appendEntriesUseBatch: false,
  dynamicMembershipChange: true,
  commandsWaitLeader: false,
};

class Counter extends SyncObj {
  value = 0;
  readonly applied: number[] = [];

  @replicated({ name: 'incr' })
  incr(call: ReplicatedCall): number {
    this.value += call.args[0] as number;
    this.applied.push(call.index);
    return this.value;
  }

  @replicated({ name: 'reset' })
  reset(_call: ReplicatedCall): null {
    this.value = 0;
    return null;
  }
}

let nodes: SyncObj[] = [];
afterEach(async () => {
  await Promise.all(nodes.map((n) => n.destroy()));
  nodes = [];
});

function cluster(net: MemoryNetwork, addrs: string[], conf: SyncObjConfOptions = {}): Counter[] {
  const out = addrs.map(
    (a) =>
      new Counter(
        a,
        addrs.filter((b) => b !== a),
        { ...FAST, ...conf },
        { deps: { transport: net.factory } },
      ),
  );
  nodes.push(...out);
  return out;
}

async function leaderOf(cs: SyncObj[]): Promise<SyncObj> {
  await waitFor(
    () => cs.filter((c) => c.isLeader()).length === 1 && cs.every((c) => c.getLeader() !== null),
    5000,
  );
  return cs.find((c) => c.isLeader()) as SyncObj;
}

describe('SyncObj runtime', () => {
  it('replicates calls proposed on every node, applied identically everywhere', async () => {
    const net = new MemoryNetwork();
    const cs = cluster(net, ['127.0.0.1:1001', '127.0.0.1:1002', '127.0.0.1:1003']);
    await leaderOf(cs);
    const results = await Promise.all(
      cs.flatMap((c, i) => [1, 2, 3].map((k) => c.call(c.incr, [i * 10 + k]))),
    );
    expect(results).toHaveLength(9);
    const total = 1 + 2 + 3 + 11 + 12 + 13 + 21 + 22 + 23;
    await waitFor(() => cs.every((c) => c.value === total), 20_000);
    const seq = cs[0]!.applied;
    for (const c of cs) expect(c.applied).toEqual(seq);
  });

  it('resolves results of forwarded calls and supports the callback style', async () => {
    const net = new MemoryNetwork();
    const cs = cluster(net, ['127.0.0.1:1011', '127.0.0.1:1012', '127.0.0.1:1013']);
    const leader = await leaderOf(cs);
    const follower = cs.find((c) => c !== leader)!;
    expect(await follower.call(follower.incr, [5])).toBe(5);
    const got = await new Promise<[PyValue | undefined, ResultReason]>((resolve) =>
      follower.callWithCallback(follower.incr, [2], undefined, (r, e) => resolve([r, e])),
    );
    expect(got).toEqual([7, FailReason.Success]);
  });

  it('elects a new leader after the leader stops, and keeps committing', async () => {
    const net = new MemoryNetwork();
    const cs = cluster(net, ['127.0.0.1:1021', '127.0.0.1:1022', '127.0.0.1:1023']);
    const leader = await leaderOf(cs);
    await leader.call((leader as Counter).incr, [1]);
    await leader.destroy();
    const rest = cs.filter((c) => c !== leader);
    const next = await leaderOf(rest);
    expect(next).not.toBe(leader);
    expect(next.raftCurrentTerm).toBeGreaterThan(leader.raftCurrentTerm);
    await next.call((next as Counter).incr, [1]);
    await waitFor(() => rest.every((c) => c.value === 2), 20_000);
  });

  it('fails fast with MISSING_LEADER when no leader is known (commandsWaitLeader off)', async () => {
    const net = new MemoryNetwork();
    // a lone node configured with two absent partners never gets a leader
    const lone = new Counter('127.0.0.1:1034', ['127.0.0.1:1035', '127.0.0.1:1036'], FAST, {
      deps: { transport: net.factory },
    });
    nodes.push(lone);
    await lone.waitBinded();
    const err = await lone.call(lone.incr, [1]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncObjError);
    expect((err as SyncObjError).reason).toBe(FailReason.MissingLeader);
  });

  it('waits for a leader when commandsWaitLeader is on', async () => {
    const net = new MemoryNetwork();
    const addrs = ['127.0.0.1:1041', '127.0.0.1:1042'];
    const a = new Counter(
      addrs[0]!,
      [addrs[1]!],
      { ...FAST, commandsWaitLeader: true },
      { deps: { transport: net.factory } },
    );
    nodes.push(a);
    const p = a.call(a.incr, [3]);
    const b = new Counter(
      addrs[1]!,
      [addrs[0]!],
      { ...FAST, commandsWaitLeader: true },
      { deps: { transport: net.factory } },
    );
    nodes.push(b);
    expect(await p).toBe(3);
  });

  it('single-node cluster commits alone', async () => {
    const net = new MemoryNetwork();
    const [a] = cluster(net, ['127.0.0.1:1051']);
    await leaderOf([a!]);
    expect(await a!.call(a!.incr, [4])).toBe(4);
    expect(a!.raftState).toBe(RaftState.Leader);
  });

  it('adds and removes a member dynamically; the new member catches up', async () => {
    const net = new MemoryNetwork();
    const addrs = ['127.0.0.1:1061', '127.0.0.1:1062', '127.0.0.1:1063'];
    const cs = cluster(net, addrs);
    const leader = await leaderOf(cs);
    for (let i = 0; i < 20; i++) await leader.call((leader as Counter).incr, [1]);
    const d = new Counter('127.0.0.1:1064', addrs, FAST, { deps: { transport: net.factory } });
    nodes.push(d);
    await cs[0]!.addNodeToCluster('127.0.0.1:1064');
    await waitFor(() => d.value === 20, 20_000);
    expect(leader.otherNodes.sort()).toContain('127.0.0.1:1064');
    await leader.call((leader as Counter).incr, [1]);
    await waitFor(() => d.value === 21, 20_000);
    const victim = cs.find((c) => c !== leader)!;
    await leader.removeNodeFromCluster(victim.selfNode!);
    expect(leader.otherNodes).not.toContain(victim.selfNode);
  });

  it('refuses a second membership change while one is uncommitted and removing itself', async () => {
    const net = new MemoryNetwork();
    const cs = cluster(net, ['127.0.0.1:1071', '127.0.0.1:1072', '127.0.0.1:1073']);
    const leader = await leaderOf(cs);
    const err = await leader.removeNodeFromCluster(leader.selfNode!).catch((e: unknown) => e);
    expect((err as SyncObjError).reason).toBe(FailReason.RequestDenied);
    const [r1, r2] = await Promise.allSettled([
      leader.addNodeToCluster('127.0.0.1:1074'),
      leader.addNodeToCluster('127.0.0.1:1075'),
    ]);
    expect(r1.status).toBe('fulfilled');
    expect(r2.status).toBe('rejected');
    expect(((r2 as PromiseRejectedResult).reason as SyncObjError).reason).toBe(FailReason.RequestDenied);
  });

  it('no vote request goes over a read-only link (a pysyncobj node that does not know us)', async () => {
    const net = new MemoryNetwork();
    const addrs = ['127.0.0.1:1091', '127.0.0.1:1092', '127.0.0.1:1093'];
    const [a, b, c] = addrs as [string, string, string];
    const toC: string[] = [];
    const toB: string[] = [];
    // a's transport reaches c over a read-only link; a campaigns first (quicker timeouts)
    const wrapped: SyncObjDeps['transport'] = (handler, conf, self) => {
      const t: Transport = net.factory(handler, conf, self);
      const send = t.sendPickled.bind(t);
      t.isReadonlyLink = (peer) => peer === c;
      t.sendPickled = (peer, pickle) => {
        const type = String((decodePickle(pickle) as Map<string, PyValue>).get('type'));
        if (peer === c) toC.push(type);
        if (peer === b) toB.push(type);
        return send(peer, pickle);
      };
      return t;
    };
    const quick = { ...FAST, raftMinTimeout: 0.08, raftMaxTimeout: 0.09 };
    const slow = { ...FAST, raftMinTimeout: 0.5, raftMaxTimeout: 0.6, connectionTimeout: 1 };
    const na = new Counter(a, [b, c], quick, { deps: { transport: wrapped } });
    const nb = new Counter(b, [a, c], slow, { deps: { transport: net.factory } });
    const nc = new Counter(c, [a, b], slow, { deps: { transport: net.factory } });
    nodes.push(na, nb, nc);
    expect(await leaderOf([na, nb, nc])).toBe(na);
    expect(await na.call(na.incr, [1])).toBe(1);
    await waitFor(() => nc.value === 1, 5000);
    expect(toB).toContain('request_vote');
    expect(toC).toContain('append_entries');
    expect(toC).not.toContain('request_vote');
  });

  it('a read-only node follows the log, forwards calls and never votes', async () => {
    const net = new MemoryNetwork();
    const addrs = ['127.0.0.1:1081', '127.0.0.1:1082', '127.0.0.1:1083'];
    const cs = cluster(net, addrs);
    const leader = await leaderOf(cs);
    const ro = new Counter(null, addrs, FAST, { deps: { transport: net.factory } });
    nodes.push(ro);
    await leader.call((leader as Counter).incr, [2]);
    await waitFor(() => ro.value === 2, 20_000);
    expect(await ro.call(ro.incr, [3])).toBe(5);
    await ro.waitReady();
    expect(ro.isReady()).toBe(true);
    expect(leader.readonlyNodes).toHaveLength(1);
    expect(ro.raftState).toBe(RaftState.Follower);
    expect(ro.getStatus().self).toBeNull();
  });

  it('reports pysyncobj status keys', async () => {
    const net = new MemoryNetwork();
    const cs = cluster(net, ['127.0.0.1:1091', '127.0.0.1:1092']);
    const leader = await leaderOf(cs);
    const st = leader.getStatus();
    const keys = Object.keys(st);
    expect(keys.slice(0, 7)).toEqual([
      'version',
      'revision',
      'self',
      'state',
      'leader',
      'has_quorum',
      'partner_nodes_count',
    ]);
    const other = cs.find((c) => c !== leader)!.selfNode;
    expect(st[`partner_node_status_server_${other}`]).toBe(2);
    for (const k of PYSYNCOBJ_STATUS_KEYS) {
      expect(keys).toContain(k);
    }
    expect(st.state).toBe(2);
    expect(st.has_quorum).toBe(true);
  });
});

describe('function ids (pysyncobj numbering)', () => {
  class KvLike extends SyncObj {
    @replicated({ name: '_set' }) _set(_c: ReplicatedCall): null {
      return null;
    }
    @replicated({ name: '_delete' }) _delete(_c: ReplicatedCall): null {
      return null;
    }
    @replicated({ name: '_expire' }) _expire(_c: ReplicatedCall): null {
      return null;
    }
  }

  it("numbers Patroni's KVStoreTTL methods 0 _delete, 1 _expire, 2 _set", () => {
    const t = new FunctionTable(Object.create(KvLike.prototype) as object, []);
    expect(t.aliases()).toEqual(['_delete_v0', '_expire_v0', '_set_v0']);
  });

  it('sorts by version, then consumer, then alias; callers use the highest enabled version', () => {
    class Main extends SyncObj {
      @replicated({ name: 'b' }) b0(_c: ReplicatedCall): null {
        return null;
      }
      @replicated({ name: 'b', ver: 1 }) b1(_c: ReplicatedCall): null {
        return null;
      }
      @replicated({ name: 'a', ver: 1 }) a1(_c: ReplicatedCall): null {
        return null;
      }
    }
    class Cons extends SyncObjConsumer {
      @replicated({ name: 'a' }) a0(_c: ReplicatedCall): null {
        return null;
      }
    }
    const main = Object.create(Main.prototype) as Main;
    const cons = new Cons();
    const t = new FunctionTable(main, [cons]);
    expect(t.aliases()).toEqual(['b_v0', 'a_v0', 'a_v1', 'b_v1']);
    expect(t.selfCodeVersion).toBe(1);
    expect(t.idFor(main, Main.prototype.b1, 0)).toBe(0);
    expect(t.idFor(main, Main.prototype.b1, 1)).toBe(3);
    expect(t.idFor(cons, Cons.prototype.a0, 1)).toBe(1);
  });
});

describe('code versions, consumers and manual ticking', () => {
  class Versioned extends SyncObj {
    calls: string[] = [];
    @replicated({ name: 'op' }) op0(_c: ReplicatedCall): string {
      this.calls.push('v0');
      return 'v0';
    }
    @replicated({ name: 'op', ver: 1 }) op1(_c: ReplicatedCall): string {
      this.calls.push('v1');
      return 'v1';
    }
  }

  it('switches method versions cluster-wide with a VERSION entry', async () => {
    const net = new MemoryNetwork();
    const addrs = ['127.0.0.1:1101', '127.0.0.1:1102'];
    const vs = addrs.map((a) => new Versioned(a, addrs, FAST, { deps: { transport: net.factory } }));
    nodes.push(...vs);
    const leader = await leaderOf(vs);
    expect(await leader.call((leader as Versioned).op1, [])).toBe('v0'); // enabled version 0 → op_v0
    await expect(leader.setCodeVersion(2)).rejects.toThrow(
      /wrong version, current version is 1, requested version is 2/,
    );
    await leader.setCodeVersion(1);
    await waitFor(() => vs.every((v) => v.getCodeVersion() === 1), 20_000);
    expect(await leader.call((leader as Versioned).op1, [])).toBe('v1');
    await expect(leader.setCodeVersion(0)).rejects.toThrow(/enabled version is 1/);
  });

  it('a node that cannot apply a committed VERSION entry stops, and `failed` says why', async () => {
    class Old extends SyncObj {
      @replicated({ name: 'op' }) op0(_c: ReplicatedCall): string {
        return 'v0';
      }
    }
    const net = new MemoryNetwork();
    const addrs = ['127.0.0.1:1121', '127.0.0.1:1122', '127.0.0.1:1123'];
    const opts = { deps: { transport: net.factory } };
    const upgraded = [
      new Versioned(addrs[0] as string, addrs, FAST, opts),
      new Versioned(addrs[1] as string, addrs, FAST, opts),
    ];
    const old = new Old(addrs[2] as string, addrs, FAST, opts);
    nodes.push(...upgraded, old);
    await leaderOf([...upgraded, old]);
    let upgradedFailed = false;
    for (const u of upgraded)
      void u.failed.then(() => {
        upgradedFailed = true;
      });
    // settles once committed, also when the old node led and stopped (the other two elect a leader)
    const switched = (upgraded[0] as Versioned).setCodeVersion(1);
    const err = await old.failed;
    expect(err.message).toMatch(/switched to code version 1 but this node only has version 0: upgrade it/);
    expect(old.failure).toBe(err);
    // it destroyed itself: its calls fail at once
    await expect(old.call(old.op0, [])).rejects.toThrow(SyncObjError);
    await switched;
    await waitFor(() => upgraded.every((u) => u.getCodeVersion() === 1), 20_000);
    expect(upgradedFailed).toBe(false);
    expect(upgraded.map((u) => u.failure)).toEqual([null, null]);
  });

  it('applies calls of an attached consumer', async () => {
    class Tally extends SyncObjConsumer {
      n = 0;
      @replicated({ name: 'bump' }) bump(c: ReplicatedCall): number {
        this.n += c.args[0] as number;
        return this.n;
      }
    }
    const net = new MemoryNetwork();
    const tallies = [new Tally(), new Tally()];
    const addrs = ['127.0.0.1:1111', '127.0.0.1:1112'];
    const objs = addrs.map(
      (a, i) => new SyncObj(a, addrs, FAST, { consumers: [tallies[i]!], deps: { transport: net.factory } }),
    );
    nodes.push(...objs);
    const leader = await leaderOf(objs);
    const t = tallies[objs.indexOf(leader)]!;
    expect(await leader.call(t.bump, [4])).toBe(4);
    await waitFor(() => tallies.every((x) => x.n === 4), 20_000);
  });

  it('ticks only when asked with autoTick off (doTick), as Patroni embeds it', async () => {
    const net = new MemoryNetwork();
    const a = new Counter(
      '127.0.0.1:1121',
      [],
      { ...FAST, autoTick: false },
      { deps: { transport: net.factory } },
    );
    nodes.push(a);
    await a.waitBinded();
    await new Promise((r) => setTimeout(r, 300));
    expect(a.isLeader()).toBe(false); // nobody ticked: no election
    for (let i = 0; i < 40 && !a.isLeader(); i++) await a.doTick(10);
    expect(a.isLeader()).toBe(true);
  });

  it('fails pending calls when destroyed', async () => {
    const net = new MemoryNetwork();
    const a = new Counter(
      '127.0.0.1:1131',
      ['127.0.0.1:1132'],
      { ...FAST, commandsWaitLeader: true },
      { deps: { transport: net.factory } },
    );
    const p = a.call(a.incr, [1]);
    await a.destroy();
    const e = await p.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SyncObjError);
  });
});
