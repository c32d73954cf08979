/**
 * `raftdcs recover` with the real Python peers (Debian's Patroni 3.0.2 and pysyncobj 0.3.11):
 *
 * - a three-member cluster — raftdcs controllers, or Debian's `patroni_raft_controller`s (pysyncobj
 *   journal and `.meta`) — holds a Patroni cluster written by Patroni 3.0.2's own Raft DCS (leader
 *   lock and members with TTLs, config, initialize, sync, history);
 * - two members are killed and their data dirs removed, the survivor is stopped and recovered, and
 *   `raftdcs controller` starts on its recovered files — or, recovered with `--for-pysyncobj`,
 *   `patroni_raft_controller` again — alone;
 * - Patroni 3.0.2's Raft DCS client then reads the same Cluster and every key with its index and
 *   timestamps, and writes through it work; Python's own unpickler loads the recovered dump file
 *   (pysyncobj's format: the state, the last two entries, the new membership).
 *
 * Skipped loudly without the Python peers (test/helpers/python.ts).
 */
import { rmSync } from 'node:fs';
import { expect, it } from 'vitest';
import { journalPaths } from '../../src/raft/journal/paths.js';
import { describePython, PYTHON } from '../helpers/python.js';
import { PATRONI_RAFT_CONTROLLER, type Proc, useProcesses } from './cli-process.js';
import { type KvRecordJson, memberData, runCommand, seedWithPatroni } from './ctl-helpers.js';
import {
  type NodeSpec,
  recover,
  startController,
  status,
  threeNodeConfigs,
  waitApplied,
  waitLeader,
} from './recover-helpers.js';

const procs = useProcesses();

/** Patroni 3.0.2's Raft DCS as a read-only node of `partners`: the Cluster, every key, and a write. */
const READ_SCRIPT = `
import json, logging, sys, time
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
from patroni.dcs.raft import Raft
spec = json.loads(sys.stdin.read())
d = Raft({'partner_addrs': spec['partners'], 'scope': 'batman', 'name': 'pg9', 'ttl': 600, 'retry_timeout': 10})
deadline = time.time() + 20
while d._sync_obj.get(spec['probe']) is None and time.time() < deadline:
    time.sleep(0.1)
cluster = d.get_cluster()
out = {
    'kv': d._sync_obj.get('/', recursive=True),
    'leader': cluster.leader.name if cluster.leader else None,
    'members': sorted(m.name for m in cluster.members),
    'config': cluster.config.data if cluster.config else None,
    'initialize': cluster.initialize,
    'sync_leader': cluster.sync.leader,
    'history': cluster.history.lines if cluster.history else None,
    'touch': d.touch_member({'conn_url': 'postgres://10.0.0.9:5432/postgres', 'api_url': 'http://10.0.0.9:8008/patroni', 'state': 'running', 'role': 'replica'}),
}
out['pg9'] = d._sync_obj.get('/service/batman/members/pg9')
print(json.dumps(out))
d._sync_obj.destroy()
`;

/** The recovered dump as Python's pickle loads it (pysyncobj's TCPNode class for the cluster). */
const DUMP_SCRIPT = `
import gzip, json, pickle, sys
import pysyncobj.node
with gzip.open(sys.argv[1], 'rb') as f:
    state, last, prev, cluster = pickle.load(f)
print(json.dumps({
    'last': [last[1], last[2]], 'prev': [prev[1], prev[2]],
    'cluster': sorted(n.id for n in cluster),
    'version': state['_SyncObj__enabledCodeVersion'],
    'kv': state['_KVStoreTTL__data'],
}))
`;

interface PatroniView {
  readonly kv: Record<string, KvRecordJson>;
  readonly leader: string | null;
  readonly members: string[];
  readonly config: Record<string, unknown> | null;
  readonly initialize: string | null;
  readonly sync_leader: string | null;
  readonly history: unknown[] | null;
  readonly touch: boolean;
  readonly pg9: KvRecordJson | null;
}

async function python(script: string, args: readonly string[], input: string): Promise<string> {
  const r = await runCommand(PYTHON, ['-c', script, ...args], { input, timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`python failed (${r.code}):\n${r.stderr}`);
  return r.stdout;
}

function startNode(kind: 'raftdcs' | 'python', node: NodeSpec): Proc {
  return kind === 'raftdcs'
    ? startController(procs, node)
    : procs.run(PATRONI_RAFT_CONTROLLER, [node.config], { cwd: procs.dir() });
}

/**
 * The disaster on a cluster of `kind` controllers, the survivor recovered and restarted: by
 * `raftdcs controller`, or (`restart: 'python'`, recovered with --for-pysyncobj) by
 * `patroni_raft_controller` again.
 */
async function disasterAndRecovery(kind: 'raftdcs' | 'python', restart: 'raftdcs' | 'python'): Promise<void> {
  const cluster = await threeNodeConfigs(procs);
  const [survivor, dead1, dead2] = cluster.nodes as [NodeSpec, NodeSpec, NodeSpec];
  const running = new Map(cluster.nodes.map((n) => [n.addr, startNode(kind, n)]));
  await waitLeader(cluster.addrs, 40_000);
  const seeded = await seedWithPatroni({ addrs: cluster.addrs, dir: cluster.dir, yaml: '' }, [
    {
      scope: 'batman',
      sysid: '7301234567890123456',
      config: { ttl: 30, loop_wait: 10, retry_timeout: 10, synchronous_mode: true },
      members: [
        { name: 'pg1', data: memberData('10.0.0.1', { role: 'master', timeline: 2, lsn: 67108960 }) },
        { name: 'pg2', data: memberData('10.0.0.2', { lsn: 67108960 }) },
        { name: 'pg3', data: memberData('10.0.0.3', { lsn: 50331648 }) },
      ],
      leader: 'pg1',
      optime: 67108960,
      syncStandby: ['pg2'],
      history: [[1, 25165992, 'no recovery target specified', '2024-05-01T10:00:00+00:00']],
    },
  ]);
  expect(Object.keys(seeded).length).toBeGreaterThanOrEqual(8);
  expect(seeded['/service/batman/leader']?.expire).toBeDefined();
  await waitApplied(cluster.addrs, Math.max(...Object.values(seeded).map((r) => r.index)));

  for (const n of [dead1, dead2]) {
    const p = running.get(n.addr);
    p?.signal('SIGKILL');
    await p?.waitExit(10_000);
    rmSync(n.dataDir, { recursive: true, force: true });
  }
  const s = running.get(survivor.addr);
  s?.signal('SIGTERM');
  await s?.waitExit(20_000);

  const pysyncobjMode = restart === 'python' ? ['--for-pysyncobj'] : [];
  const r = await recover([
    '-c',
    survivor.config,
    '--force-new-cluster',
    '--yes',
    '--check-timeout',
    '1',
    ...pysyncobjMode,
  ]);
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
  if (kind === 'python') {
    expect(r.stdout).toMatch(/journal \S+ \(pysyncobj\)/);
    // the Python journal is kept as it was (its .meta, if pysyncobj wrote one, too)
    expect(r.stdout).toMatch(/\.journal -> \S+\.journal\.before-recover-/);
  }
  if (restart === 'python') {
    expect(r.stdout).toContain('the pysyncobj journal stays');
    expect(r.stdout).toContain('start this node as before (Patroni or patroni_raft_controller)');
  }

  // Python loads the recovered dump file as pysyncobj would
  const dumpFile = journalPaths(survivor.dataDir, survivor.addr).dump;
  const dump = JSON.parse(await python(DUMP_SCRIPT, [dumpFile], '')) as {
    last: [number, number];
    cluster: string[];
    version: number;
    kv: Record<string, KvRecordJson>;
  };
  expect(dump.cluster).toEqual([survivor.addr]);
  expect(dump.version).toBe(0);
  expect(dump.kv).toEqual(seeded);
  expect(dump.last[0]).toBeGreaterThanOrEqual(Math.max(...Object.values(seeded).map((x) => x.index)));

  // the node on the recovered files, alone; Patroni 3.0.2's Raft DCS reads it and writes to it
  startNode(restart, survivor);
  await waitLeader([survivor.addr], 30_000);
  expect((await status(survivor.addr))?.get('partner_nodes_count')).toBe(0);
  const view = JSON.parse(
    await python(
      READ_SCRIPT,
      [],
      JSON.stringify({ partners: [survivor.addr], probe: '/service/batman/leader' }),
    ),
  ) as PatroniView;
  const { ['/service/batman/members/pg9']: _written, ...before } = view.kv;
  expect(before).toEqual(seeded);
  expect(view.leader).toBe('pg1');
  expect(view.members).toEqual(['pg1', 'pg2', 'pg3']);
  expect(view.config).toMatchObject({ ttl: 30, synchronous_mode: true });
  expect(view.initialize).toBe('7301234567890123456');
  expect(view.sync_leader).toBe('pg1');
  expect(view.history).toEqual([[1, 25165992, 'no recovery target specified', '2024-05-01T10:00:00+00:00']]);
  expect(view.touch).toBe(true);
  expect(view.pg9?.index).toBeGreaterThan(dump.last[0]);
}

describePython('raftdcs recover with Patroni 3.0.2 and pysyncobj 0.3.11', () => {
  it('raftdcs controllers: the recovered survivor serves Patroni’s cluster to Patroni’s own Raft DCS', async () => {
    await disasterAndRecovery('raftdcs', 'raftdcs');
  });

  it('patroni_raft_controllers (pysyncobj files): recovered, then run by raftdcs controller', async () => {
    await disasterAndRecovery('python', 'raftdcs');
  });

  it('patroni_raft_controllers: recovered --for-pysyncobj, then run by patroni_raft_controller again', async () => {
    await disasterAndRecovery('python', 'python');
  });
});
