/**
 * Patroni's join flow over real TCP: `members` discovery, the background `add`, retries (L04–L06,
 * L08; docs/dcs.md §5.1, §5.2, §12.12).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { joinCluster, parseMembersReply } from '../../src/kv/dyn-member.js';
import { KVStoreTTL } from '../../src/kv/kvstore-ttl.js';
import type { SyncObjConfOptions } from '../../src/raft/config.js';
import { TcpUtility } from '../../src/raft/transport/utility-client.js';
import type { PyValue } from '../../src/wire/value.js';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const FAST: SyncObjConfOptions = {
  appendEntriesPeriod: 0.05,
  raftMinTimeout: 0.2,
  raftMaxTimeout: 0.4,
  connectionTimeout: 1,
  connectionRetryTime: 0.3,
  autoTickPeriod: 0.02,
};

let nodes: KVStoreTTL[] = [];
afterEach(async () => {
  await Promise.all(nodes.map((n) => n.destroy()));
  nodes = [];
});

async function open(addr: string, partners: string[]): Promise<KVStoreTTL> {
  const kv = await KVStoreTTL.open({
    selfAddr: addr,
    partnerAddrs: partners,
    retryTimeout: 3,
    conf: { ...FAST, bindAddress: addr },
    joinBackoffMs: 300,
  });
  nodes.push(kv);
  return kv;
}

async function members(addr: string): Promise<PyValue> {
  return new TcpUtility({ timeoutMs: 3000 }).execute(addr, ['members']);
}

describe('joining a running cluster', () => {
  it('L04 a new node discovers the members, starts with them and adds itself', async () => {
    const [a1, a2, a3] = await freeLoopbackAddresses(3);
    const n1 = await open(a1!, [a2!]);
    const n2 = await open(a2!, [a1!]);
    await waitFor(() => [n1, n2].some((n) => n.isLeader()), 10_000);
    const n3 = await open(a3!, [a1!]);
    expect([...n3.otherNodes].sort()).toEqual([a1, a2].sort());
    await waitFor(() => n1.otherNodes.includes(a3!), 10_000, 'N1 lists N3');
    const reply = parseMembersReply(await members(a1!));
    expect(reply?.sort()).toEqual([a1, a2, a3].sort());
    await n1.set('/x', '1');
    await waitFor(() => n3.get('/x')?.value === '1', 5000);
  });

  it('L05 answers members with other voting nodes first, itself last, status and leader flags', async () => {
    const [a1, a2] = await freeLoopbackAddresses(2);
    const n1 = await open(a1!, [a2!]);
    const n2 = await open(a2!, [a1!]);
    await waitFor(
      () => [n1, n2].some((n) => n.isLeader()) && n1.getLeader() !== null && n1.isNodeConnected(a2!),
      10_000,
    );
    const reply = (await members(a1!)) as Map<string, PyValue>[];
    expect(reply.map((m) => [...m.keys()])).toEqual([
      ['addr', 'leader', 'status'],
      ['addr', 'leader', 'status'],
    ]);
    expect(reply.map((m) => m.get('addr'))).toEqual([a2, a1]);
    expect(reply[1]?.get('status')).toBe(2);
    expect(reply[0]?.get('status')).toBe(2);
    expect(reply[0]?.get('leader')).toBe(n2.isLeader());
    expect(reply[1]?.get('leader')).toBe(n1.isLeader());
  });

  it('L06 a member restarting with a stale partner list uses the reported members and sends no add', async () => {
    const [a1, a2, bogus] = await freeLoopbackAddresses(3);
    const n1 = await open(a1!, [a2!]);
    const n2 = await open(a2!, [a1!]);
    await waitFor(() => [n1, n2].some((n) => n.isLeader()), 10_000);
    await n2.destroy();
    nodes = nodes.filter((n) => n !== n2);
    const again = await open(a2!, [a1!, bogus!]);
    expect([...again.otherNodes]).toEqual([a1]);
    await waitFor(() => again.getLeader() !== null, 10_000);
    expect(n1.otherNodes).toEqual([a2]);
  });

  it('L06 with no partner answering, starts with the configured partners and sends no add', async () => {
    const [a1, p1, p2] = await freeLoopbackAddresses(3);
    const lone = await open(a1!, [p1!, p2!, a1!]);
    expect([...lone.otherNodes].sort()).toEqual([p1, p2].sort());
  });

  it('L08 retries the add after a failure until the cluster lists the node', async () => {
    let adds = 0;
    let listed = false;
    const utility = {
      async execute(_addr: string, cmd: readonly PyValue[]): Promise<PyValue> {
        if (cmd[0] === 'add') {
          adds++;
          if (adds >= 2) listed = true;
          return adds >= 2 ? 'SUCCESS ADD n3' : 'FAIL ADD n3';
        }
        const list = ['n1', 'n2', ...(listed ? ['n3'] : [])];
        return list.map(
          (addr) =>
            new Map<string, PyValue>([
              ['addr', addr],
              ['leader', false],
              ['status', 2],
            ]),
        );
      },
    };
    const j = joinCluster('n3', 'n1', ['n1', 'n2'], { retryTimeout: 1, utility, initialBackoffMs: 20 });
    expect(await j.done).toBe(true);
    expect(adds).toBe(2);
  });

  it('ignores members answers that are not a list of {addr} dicts', () => {
    expect(parseMembersReply("'NoneType' object has no attribute 'rsplit'")).toBeNull();
    expect(parseMembersReply([])).toBeNull();
    expect(parseMembersReply([new Map([['addr', 5]])] as PyValue)).toBeNull();
    expect(parseMembersReply([new Map([['addr', 'x:1']])] as PyValue)).toEqual(['x:1']);
  });
});
