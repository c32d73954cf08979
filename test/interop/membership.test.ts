/**
 * Interop: dynamic membership across implementations.
 * - a pysyncobj node joins a cluster of our nodes (`addNodeToCluster` on our leader), catches up
 *   from the log, proposes; then our leader removes it;
 * - our node (dynamicMembershipChange) joins a pysyncobj cluster (`addNodeToCluster` on the Python
 *   leader), catches up, proposes; then the Python leader removes it;
 * - our node started before it is a member (Patroni's join order) is added through a Python
 *   follower with syncobj_admin, and catches up.
 */
import { expect, it } from 'vitest';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import { describePython } from '../helpers/python.js';
import {
  agreedLeader,
  allApplied,
  eventually,
  expectSameState,
  FAST,
  type InteropNode,
  type NodeOptions,
  type NodeStatus,
  QUICK_ELECTIONS,
  showStatuses,
  syncobjAdmin,
  useInteropEnv,
} from './harness.js';
import { adminPass, VARIANTS } from './variants.js';
import { expectAllSucceeded, expectResultsMatch, type Proposed, runWorkload } from './workload.js';

async function membersAre(nodes: readonly InteropNode[], expected: (self: string) => string[], what: string) {
  let last: NodeStatus[] = [];
  await eventually(
    async () => {
      last = await Promise.all(nodes.map((n) => n.status()));
      return last.every(
        (s) => JSON.stringify(s.otherNodes) === JSON.stringify(expected(s.self as string).sort()),
      )
        ? true
        : undefined;
    },
    5000,
    what,
    () => showStatuses(nodes, last),
  );
}

for (const variant of VARIANTS) {
  describePython(`interop: membership changes across implementations (${variant.label})`, () => {
    const env = useInteropEnv();
    const base: NodeOptions = { password: variant.password, useBatch: variant.useBatch, dynamic: true };

    it('a pysyncobj node joins our cluster via addNodeToCluster on our leader, and is removed again', async () => {
      const [a1, a2, a3] = (await freeLoopbackAddresses(3)) as [string, string, string];
      const ts1 = await env().startTs('ts1', a1, [a1, a2], base);
      const ts2 = await env().startTs('ts2', a2, [a1, a2], base);
      const pair: InteropNode[] = [ts1, ts2];
      const leaderAddress = await agreedLeader(pair, 10_000);
      const leader = leaderAddress === a1 ? ts1 : ts2;
      const first = await runWorkload(pair, 8, 'join-ts-before');
      expectAllSucceeded(first);

      const added = await leader.addNode(a3);
      expect(added, `our leader adds ${a3}`).toMatchObject({ ok: true, errName: 'SUCCESS' });
      const py = await env().startPy('py', a3, [a1, a2], base);
      const trio: InteropNode[] = [ts1, ts2, py];
      await py.waitUntil({ leader: leaderAddress }, 10_000);
      await allApplied(trio, first.length);
      await expectSameState(trio);
      await membersAre(trio, (self) => [a1, a2, a3].filter((a) => a !== self), 'everyone to know all three');

      const second = await runWorkload(trio, 6, 'join-ts-after');
      expectAllSucceeded(second);
      const all: Proposed[] = [...first, ...second];
      await allApplied(trio, all.length);
      expectResultsMatch(await expectSameState(trio), all);

      const removed = await leader.removeNode(a3);
      expect(removed, `our leader removes ${a3}`).toMatchObject({ ok: true, errName: 'SUCCESS' });
      await membersAre(pair, (self) => [a1, a2].filter((a) => a !== self), `our nodes to forget ${a3}`);
      await py.kill();
      const third = await runWorkload(pair, 4, 'join-ts-removed');
      expectAllSucceeded(third);
      await allApplied(pair, all.length + third.length);
      expectResultsMatch(await expectSameState(pair), [...all, ...third]);
    });

    it('our node joins a pysyncobj cluster via addNodeToCluster on the Python leader, and is removed again', async () => {
      const [a1, a2, a3] = (await freeLoopbackAddresses(3)) as [string, string, string];
      const py1 = await env().startPy('py1', a1, [a1, a2], base);
      const py2 = await env().startPy('py2', a2, [a1, a2], base);
      const pair: InteropNode[] = [py1, py2];
      const leaderAddress = await agreedLeader(pair, 10_000);
      const leader = leaderAddress === a1 ? py1 : py2;
      const first = await runWorkload(pair, 8, 'join-py-before');
      expectAllSucceeded(first);

      const added = await leader.addNode(a3);
      expect(added, `the Python leader adds ${a3}`).toMatchObject({ ok: true, errName: 'SUCCESS' });
      const ts = await env().startTs('ts', a3, [a1, a2], base);
      const trio: InteropNode[] = [py1, py2, ts];
      await eventually(
        async () => (ts.statusNow().leader === leaderAddress ? true : undefined),
        10_000,
        `our new node to follow ${leaderAddress}`,
        () => JSON.stringify(ts.statusNow()),
      );
      await allApplied(trio, first.length);
      await expectSameState(trio);
      await membersAre(trio, (self) => [a1, a2, a3].filter((a) => a !== self), 'everyone to know all three');

      const second = await runWorkload(trio, 6, 'join-py-after');
      expectAllSucceeded(second);
      const all: Proposed[] = [...first, ...second];
      await allApplied(trio, all.length);
      expectResultsMatch(await expectSameState(trio), all);

      const removed = await leader.removeNode(a3);
      expect(removed, `the Python leader removes ${a3}`).toMatchObject({ ok: true, errName: 'SUCCESS' });
      await membersAre(
        pair,
        (self) => [a1, a2].filter((a) => a !== self),
        `the Python nodes to forget ${a3}`,
      );
      await ts.obj.destroy();
      const third = await runWorkload(pair, 4, 'join-py-removed');
      expectAllSucceeded(third);
      await allApplied(pair, all.length + third.length);
      expectResultsMatch(await expectSameState(pair), [...all, ...third]);
    });

    it('our node started before it is a member (as Patroni joins) is added with syncobj_admin on a Python node', async () => {
      const [a1, a2, a3] = (await freeLoopbackAddresses(3)) as [string, string, string];
      const py1 = await env().startPy('py1', a1, [a1, a2], base);
      const py2 = await env().startPy('py2', a2, [a1, a2], base);
      const pair: InteropNode[] = [py1, py2];
      const leaderAddress = await agreedLeader(pair, 10_000);
      const first = await runWorkload(pair, 4, 'join-early-before');
      expectAllSucceeded(first);
      // it knows the members; they refuse its connections until the add is appended
      const ts = await env().startTs('ts', a3, [a1, a2], base);
      const follower = leaderAddress === a1 ? a2 : a1;
      const add = await syncobjAdmin(['-conn', follower, ...adminPass(variant), '-add', a3]);
      expect(add.stdout.trim(), `syncobj_admin -add through the Python follower ${follower}`).toBe(
        `SUCCESS ADD ${a3}`,
      );
      const trio: InteropNode[] = [py1, py2, ts];
      await allApplied(trio, first.length, 15_000);
      const second = await runWorkload(trio, 4, 'join-early-after');
      expectAllSucceeded(second);
      const all: Proposed[] = [...first, ...second];
      await allApplied(trio, all.length);
      expectResultsMatch(await expectSameState(trio), all);
      await membersAre(trio, (self) => [a1, a2, a3].filter((a) => a !== self), 'everyone to know all three');
    });
  });
}

describePython('interop: a pysyncobj member that does not know our leader', () => {
  const env = useInteropEnv();

  // pysyncobj closes the connection of a voting node it does not know — e.g. a node added while it
  // was cut off, that leads now: without the read-only fallback it never hears from that leader
  // (and no leader it knows is elected while ours leads)
  it('follows it over a read-only link: applies its entries, before and after it started', async () => {
    const [p, a, n] = (await freeLoopbackAddresses(3)).sort() as [string, string, string];
    // n dials p (the greater address dials); a never campaigns first, so n leads
    const slow = { ...FAST, raftMinTimeout: 5, raftMaxTimeout: 6, connectionTimeout: 6 };
    const tsA = await env().startTs('a', a, [a, n, p], { timeouts: slow });
    const tsN = await env().startTs('n', n, [a, n, p], { timeouts: QUICK_ELECTIONS });
    expect(await agreedLeader([tsA, tsN], 15_000)).toBe(n);
    expect(await tsN.put('before', 1)).toMatchObject({ ok: true });
    // p knows a only; its first campaign comes after the link is up, so its term is not ahead of n's
    const py = await env().startPy('p', p, [p, a], {
      timeouts: { ...FAST, raftMinTimeout: 2, raftMaxTimeout: 2.5, connectionTimeout: 2.5 },
    });
    expect(await tsN.put('after', 2)).toMatchObject({ ok: true });
    let last: NodeStatus | null = null;
    await eventually(
      async () => {
        last = await py.status();
        return last.dict.before === 1 && last.dict.after === 2 ? true : undefined;
      },
      15_000,
      'the Python node to apply the leader’s entries',
      () => JSON.stringify(last),
    );
    await allApplied([tsA, tsN, py], 2, 10_000);
    await expectSameState([tsA, tsN, py]);
  });

  // Chaos seed 12013: a node whose configuration lacks the leader (it asked for `members` while that
  // node was removed; the entry that added it back is beyond its log) never dials it, and a pysyncobj
  // leader with the smaller address never dials a greater node. Our followers disregard the node's
  // vote requests while they have a leader, and it campaigns its term above the leader's. The fix:
  // after two election timeouts without a leader the node asks its peers whom they follow and
  // connects to that node; it answers the leader's appends of a past term with a vote request at its
  // own term, so the pysyncobj leader steps down and is elected again past that term.
  it('a raftdcs node that does not know the Python leader (smaller address) catches up', async () => {
    const [p, a, t] = (await freeLoopbackAddresses(3)).sort() as [string, string, string];
    const slow = { ...FAST, raftMinTimeout: 5, raftMaxTimeout: 6, connectionTimeout: 6 };
    const py = await env().startPy('p', p, [p, a, t], { timeouts: QUICK_ELECTIONS });
    const tsA = await env().startTs('a', a, [a, p, t], { timeouts: slow });
    expect(await agreedLeader([py, tsA], 15_000)).toBe(p);
    expect(await py.put('k', 1)).toMatchObject({ ok: true });
    const tsT = await env().startTs('t', t, [t, a]);
    let last: NodeStatus | null = null;
    await eventually(
      async () => {
        last = await tsT.status();
        return last.dict.k === 1 ? true : undefined;
      },
      12_000,
      'the node that does not know the leader to apply its entries',
      () => JSON.stringify(last),
    );
  });
});
