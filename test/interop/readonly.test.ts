/**
 * Interop (e): a pysyncobj read-only node (`SyncObj(None, [members…])`, as patronictl runs) follows
 * a cluster led by our node: it applies everything, and a command it proposes is forwarded to our
 * leader, applied cluster-wide and answered to it. And the mirror: our read-only node following a
 * pysyncobj cluster.
 */
import { expect, it } from 'vitest';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import { describePython } from '../helpers/python.js';
import {
  agreedLeader,
  allApplied,
  eventually,
  expectSameState,
  type InteropNode,
  type NodeOptions,
  QUICK_ELECTIONS,
  SLOW_ELECTIONS,
  type TsNode,
  useInteropEnv,
} from './harness.js';
import { VARIANTS } from './variants.js';
import { expectAllSucceeded, expectResultsMatch, type Proposed, runWorkload } from './workload.js';

for (const variant of VARIANTS) {
  describePython(`interop: pysyncobj read-only node (${variant.label})`, () => {
    const env = useInteropEnv();
    const base: NodeOptions = { password: variant.password, useBatch: variant.useBatch };

    it('(e) follows our leader, applies everything, and its proposals are forwarded and applied', async () => {
      const addrs = await freeLoopbackAddresses(3);
      const [a1, a2, a3] = addrs as [string, string, string];
      // our two nodes elect quickly; the Python voter is slow to start elections
      const ts1 = await env().startTs('ts1', a1, addrs, { ...base, timeouts: QUICK_ELECTIONS });
      const ts2 = await env().startTs('ts2', a2, addrs, { ...base, timeouts: QUICK_ELECTIONS });
      const py = await env().startPy('py', a3, addrs, { ...base, timeouts: SLOW_ELECTIONS });
      const voters: InteropNode[] = [ts1, ts2, py];
      const leaderAddress = await agreedLeader(voters, 15_000);
      const leader = [ts1, ts2].find((t) => t.address === leaderAddress);
      expect(leader, `one of our nodes leads (leader ${leaderAddress})`).toBeDefined();

      const first = await runWorkload(voters, 6, 'ro-before');
      expectAllSucceeded(first);

      const ro = await env().startPy('readonly', null, addrs, base);
      const everyone: InteropNode[] = [...voters, ro];
      await ro.waitUntil({ leader: leaderAddress }, 10_000);
      await allApplied(everyone, first.length);
      await expectSameState(everyone);
      await eventually(
        async () => (leader?.statusNow().readonlyNodes === 1 ? true : undefined),
        5000,
        'our leader to count one read-only peer',
        () => JSON.stringify(leader?.statusNow()),
      );

      // the read-only node proposes (forwarded to our leader) while the voters keep proposing
      const second = await runWorkload([ro, ...voters], 6, 'ro-after');
      expectAllSucceeded(second);
      const all: Proposed[] = [...first, ...second];
      await allApplied(everyone, all.length);
      const records = await expectSameState(everyone);
      expectResultsMatch(records, all);
      const roStatus = await ro.status();
      expect(roStatus.self).toBeNull();
      expect(roStatus.isLeader).toBe(false);
      expect(roStatus.leader).toBe(leaderAddress);
      expect(leader?.statusNow().term, 'no election happened (the read-only node never campaigns)').toBe(
        (await py.status()).term,
      );
    });

    it('our read-only node follows a pysyncobj cluster, applies everything, and its proposals are forwarded', async () => {
      const addrs = await freeLoopbackAddresses(3);
      const [a1, a2, a3] = addrs as [string, string, string];
      const voters: InteropNode[] = [
        await env().startPy('py1', a1, addrs, base),
        await env().startPy('py2', a2, addrs, base),
        await env().startPy('py3', a3, addrs, base),
      ];
      const leaderAddress = await agreedLeader(voters, 15_000);
      const first = await runWorkload(voters, 4, 'ts-ro-before');
      expectAllSucceeded(first);

      const ro = await env().startTs('readonly', null, addrs, base);
      const everyone: InteropNode[] = [...voters, ro];
      expect(await agreedLeader(everyone, 10_000)).toBe(leaderAddress);
      await allApplied(everyone, first.length);
      await expectSameState(everyone);
      const leader = voters.find((v) => v.address === leaderAddress) as InteropNode;
      await eventually(
        async () => ((await leader.status()).readonlyNodes === 1 ? true : undefined),
        5000,
        'the Python leader to count one read-only peer',
      );

      const second = await runWorkload([ro, ...voters], 5, 'ts-ro-after');
      expectAllSucceeded(second);
      const all: Proposed[] = [...first, ...second];
      await allApplied(everyone, all.length);
      expectResultsMatch(await expectSameState(everyone), all);
      const st = (ro as TsNode).statusNow();
      expect(st.self).toBeNull();
      expect(st.isLeader).toBe(false);
      expect(st.leader).toBe(leaderAddress);
    });
  });
}
