/**
 * Interop (a), (b), (d): clusters of real Debian pysyncobj 0.3.11 nodes and our SyncObj on loopback.
 * (a) commands proposed concurrently on every node apply identically everywhere, and each proposer
 *     gets the result the agreed sequence implies;
 * (b) the Python leader is SIGKILLed: a new leader is elected and commands keep committing; in the
 *     second scenario our node wins the election and the surviving Python node follows it;
 * (d) all of it with and without a cluster password.
 */
import { expect, it } from 'vitest';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import { describePython } from '../helpers/python.js';
import {
  agreedLeader,
  allApplied,
  expectSameState,
  type InteropNode,
  type NodeOptions,
  type PyNode,
  QUICK_ELECTIONS,
  SLOW_ELECTIONS,
  showStatuses,
  useInteropEnv,
} from './harness.js';
import { VARIANTS } from './variants.js';
import {
  expectAllSucceeded,
  expectResultsMatch,
  expectWellOrdered,
  type Proposed,
  propose,
  runWorkload,
} from './workload.js';

for (const variant of VARIANTS) {
  describePython(`interop: 2 pysyncobj nodes + 1 raftdcs node (${variant.label})`, () => {
    const env = useInteropEnv();
    const base: NodeOptions = { password: variant.password, useBatch: variant.useBatch };

    it('(a) concurrent incr/put/rm on every node apply identically everywhere, with the right results', async () => {
      const addrs = await freeLoopbackAddresses(3);
      const [a1, a2, a3] = addrs as [string, string, string];
      const nodes: InteropNode[] = [
        await env().startPy('py1', a1, addrs, base),
        await env().startPy('py2', a2, addrs, base),
        await env().startTs('ts', a3, addrs, base),
      ];
      await agreedLeader(nodes, 15_000);

      const proposed = await runWorkload(nodes, 24, 'a');
      expectAllSucceeded(proposed);
      await allApplied(nodes, proposed.length);
      const records = await expectSameState(nodes);
      expect(records).toHaveLength(proposed.length);
      expectWellOrdered(records, 'the agreed applied sequence');
      expectResultsMatch(records, proposed);
    });

    /**
     * Start the Python pair first so that a Python node leads, then our node; wait until all three
     * agree on that leader and hold the same applied log (quiescent: nothing in flight).
     */
    async function pythonLedCluster(
      tsElection: NodeOptions['timeouts'],
      pyElection: NodeOptions['timeouts'],
    ) {
      const addrs = await freeLoopbackAddresses(3);
      const [a1, a2, a3] = addrs as [string, string, string];
      const py1 = await env().startPy('py1', a1, addrs, { ...base, timeouts: pyElection });
      const py2 = await env().startPy('py2', a2, addrs, { ...base, timeouts: pyElection });
      await agreedLeader([py1, py2], 15_000);
      const ts = await env().startTs('ts', a3, addrs, { ...base, timeouts: tsElection });
      const nodes: InteropNode[] = [py1, py2, ts];
      const leader = await agreedLeader(nodes, 15_000);
      const pyLeader = [py1, py2].find((p) => p.address === leader);
      expect(pyLeader, `a Python node leads (leader ${leader}, ts ${a3})`).toBeDefined();
      const proposed = await runWorkload(nodes, 8, 'before-kill');
      expectAllSucceeded(proposed);
      await allApplied(nodes, proposed.length);
      await expectSameState(nodes);
      // every node holds the whole log: the next leader cannot be refused for a shorter log
      const statuses = await Promise.all(nodes.map((n) => n.status()));
      expect(
        new Set(statuses.map((s) => `${s.commit}/${s.applied}`)).size,
        `commit/applied equal everywhere before the kill:${showStatuses(nodes, statuses)}`,
      ).toBe(1);
      const pyFollower = [py1, py2].find((p) => p !== pyLeader) as PyNode;
      return { nodes, ts, pyLeader: pyLeader as PyNode, pyFollower, proposed, before: statuses };
    }

    it('(b) the Python leader is SIGKILLed: a new leader is elected and commands keep committing', async () => {
      const { ts, pyLeader, pyFollower, proposed, before } = await pythonLedCluster(undefined, undefined);
      const oldTerm = before[0]?.term ?? 0;
      await pyLeader.kill();
      const survivors: InteropNode[] = [pyFollower, ts];
      const leader = await agreedLeader(survivors, 15_000);
      expect(leader, 'the new leader is a survivor').not.toBe(pyLeader.address);
      const after = await Promise.all(survivors.map((n) => n.status()));
      for (const [i, s] of after.entries()) {
        expect(s.term, `${survivors[i]?.name}: term after the election`).toBeGreaterThan(oldTerm);
      }

      const more = await runWorkload(survivors, 12, 'after-kill');
      expectAllSucceeded(more);
      const all: Proposed[] = [...proposed, ...more];
      await allApplied(survivors, all.length);
      const records = await expectSameState(survivors);
      expect(records).toHaveLength(all.length);
      expectWellOrdered(records, 'the applied sequence across the failover');
      expectResultsMatch(records, all);
    });

    it('(b) our node wins the election after the Python leader dies and the Python follower follows it', async () => {
      // ours: elections after 0.2–0.25 s of silence; Python: 0.9–1.2 s
      const { ts, pyLeader, pyFollower, proposed, before } = await pythonLedCluster(
        QUICK_ELECTIONS,
        SLOW_ELECTIONS,
      );
      const tsAddress = ts.address as string;
      await pyLeader.kill();
      const survivors: InteropNode[] = [pyFollower, ts];
      const leader = await agreedLeader(survivors, 15_000);
      expect(leader, 'our node leads after the Python leader was killed').toBe(tsAddress);
      const followerView = await pyFollower.waitUntil({ leader: tsAddress }, 5000);
      expect(followerView.isLeader).toBe(false);

      // commands proposed on our leader and forwarded by the Python follower commit on both
      const more = await runWorkload(survivors, 15, 'ts-leads');
      expectAllSucceeded(more);
      const all: Proposed[] = [...proposed, ...more];
      await allApplied(survivors, all.length);
      const records = await expectSameState(survivors);
      expectResultsMatch(records, all);

      const pyAfter = await pyFollower.status();
      const tsAfter = ts.statusNow();
      const pyBefore = before[[0, 1].find((i) => before[i]?.self === pyFollower.address) ?? 0];
      expect(pyAfter.leader, "the Python follower's _getLeader()").toBe(tsAddress);
      expect(pyAfter.commit, 'Python follower commit index advanced').toBeGreaterThan(pyBefore?.commit ?? 0);
      expect(pyAfter.applied, 'Python follower applied index advanced').toBeGreaterThan(
        pyBefore?.applied ?? 0,
      );
      // it applied what our leader proposed (records carry our leader's term)
      const tsTermRecords = records.filter(([, term]) => term === tsAfter.term);
      expect(tsTermRecords.length, `entries of our leader's term ${tsAfter.term}`).toBe(more.length);
      await pyFollower.waitUntil({ minCommit: tsAfter.commit, minApplied: tsAfter.applied }, 5000);

      // the killed node comes back with an empty log (pysyncobj keeps nothing in memory mode) and
      // catches up from our leader, from index 1 on
      const restarted = await env().startPy(
        'py-restarted',
        pyLeader.address,
        [pyFollower.address as string, tsAddress, pyLeader.address as string],
        {
          ...base,
          timeouts: SLOW_ELECTIONS,
        },
      );
      await restarted.waitUntil({ leader: tsAddress }, 10_000);
      const trio: InteropNode[] = [ts, pyFollower, restarted];
      await allApplied(trio, all.length);
      await expectSameState(trio);
      const last = await runWorkload(trio, 3, 'after-restart');
      expectAllSucceeded(last);
      await allApplied(trio, all.length + last.length);
      expectResultsMatch(await expectSameState(trio), [...all, ...last]);
    });

    it('(b) a frozen (SIGSTOP) Python leader is replaced by our node; resumed, it steps down and follows', async () => {
      const { ts, pyLeader, pyFollower, proposed, before } = await pythonLedCluster(
        QUICK_ELECTIONS,
        SLOW_ELECTIONS,
      );
      const tsAddress = ts.address as string;
      pyLeader.signal('SIGSTOP');
      // requests to the frozen leader wait in its stdin; it handles them once resumed, whatever it
      // then believes about leadership
      const stale = [propose(pyLeader, 'incr', [777_001]), propose(pyLeader, 'put', ['k0', 'stale-put'])];
      const survivors: InteropNode[] = [pyFollower, ts];
      expect(await agreedLeader(survivors, 15_000), 'our node leads while the Python leader is frozen').toBe(
        tsAddress,
      );
      const during = await runWorkload(survivors, 6, 'frozen');
      expectAllSucceeded(during);
      pyLeader.signal('SIGCONT');
      const resumed = await pyLeader.waitUntil({ leader: tsAddress, isLeader: false }, 10_000);
      expect(resumed.term, 'the resumed node adopted the new term').toBeGreaterThan(before[0]?.term ?? 0);
      const nodes: InteropNode[] = [pyLeader, pyFollower, ts];
      const after = await runWorkload(nodes, 4, 'resumed');
      expectAllSucceeded(after);
      const staleOutcomes: Proposed[] = await Promise.all(stale);
      for (const p of staleOutcomes) {
        expect(p.outcome.ok, `${p.op}(${p.args.join(', ')}) sent to the frozen leader was answered`).toBe(
          true,
        );
      }
      const certain: Proposed[] = [...proposed, ...during, ...after];
      // the stale requests either succeeded (and are applied once) or failed (DISCARDED: not applied)
      const all: Proposed[] = [...certain, ...staleOutcomes];
      const appliedStale = staleOutcomes.filter((p) => p.outcome.ok && p.outcome.err === 0).length;
      await allApplied(nodes, certain.length + appliedStale);
      const records = await expectSameState(nodes);
      expectWellOrdered(records, 'the applied sequence across the freeze');
      expectResultsMatch(records, all);
    });

    it('(b) our leader stalls (event loop blocked 3 s): pysyncobj elects a leader, ours steps down and follows', async () => {
      const addrs = await freeLoopbackAddresses(3);
      const [a1, a2, a3] = addrs as [string, string, string];
      const ts = await env().startTs('ts', a3, addrs, { ...base, timeouts: QUICK_ELECTIONS });
      const py1 = await env().startPy('py1', a1, addrs, { ...base, timeouts: SLOW_ELECTIONS });
      const py2 = await env().startPy('py2', a2, addrs, { ...base, timeouts: SLOW_ELECTIONS });
      const nodes: InteropNode[] = [py1, py2, ts];
      expect(await agreedLeader(nodes, 15_000), 'our node leads first').toBe(a3);
      const proposed = await runWorkload(nodes, 5, 'before-stall');
      expectAllSucceeded(proposed);
      await allApplied(nodes, proposed.length);
      const termBefore = ts.statusNow().term;

      // proposed on our leader right before it stalls: appended, not yet replicated
      const stale = [propose(ts, 'incr', [888_001]), propose(ts, 'put', ['k1', 'stale-ts'])];
      const until = Date.now() + 3000;
      let spins = 0;
      while (Date.now() < until) spins++; // a stalled process: no timers, no sockets
      expect(spins).toBeGreaterThan(0);

      const leader = await agreedLeader(nodes, 15_000);
      expect([a1, a2], 'a Python node leads after our stall').toContain(leader);
      const st = ts.statusNow();
      expect(st.isLeader, 'our node stepped down').toBe(false);
      expect(st.term, 'our node adopted the new term').toBeGreaterThan(termBefore);
      // a superseded proposal is answered (DISCARDED) only once its index is applied, as in
      // pysyncobj: new entries must reach that index first
      const after = await runWorkload(nodes, 4, 'after-stall');
      expectAllSucceeded(after);
      const staleOutcomes: Proposed[] = await Promise.all(stale);
      for (const p of staleOutcomes) {
        expect(p.outcome.ok, `${p.op}(${p.args.join(', ')}) proposed before the stall was answered`).toBe(
          true,
        );
      }
      const certain: Proposed[] = [...proposed, ...after];
      const appliedStale = staleOutcomes.filter((p) => p.outcome.ok && p.outcome.err === 0).length;
      await allApplied(nodes, certain.length + appliedStale);
      const records = await expectSameState(nodes);
      expectWellOrdered(records, 'the applied sequence across our stall');
      expectResultsMatch(records, [...certain, ...staleOutcomes]);
    });
  });
}
