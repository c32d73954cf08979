/**
 * Interop: entries at and above `appendEntriesBatchSizeBytes` (64 KiB), where pysyncobj switches to
 * its chunked 'transmission' form (`docs/protocol.md` §7.5).
 * - our leader sends big entries as plain `append_entries` (no transmission): Python followers
 *   apply them, whatever the size;
 * - a node starting 300 entries (~450 KB) behind catches up, from our leader or a Python one;
 * - a Python leader sends them as transmissions, which our follower reassembles;
 * - pysyncobj's mislabelled 'finish' (`docs/protocol.md` §7.5: a command whose length is just below a multiple
 *   of the batch size while its pickled entry crosses it): the Python follower's tick thread dies,
 *   our follower drops the undecodable buffer and stays up, following the leader.
 */
import { readFileSync } from 'node:fs';
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
  useInteropEnv,
} from './harness.js';
import { VARIANTS } from './variants.js';
import { expectAllSucceeded, expectResultsMatch, type Proposed, propose, runWorkload } from './workload.js';

/**
 * Value sizes (the command is ~30 bytes longer) around one and two batches — all outside the window
 * that triggers pysyncobj's mislabelled 'finish' (command length ≤ 64 KiB·k < pickled entry length).
 */
const SIZES = [1000, 65_400, 65_536, 65_600, 100_000, 131_200, 200_000];

/** `put('big', 'x' * 131014)`: command 131043 bytes, pickled entry ~131102 bytes: crosses 2 × 64 KiB. */
const MISLABELLED_FINISH_VALUE_BYTES = 131_014;

for (const variant of VARIANTS) {
  describePython(`interop: big entries (${variant.label})`, () => {
    const env = useInteropEnv();
    const base: NodeOptions = { password: variant.password, useBatch: variant.useBatch };

    for (const tsLeads of [true, false]) {
      it(`${tsLeads ? 'our leader → Python followers' : 'Python leader → our follower'}: entries up to 200 KB apply everywhere`, async () => {
        const addrs = await freeLoopbackAddresses(3);
        const [a1, a2, a3] = addrs as [string, string, string];
        const pyTimeouts = tsLeads ? SLOW_ELECTIONS : undefined;
        const py1 = await env().startPy('py1', a1, addrs, { ...base, timeouts: pyTimeouts });
        const py2 = await env().startPy('py2', a2, addrs, { ...base, timeouts: pyTimeouts });
        if (!tsLeads) await agreedLeader([py1, py2], 15_000);
        const ts = await env().startTs('ts', a3, addrs, {
          ...base,
          timeouts: tsLeads ? QUICK_ELECTIONS : undefined,
        });
        const nodes: InteropNode[] = [py1, py2, ts];
        const leader = await agreedLeader(nodes, 15_000);
        expect(leader === a3, `our node leads: ${leader === a3}`).toBe(tsLeads);
        for (const [i, n] of SIZES.entries()) {
          const proposer = nodes[i % nodes.length] as InteropNode;
          const r = await proposer.put(`big${i}`, 'x'.repeat(n));
          expect(r, `${proposer.kind} ${proposer.name}: put of a ${n}-byte value`).toMatchObject({
            ok: true,
            err: 0,
          });
        }
        await allApplied(nodes, SIZES.length, 15_000);
        await expectSameState(nodes);
      });

      it(`${tsLeads ? 'our leader' : 'a Python leader'} brings a node that starts 300 entries (~450 KB) behind up to date`, async () => {
        const addrs = await freeLoopbackAddresses(3);
        const [a1, a2, a3] = addrs as [string, string, string];
        let pair: InteropNode[];
        if (tsLeads) {
          const ts = await env().startTs('ts', a3, addrs, { ...base, timeouts: QUICK_ELECTIONS });
          const py1 = await env().startPy('py1', a1, addrs, { ...base, timeouts: SLOW_ELECTIONS });
          pair = [ts, py1];
          expect(await agreedLeader(pair, 15_000), 'our node leads').toBe(a3);
        } else {
          const py1 = await env().startPy('py1', a1, addrs, base);
          const py2 = await env().startPy('py2', a2, addrs, base);
          pair = [py1, py2];
          await agreedLeader(pair, 15_000);
        }
        const backlog: Promise<Proposed>[] = [];
        for (let i = 0; i < 300; i++) {
          const v = `${i}:${'y'.repeat(1500)}`;
          backlog.push(propose(pair[i % 2] as InteropNode, 'put', [`b${i % 7}`, v]));
        }
        const first = await Promise.all(backlog);
        expectAllSucceeded(first);
        // the late node: a Python follower of our leader, or our follower of the Python leader
        const late = tsLeads
          ? await env().startPy('py2-late', a2, addrs, { ...base, timeouts: SLOW_ELECTIONS })
          : await env().startTs('ts-late', a3, addrs, base);
        const nodes: InteropNode[] = [...pair, late];
        await allApplied(nodes, first.length, 20_000);
        await expectSameState(nodes);
        const more = await runWorkload(nodes, 4, 'after-catch-up');
        expectAllSucceeded(more);
        await allApplied(nodes, first.length + more.length);
        expectResultsMatch(await expectSameState(nodes), [...first, ...more]);
      });
    }
  });
}

describePython('interop: pysyncobj mislabelled transmission (docs/protocol.md §7.5)', () => {
  const env = useInteropEnv();

  it('the Python follower fails on it (0.3.11 dies, 0.3.14 logs it); ours drops the bad buffer and keeps following', async () => {
    const addrs = await freeLoopbackAddresses(3);
    const [a1, a2, a3] = addrs as [string, string, string];
    const py1 = await env().startPy('py1', a1, addrs);
    const py2 = await env().startPy('py2', a2, addrs);
    const pyLeaderAddress = await agreedLeader([py1, py2], 15_000);
    const ts = await env().startTs('ts', a3, addrs);
    const nodes: InteropNode[] = [py1, py2, ts];
    expect(await agreedLeader(nodes, 15_000)).toBe(pyLeaderAddress);
    const pyLeader = (pyLeaderAddress === a1 ? py1 : py2) as PyNode;
    const pyFollower = (pyLeader === py1 ? py2 : py1) as PyNode;
    expect(await pyLeader.put('small', 'ok'), 'a small put first').toMatchObject({ ok: true, err: 0 });
    await allApplied(nodes, 1);
    const before = ts.statusNow();

    // never commits (neither follower can take it): fire and forget, with a short timeout
    void pyLeader.put('big', 'x'.repeat(MISLABELLED_FINISH_VALUE_BYTES), 3000).catch(() => undefined);
    // pysyncobj 0.3.11's tick thread dies of the truncated pickle; 0.3.14 catches errors in its tick
    // and logs them ("failed _onTick in _autoTickThread"), so the process lives on
    await eventually(
      async () =>
        !pyFollower.alive || readFileSync(pyFollower.logFile, 'utf8').includes('pickle data was truncated')
          ? true
          : undefined,
      10_000,
      `the Python follower ${pyFollower.name} to fail on the truncated pickle`,
    );
    // our node went on: not failed, same leader and term, nothing garbled applied; the leader
    // keeps re-sending the bad transmission and we keep dropping it
    const markerOps = ts.statusNow().appliedOps;
    await eventually(
      async () => {
        const st = ts.statusNow();
        return st.leader === pyLeaderAddress &&
          st.term === before.term &&
          st.connected.includes(pyLeaderAddress)
          ? true
          : undefined;
      },
      5000,
      'our follower to keep following the Python leader',
      () => JSON.stringify(ts.statusNow()),
    );
    expect(ts.obj.failure, 'our node has not stopped').toBeNull();
    expect(ts.statusNow().appliedOps).toBe(markerOps);
    expect(ts.obj.dict.has('big')).toBe(false);
    expect(ts.obj.dict.get('small')).toBe('ok');
    const leaderView = await pyLeader.status();
    expect(leaderView.isLeader, 'the Python leader is still up').toBe(true);
  });
});
