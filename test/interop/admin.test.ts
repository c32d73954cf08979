/**
 * Interop (c), (d): Debian's `syncobj_admin` (pysyncobj's TcpUtility) against our node in a cluster
 * with real pysyncobj nodes: `-status` prints pysyncobj's status keys, `-add`/`-remove` change the
 * membership of a dynamic-membership cluster through our node — with and without `-pass`.
 */
import { expect, it } from 'vitest';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import { PYSYNCOBJ_STATUS_KEYS } from '../helpers/pysyncobj-status.js';
import { describePython } from '../helpers/python.js';
import {
  agreedLeader,
  allApplied,
  eventually,
  expectSameState,
  type InteropNode,
  type NodeOptions,
  type NodeStatus,
  parseAdminStatus,
  QUICK_ELECTIONS,
  SLOW_ELECTIONS,
  showStatuses,
  syncobjAdmin,
  useInteropEnv,
} from './harness.js';
import { adminPass, VARIANTS } from './variants.js';
import { expectAllSucceeded, runWorkload } from './workload.js';

/** `partner_node_status_server_127.0.0.1:1234` → `partner_node_status_server_<addr>` */
function keyShape(key: string): string {
  return key.replace(/_server_.*$/, '_server_<node>');
}

for (const variant of VARIANTS) {
  describePython(`interop: syncobj_admin against a raftdcs node (${variant.label})`, () => {
    const env = useInteropEnv();
    const base: NodeOptions = { password: variant.password, useBatch: variant.useBatch, dynamic: true };
    const pass = adminPass(variant);

    it('(c) -status prints the pysyncobj status keys; -add/-remove change the membership', async () => {
      const addrs = await freeLoopbackAddresses(4);
      const [a1, a2, a3, a4] = addrs as [string, string, string, string];
      const members = [a1, a2, a3];
      const py1 = await env().startPy('py1', a1, members, base);
      const py2 = await env().startPy('py2', a2, members, base);
      // a Python node leads: our node is a follower, so -add/-remove through it are forwarded
      await agreedLeader([py1, py2], 15_000);
      const ts = await env().startTs('ts', a3, members, base);
      const nodes: InteropNode[] = [py1, py2, ts];
      const leader = await agreedLeader(nodes, 15_000);
      expect([a1, a2], 'a Python node still leads').toContain(leader);
      const pyFollower = leader === a1 ? py2 : py1;
      const proposed = await runWorkload(nodes, 4, 'admin');
      expectAllSucceeded(proposed);
      await allApplied(nodes, proposed.length);

      // -status against our node, once it is connected to both partners
      await eventually(
        async () => (ts.statusNow().connected.length === 2 ? true : undefined),
        5000,
        'our node to be connected to both Python nodes',
        () => JSON.stringify(ts.statusNow()),
      );
      const st = await syncobjAdmin(['-conn', a3, ...pass, '-status']);
      expect(st.code, `syncobj_admin -status exit code; stdout ${st.stdout} stderr ${st.stderr}`).toBe(0);
      const got = parseAdminStatus(st.stdout);
      for (const k of PYSYNCOBJ_STATUS_KEYS) expect(got.has(k), `status key ${k} in ${st.stdout}`).toBe(true);
      const mine = ts.statusNow();
      expect(got.get('version')).toBe('0.3.11');
      expect(got.get('self')).toBe(a3);
      expect(got.get('state')).toBe(String(mine.state));
      expect(got.get('leader')).toBe(leader);
      expect(got.get('has_quorum')).toBe('True');
      expect(got.get('partner_nodes_count')).toBe('2');
      expect(got.get(`partner_node_status_server_${a1}`)).toBe('2');
      expect(got.get(`partner_node_status_server_${a2}`)).toBe('2');
      expect(got.get('readonly_nodes_count')).toBe('0');
      expect(got.get('raft_term')).toBe(String(mine.term));
      for (const k of ['log_len', 'last_applied', 'commit_idx', 'uptime', 'self_code_version']) {
        expect(got.get(k), `${k} is an int`).toMatch(/^[0-9]+$/);
      }
      expect(Number(got.get('commit_idx'))).toBeGreaterThanOrEqual(proposed.length);
      expect(Number(got.get('last_applied'))).toBeLessThanOrEqual(Number(got.get('commit_idx')));
      expect(got.get('leader_commit_idx')).toMatch(/^[0-9]+$/);
      expect(got.get('enabled_code_version')).toBe('0');

      // the same keys as the Python follower reports (node-named keys compared by shape)
      const ref = await syncobjAdmin(['-conn', pyFollower.address as string, ...pass, '-status']);
      expect(ref.code).toBe(0);
      const refKeys = new Set([...parseAdminStatus(ref.stdout).keys()].map(keyShape));
      const ourKeys = new Set([...got.keys()].map(keyShape));
      expect(
        [...ourKeys].sort(),
        `our status keys vs pysyncobj's (${pyFollower.name}):\n${ref.stdout}`,
      ).toEqual([...refKeys].sort());

      // -add through our node (a follower forwards it to the leader)
      const add = await syncobjAdmin(['-conn', a3, ...pass, '-add', a4]);
      expect(add.code).toBe(0);
      expect(add.stdout.trim()).toBe(`SUCCESS ADD ${a4}`);
      let last: NodeStatus[] = [];
      await eventually(
        async () => {
          last = await Promise.all(nodes.map((n) => n.status()));
          return last.every((s) => s.otherNodes.includes(a4)) ? true : undefined;
        },
        5000,
        `every member to list ${a4} after -add`,
        () => showStatuses(nodes, last),
      );
      // the added node (a Python one) joins and catches up
      const py4 = await env().startPy('py4', a4, addrs, base);
      const grown: InteropNode[] = [...nodes, py4];
      await allApplied(grown, proposed.length, 10_000);
      await expectSameState(grown);
      const more = await runWorkload([py4, ts], 3, 'admin-after-add');
      expectAllSucceeded(more);
      await allApplied(grown, proposed.length + more.length);
      await expectSameState(grown);

      // removing our node itself through our node is refused like pysyncobj does
      const self = await syncobjAdmin(['-conn', a3, ...pass, '-remove', a3]);
      expect(self.stdout.trim()).toBe(`FAIL REMOVE ${a3}`);

      // -remove through our node
      const rem = await syncobjAdmin(['-conn', a3, ...pass, '-remove', a4]);
      expect(rem.code).toBe(0);
      expect(rem.stdout.trim()).toBe(`SUCCESS REMOVE ${a4}`);
      await eventually(
        async () => {
          last = await Promise.all(nodes.map((n) => n.status()));
          return last.every((s) => !s.otherNodes.includes(a4) && s.otherNodes.length === 2)
            ? true
            : undefined;
        },
        5000,
        `every remaining member to drop ${a4} after -remove`,
        () => showStatuses(nodes, last),
      );
      await py4.kill();
      // the three remaining members still commit
      const after = await runWorkload(nodes, 2, 'admin-after-remove');
      expectAllSucceeded(after);
      await allApplied(nodes, proposed.length + more.length + after.length);
      await expectSameState(nodes);

      const final = await syncobjAdmin(['-conn', a3, ...pass, '-status']);
      expect(parseAdminStatus(final.stdout).get('partner_nodes_count')).toBe('2');
    });

    it('(c) against our leader: -status, and -set_version/-add/-remove answered as pysyncobj answers them', async () => {
      const addrs = await freeLoopbackAddresses(4);
      const [a1, a2, a3, a4] = addrs as [string, string, string, string];
      const members = [a1, a2, a3];
      const ts = await env().startTs('ts', a3, members, { ...base, timeouts: QUICK_ELECTIONS });
      const py1 = await env().startPy('py1', a1, members, { ...base, timeouts: SLOW_ELECTIONS });
      const py2 = await env().startPy('py2', a2, members, { ...base, timeouts: SLOW_ELECTIONS });
      const nodes: InteropNode[] = [py1, py2, ts];
      expect(await agreedLeader(nodes, 15_000), 'our node leads').toBe(a3);
      const proposed = await runWorkload(nodes, 4, 'admin-leader');
      expectAllSucceeded(proposed);
      await allApplied(nodes, proposed.length);
      await eventually(
        async () => (ts.statusNow().connected.length === 2 ? true : undefined),
        5000,
        'our leader to be connected to both Python nodes',
        () => JSON.stringify(ts.statusNow()),
      );

      const st = await syncobjAdmin(['-conn', a3, ...pass, '-status']);
      expect(st.code, `exit code; stderr ${st.stderr}`).toBe(0);
      const got = parseAdminStatus(st.stdout);
      for (const k of PYSYNCOBJ_STATUS_KEYS) expect(got.has(k), `status key ${k} in ${st.stdout}`).toBe(true);
      expect(got.get('state'), 'state (2 = leader)').toBe('2');
      expect(got.get('self')).toBe(a3);
      expect(got.get('leader')).toBe(a3);
      expect(got.get('next_node_idx_count')).toBe('2');
      expect(got.get('match_idx_count')).toBe('2');
      const commit = Number(got.get('commit_idx'));
      for (const p of [a1, a2]) {
        expect(Number(got.get(`next_node_idx_server_${p}`)), `next_node_idx_server_${p}`).toBeGreaterThan(1);
        const match = Number(got.get(`match_idx_server_${p}`));
        expect(match, `match_idx_server_${p} in [1, commit ${commit}+]`).toBeGreaterThanOrEqual(1);
      }
      expect(got.get('leader_commit_idx')).toBe(String(commit));

      // a version above every node's: the same refusal text from our node and from pysyncobj
      const tooNew = await syncobjAdmin(['-conn', a3, ...pass, '-set_version', '1']);
      const tooNewPy = await syncobjAdmin(['-conn', a1, ...pass, '-set_version', '1']);
      expect(tooNew.stdout.trim()).toBe(tooNewPy.stdout.trim());
      expect(tooNew.stdout).toMatch(/wrong version/);
      // version 0: a VERSION entry every node applies (through our leader, and forwarded by pysyncobj)
      expect((await syncobjAdmin(['-conn', a3, ...pass, '-set_version', '0'])).stdout.trim()).toBe(
        'SUCCESS SET_VERSION 0',
      );
      expect((await syncobjAdmin(['-conn', a1, ...pass, '-set_version', '0'])).stdout.trim()).toBe(
        'SUCCESS SET_VERSION 0',
      );

      // -add on our leader (appended locally); a second -add of the same node is refused, also
      // when a Python follower forwards it; -remove forwarded by a Python follower succeeds
      expect((await syncobjAdmin(['-conn', a3, ...pass, '-add', a4])).stdout.trim()).toBe(
        `SUCCESS ADD ${a4}`,
      );
      let last: NodeStatus[] = [];
      await eventually(
        async () => {
          last = await Promise.all(nodes.map((n) => n.status()));
          return last.every((s) => s.otherNodes.includes(a4)) ? true : undefined;
        },
        5000,
        `every member to list ${a4}`,
        () => showStatuses(nodes, last),
      );
      expect((await syncobjAdmin(['-conn', a3, ...pass, '-add', a4])).stdout.trim()).toBe(`FAIL ADD ${a4}`);
      expect((await syncobjAdmin(['-conn', a1, ...pass, '-add', a4])).stdout.trim()).toBe(`FAIL ADD ${a4}`);
      expect((await syncobjAdmin(['-conn', a1, ...pass, '-remove', a4])).stdout.trim()).toBe(
        `SUCCESS REMOVE ${a4}`,
      );
      await eventually(
        async () => {
          last = await Promise.all(nodes.map((n) => n.status()));
          return last.every((s) => !s.otherNodes.includes(a4)) ? true : undefined;
        },
        5000,
        `every member to drop ${a4}`,
        () => showStatuses(nodes, last),
      );
      const after = await runWorkload(nodes, 2, 'admin-leader-after');
      expectAllSucceeded(after);
      await allApplied(nodes, proposed.length + after.length);
      await expectSameState(nodes);
    });
  });
}
