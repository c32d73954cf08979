/**
 * Interop: snapshots (full dumps, `docs/protocol.md` §9) between the implementations. A node that starts after the
 * leader compacted its log gets the dump in `serialized` chunks and installs it: from a pysyncobj
 * leader to our follower, and from our leader to a pysyncobj follower. The dumped state (counter,
 * dict and the applied records) is the same attribute dict on both sides, so after the install every
 * node holds the same applied sequence; later entries apply on top of it.
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
  type PyNode,
  QUICK_ELECTIONS,
  SLOW_ELECTIONS,
  type TsNode,
  useInteropEnv,
} from './harness.js';
import { VARIANTS } from './variants.js';
import { expectAllSucceeded, expectResultsMatch, type Proposed, runWorkload } from './workload.js';

for (const variant of VARIANTS) {
  describePython(`interop: snapshots (${variant.label})`, () => {
    const env = useInteropEnv();
    const base: NodeOptions = { password: variant.password, useBatch: variant.useBatch };

    it('a pysyncobj leader sends its dump to our late follower, which installs it', async () => {
      const addrs = await freeLoopbackAddresses(3);
      const [a1, a2, a3] = addrs as [string, string, string];
      const py1 = await env().startPy('py1', a1, addrs, base);
      const py2 = await env().startPy('py2', a2, addrs, base);
      const pair: InteropNode[] = [py1, py2];
      const leaderAddress = await agreedLeader(pair, 15_000);
      const leader = (leaderAddress === a1 ? py1 : py2) as PyNode;
      const first = await runWorkload(pair, 10, 'py-dump');
      expectAllSucceeded(first);
      await allApplied(pair, first.length);
      await leader.compact();
      await leader.waitUntil({ maxLogLen: 2 }, 10_000);

      const ts = await env().startTs('ts-late', a3, addrs, base);
      const nodes: InteropNode[] = [py1, py2, ts];
      await allApplied(nodes, first.length, 15_000);
      await expectSameState(nodes);
      // it installed the dump (its log starts at the dump's entries), not a replay from index 1
      expect(ts.statusNow().logLen, 'our log after the install').toBeLessThan(first.length);
      const more = await runWorkload(nodes, 4, 'py-dump-after');
      expectAllSucceeded(more);
      const all: Proposed[] = [...first, ...more];
      await allApplied(nodes, all.length);
      expectResultsMatch(await expectSameState(nodes), all);
    });

    it('our leader sends its dump to a late pysyncobj follower, which installs it', async () => {
      const addrs = await freeLoopbackAddresses(3);
      const [a1, a2, a3] = addrs as [string, string, string];
      const ts = await env().startTs('ts', a3, addrs, { ...base, timeouts: QUICK_ELECTIONS });
      const py1 = await env().startPy('py1', a1, addrs, { ...base, timeouts: SLOW_ELECTIONS });
      const pair: InteropNode[] = [ts, py1];
      expect(await agreedLeader(pair, 15_000), 'our node leads').toBe(a3);
      const first = await runWorkload(pair, 10, 'ts-dump');
      expectAllSucceeded(first);
      await allApplied(pair, first.length);
      (ts as TsNode).obj.forceLogCompaction();
      await eventually(
        async () => (ts.statusNow().logLen <= 2 ? true : undefined),
        10_000,
        'our leader to compact its log after the dump',
        () => JSON.stringify(ts.obj.getStatus()),
      );

      const late = await env().startPy('py2-late', a2, addrs, { ...base, timeouts: SLOW_ELECTIONS });
      const nodes: InteropNode[] = [ts, py1, late];
      await allApplied(nodes, first.length, 15_000);
      await expectSameState(nodes);
      expect((await late.status()).logLen, 'the Python log after the install').toBeLessThan(first.length);
      const more = await runWorkload(nodes, 4, 'ts-dump-after');
      expectAllSucceeded(more);
      const all: Proposed[] = [...first, ...more];
      await allApplied(nodes, all.length);
      expectResultsMatch(await expectSameState(nodes), all);
    });
  });
}
