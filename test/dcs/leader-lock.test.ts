/**
 * Group J (docs/dcs.md §12.10): the leader lock race on a 3-node in-process cluster (docs/dcs.md
 * §8.1, §8.2) — acquire, refresh, the expired-key fallback, take, release, initialize race, and the
 * lock expiring after its holder's node stopped. T is the injected wall clock of every node.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DcsCluster, flush, lastLogIndex, loggedCalls, P, rec, waitFor } from './dcs-helpers.js';

let c: DcsCluster | null = null;
afterEach(async () => {
  await c?.destroy();
  c = null;
});

async function cluster(): Promise<DcsCluster> {
  c = await DcsCluster.start();
  return c;
}

describe('J: leader lock', () => {
  it('J01 of three concurrent acquirers exactly one wins; the key holds its name, expire = write time + 30', async () => {
    const c = await cluster();
    c.setTime(1000.25);
    const results = await Promise.all(c.nodes.map((n) => n.dcs.attemptToAcquireLeader()));
    expect(results.filter((r) => r)).toHaveLength(1);
    const winner = c.nodes[results.indexOf(true)]!;
    await c.settle();
    for (const n of c.nodes) {
      const l = rec(n.dcs.kv.get(`${P}leader`));
      expect(l.value).toBe(winner.name);
      expect(l.updated).toBe(1000.25);
      expect(l.expire).toBe(1030.25);
    }
  });

  it('J02 the holder refreshes with prevValue: created kept, updated/expire moved, index higher', async () => {
    const c = await cluster();
    const pg1 = c.n1.dcs;
    expect(await pg1.attemptToAcquireLeader()).toBe(true);
    const first = rec(pg1.kv.get(`${P}leader`));
    expect(first.created).toBe(1000);
    const cl = await pg1.getCluster();
    c.setTime(1010);
    const before = lastLogIndex(c.n1);
    expect(await pg1.updateLeader(cl, null)).toBe(true);
    const l = rec(pg1.kv.get(`${P}leader`));
    expect(l).toMatchObject({ value: 'pg1', created: 1000, updated: 1010, expire: 1040 });
    expect(l.index).toBeGreaterThan(first.index);
    const calls = loggedCalls(c.n1, before);
    expect(calls).toEqual([
      { index: l.index, method: 'set', key: `${P}leader`, value: 'pg1', kwargs: [['prevValue', 'pg1']] },
    ]);
  });

  it('J03 a node whose local view shows another holder refreshes nothing and replicates nothing', async () => {
    const c = await cluster();
    expect(await c.n1.dcs.attemptToAcquireLeader()).toBe(true);
    await c.settle();
    const cl = await c.n2.dcs.getCluster();
    expect(cl.leaderName).toBe('pg1');
    const before = lastLogIndex(c.n1);
    expect(await c.n2.dcs.updateLeader(cl, null)).toBe(false);
    await new Promise((r) => setTimeout(r, 100));
    expect(lastLogIndex(c.n1)).toBe(before);
    expect(loggedCalls(c.n2, before)).toEqual([]);
  });

  it('J04 an expired lock is re-acquired by its holder with prevExist=false (no prevValue entry)', async () => {
    const c = await cluster();
    const pg1 = c.n1.dcs;
    expect(await pg1.attemptToAcquireLeader()).toBe(true);
    const cl = await pg1.getCluster();
    c.setTime(1030);
    await waitFor(() => c.nodes.every((n) => n.dcs.kv.get(`${P}leader`) === null), 3000, 'lock expired');
    await flush();
    const before = lastLogIndex(c.n1);
    expect(await pg1.updateLeader(cl, null)).toBe(true);
    const calls = loggedCalls(c.n1, before).filter((x) => x.key === `${P}leader`);
    expect(calls.filter((x) => x.kwargs.some(([k]) => k === 'prevValue'))).toEqual([]);
    expect(calls).toEqual([
      expect.objectContaining({ method: 'set', value: 'pg1', kwargs: [['prevExist', false]] }),
    ]);
    expect(rec(pg1.kv.get(`${P}leader`)).value).toBe('pg1');
  });

  it('J05 when another node re-acquired the expired lock, the old holder gets false and the lock stays', async () => {
    const c = await cluster();
    expect(await c.n1.dcs.attemptToAcquireLeader()).toBe(true);
    const cl = await c.n1.dcs.getCluster();
    c.setTime(1030);
    await waitFor(() => c.nodes.every((n) => n.dcs.kv.get(`${P}leader`) === null), 3000, 'lock expired');
    expect(await c.n2.dcs.attemptToAcquireLeader()).toBe(true);
    await c.settle();
    expect(await c.n1.dcs.updateLeader(cl, null)).toBe(false);
    await c.settle();
    for (const n of c.nodes) expect(rec(n.dcs.kv.get(`${P}leader`)).value).toBe('pg2');
  });

  it('J06 takeLeader overwrites another holder', async () => {
    const c = await cluster();
    expect(await c.n2.dcs.attemptToAcquireLeader()).toBe(true);
    await c.settle();
    c.setTime(1003.5);
    expect(await c.n1.dcs.takeLeader()).toBe(true);
    expect(rec(c.n1.dcs.kv.get(`${P}leader`))).toMatchObject({ value: 'pg1', expire: 1033.5 });
  });

  it('J07 deleteLeader: a non-holder deletes nothing; the holder writes status first; no leader → status only', async () => {
    const c = await cluster();
    const pg1 = c.n1.dcs;
    const pg2 = c.n2.dcs;
    // (a)
    expect(await pg1.attemptToAcquireLeader()).toBe(true);
    await c.settle();
    let cl = await pg2.getCluster();
    expect(await pg2.deleteLeader(cl.leader, null)).toBe(false);
    await c.settle();
    expect(rec(pg1.kv.get(`${P}leader`)).value).toBe('pg1');
    // (b)
    cl = await pg1.getCluster();
    const before = lastLogIndex(c.n1);
    expect(await pg1.deleteLeader(cl.leader, 67108960)).toBe(true);
    const calls = loggedCalls(c.n1, before);
    const status = calls.find((x) => x.key === `${P}status`);
    const del = calls.find((x) => x.key === `${P}leader`);
    expect(status).toMatchObject({ method: 'set', value: '{"optime":67108960}' });
    expect(del).toMatchObject({
      method: 'delete',
      kwargs: [
        ['recursive', false],
        ['prevValue', 'pg1'],
      ],
    });
    expect(status!.index).toBeLessThan(del!.index);
    expect(pg1.kv.get(`${P}leader`)).toBeNull();
    // (c)
    expect(await pg1.attemptToAcquireLeader()).toBe(true);
    cl = await pg1.getCluster();
    expect(await pg1.deleteLeader(null, 500)).toBe(false);
    expect(rec(pg1.kv.get(`${P}leader`)).value).toBe('pg1');
    expect(rec(pg1.kv.get(`${P}status`)).value).toBe('{"optime":500}');
    expect(cl.leaderName).toBe('pg1');
  });

  it('J08 the initialize race has one winner; createNew=false fills in the sysid only when the key exists', async () => {
    const c = await cluster();
    const results = await Promise.all([c.n1.dcs.initialize(true, ''), c.n2.dcs.initialize(true, '')]);
    expect(results.filter((r) => r)).toHaveLength(1);
    await c.settle();
    expect(rec(c.n1.dcs.kv.get(`${P}initialize`)).value).toBe('');
    expect((await c.n3.dcs.getCluster()).initialize).toBe('');
    expect(await c.n1.dcs.initialize(false, '7301234567890123456')).toBe(true);
    expect(rec(c.n1.dcs.kv.get(`${P}initialize`)).value).toBe('7301234567890123456');
    expect(await c.n1.dcs.cancelInitialization()).toBe(true);
    await c.settle();
    expect(await c.n2.dcs.initialize(false, '7301234567890123456')).toBe(false);
    expect(c.n1.dcs.kv.get(`${P}initialize`)).toBeNull();
  });

  it('J09 the lock of a stopped node expires on the new Raft leader clock; replicas see it and are woken', async () => {
    const c = await cluster();
    expect(await c.n1.dcs.attemptToAcquireLeader()).toBe(true);
    await c.settle();
    const pg2 = c.n2.dcs;
    await pg2.watch(null, 0);
    await c.stop(0);
    await waitFor(
      () => [c.n2, c.n3].some((n) => n.dcs.kv.isLeader()),
      5000,
      'a new Raft leader among N2 and N3',
    );
    c.setTime(1029.9);
    await new Promise((r) => setTimeout(r, 100));
    expect(rec(pg2.kv.get(`${P}leader`)).value).toBe('pg1');
    expect(await pg2.watch(null, 0)).toBe(false);
    c.setTime(1030);
    await waitFor(() => pg2.kv.get(`${P}leader`) === null && c.n3.dcs.kv.get(`${P}leader`) === null, 3000);
    await flush();
    expect(await pg2.watch(null, 0)).toBe(true);
    expect((await pg2.getCluster()).isUnlocked()).toBe(true);
  });
});
