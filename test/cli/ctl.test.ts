/**
 * `raftdcs ctl` and Debian's `patronictl` (3.0.2) on the same Patroni cluster agree.
 *
 * Three `raftdcs controller` processes form the Raft cluster; Patroni 3.0.2's own Raft DCS writes
 * the Patroni clusters into it (members with conn_url, api_url, state, role, timeline,
 * xlog_location, tags, pending_restart; initialize, config, leader, status, sync, history); then
 * both tools read it through their read-only Raft nodes with the same YAML (scope, two partners,
 * the third node as self_addr). Compared: `list` in every format (pretty and topology tables
 * byte for byte apart from the system id in the title, which 3.0.2 does not print; tsv, yaml and
 * json exactly), `list -e`, several cluster names, `show-config`, `history` (pretty, json), and
 * an MPP (Citus) cluster with and without `--group`. `dump` shows the records Patroni's node holds
 * (index, value, created/updated) and the TTL left.
 */
import { expect, it } from 'vitest';
import { describePython } from '../helpers/python.js';
import { useProcesses } from './cli-process.js';
import {
  type ClusterSpec,
  ctl,
  memberData,
  patronictl,
  type RunResult,
  seedWithPatroni,
  startRaftCluster,
  withoutSysid,
} from './ctl-helpers.js';

const procs = useProcesses();

const SYSID = '7234567890123456789';
const MB = 1024 * 1024;
const OPTIME = 119_537_760;

const BATMAN: ClusterSpec = {
  scope: 'batman',
  sysid: SYSID,
  config: {
    ttl: 30,
    loop_wait: 10,
    retry_timeout: 10,
    maximum_lag_on_failover: 1048576,
    postgresql: {
      use_pg_rewind: true,
      parameters: { max_connections: 100, wal_level: 'replica', archive_command: 'cp %p /arch/%f' },
    },
    synchronous_mode: true,
  },
  members: [
    { name: 'pg1', data: memberData('10.0.0.1', { role: 'master', timeline: 3, lsn: OPTIME }) },
    {
      name: 'pg2',
      data: memberData('10.0.0.2', {
        state: 'streaming',
        timeline: 3,
        lsn: OPTIME - 50 * MB,
        pendingRestart: true,
        tags: { nofailover: false, clonefrom: true },
      }),
    },
    {
      name: 'pg3',
      data: memberData('10.0.0.3', {
        port: 5433,
        timeline: 3,
        lsn: 60_000_000,
        tags: { replicatefrom: 'pg2' },
      }),
    },
    { name: 'pg4', data: memberData('10.0.0.4', { state: 'starting', tags: { nofailover: true } }) },
  ],
  leader: 'pg1',
  optime: OPTIME,
  slots: { pg2: OPTIME, pg3: 60_000_000 },
  syncStandby: ['pg2'],
  history: [
    [1, 25165984, 'no recovery target specified', '2024-01-01T10:00:00.123+00:00', 'pg1'],
    [2, 50331800, 'no recovery target specified'],
  ],
};

/** A second cluster on the same Raft cluster: no leader, no config, a legacy member. */
const ROBIN: ClusterSpec = {
  scope: 'robin',
  members: [
    { name: 'r1', data: memberData('10.1.0.1', { state: 'stopped', timeline: 1 }) },
    { name: 'r2', data: memberData('10.1.0.1', { port: 5432, state: 'running', timeline: 1, lsn: 5 }) },
  ],
};

/** `2026-01-01T10:00:00.123456+00:00` → epoch seconds with the microseconds. */
function isoSeconds(iso: string): number {
  const m = /^([^.]*?)(?:\.(\d{6}))?\+00:00$/.exec(iso);
  expect(m, iso).not.toBeNull();
  return Date.parse(`${m?.[1]}Z`) / 1000 + Number(m?.[2] ?? 0) / 1e6;
}

function ok(r: RunResult, what: string): string {
  expect(r.code, `${what}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`).toBe(0);
  return r.stdout;
}

describePython('raftdcs ctl agrees with Debian patronictl 3.0.2 on clusters written by Patroni', () => {
  it('list (pretty, topology, tsv, yaml, json, -e, several names), show-config, history; dump', async () => {
    const raft = await startRaftCluster(procs);
    const kv = await seedWithPatroni(raft, [BATMAN, ROBIN]);
    const c = ['-c', raft.yaml];
    const pairs: [string, string[]][] = [
      ['list', ['list']],
      ['topology', ['topology']],
      ['list -e', ['list', '-e']],
      ['list tsv', ['list', '-f', 'tsv']],
      ['list yaml', ['list', '-f', 'yaml']],
      ['list json', ['list', '-f', 'json']],
      ['two clusters', ['list', 'batman', 'robin']],
      ['robin json', ['list', 'robin', '-f', 'json']],
      ['show-config', ['show-config']],
      ['history', ['history']],
      ['history json', ['history', '-f', 'json']],
      ['history robin', ['history', 'robin']],
    ];
    const runs = await Promise.all(
      pairs.map(async ([what, args]) => {
        const [ours, theirs] = await Promise.all([ctl([...c, ...args]), patronictl([...c, ...args])]);
        return {
          what,
          ours: ok(ours, `raftdcs ctl ${what}`),
          theirs: ok(theirs, `patronictl ${what}`),
          ms: ours.ms,
        };
      }),
    );
    const out = Object.fromEntries(runs.map((r) => [r.what, r]));
    for (const r of runs) {
      if (r.what.includes('json')) expect(JSON.parse(r.ours), r.what).toEqual(JSON.parse(r.theirs));
      expect(withoutSysid(r.ours), r.what).toBe(r.theirs);
    }

    // the facts, spelled out once (what the byte comparison above already implies)
    const members = JSON.parse(out['list json']?.ours ?? '[]') as Record<string, unknown>[];
    expect(members).toEqual([
      { Cluster: 'batman', Member: 'pg1', Host: '10.0.0.1:5432', Role: 'Leader', State: 'running', TL: 3 },
      {
        Cluster: 'batman',
        Member: 'pg2',
        Host: '10.0.0.2:5432',
        Role: 'Sync Standby',
        State: 'streaming',
        TL: 3,
        'Lag in MB': 50,
        'Pending restart': '*',
        Tags: { nofailover: false, clonefrom: true },
      },
      {
        Cluster: 'batman',
        Member: 'pg3',
        Host: '10.0.0.3:5433',
        Role: 'Replica',
        State: 'running',
        TL: 3,
        'Lag in MB': 57,
        Tags: { replicatefrom: 'pg2' },
      },
      {
        Cluster: 'batman',
        Member: 'pg4',
        Host: '10.0.0.4:5432',
        Role: 'Replica',
        State: 'starting',
        'Lag in MB': 'unknown',
        Tags: { nofailover: true },
      },
    ]);
    // ours prints the system id in the title, as patronictl >= 3.0.3 does
    expect(out.list?.ours.split('\n')[0]).toMatch(/^\+ Cluster: batman \(7234567890123456789\) [-+]/);
    expect(out.list?.theirs.split('\n')[0]).toMatch(/^\+ Cluster: batman -+\+/);
    expect(out['two clusters']?.ours).toContain('+ Cluster: robin (uninitialized) ');
    expect(out.topology?.ours).toContain('|   + pg3 |');
    expect(out['show-config']?.ours).toContain('    archive_command: cp %p /arch/%f\n');

    // dump: the records Patroni's node holds, with the TTL left of the member keys (ttl 600)
    const dump = JSON.parse(ok(await ctl([...c, 'dump', '-f', 'json']), 'dump')) as {
      key: string;
      index: number;
      value: string;
      created: string;
      updated: string;
      ttl_left: number | null;
    }[];
    const batmanKeys = Object.keys(kv)
      .filter((k) => k.startsWith('/service/batman/'))
      .sort();
    expect(dump.map((d) => d.key)).toEqual(batmanKeys);
    for (const d of dump) {
      const rec = kv[d.key];
      expect(d.index, d.key).toBe(rec?.index);
      expect(d.value, d.key).toBe(rec?.value);
      expect(isoSeconds(d.updated), d.key).toBeCloseTo(rec?.updated ?? 0, 5);
      expect(isoSeconds(d.created), d.key).toBeCloseTo(rec?.created ?? 0, 5);
      if (rec?.expire === undefined) expect(d.ttl_left, d.key).toBeNull();
      else {
        expect(d.ttl_left, d.key).toBeGreaterThan(500);
        expect(d.ttl_left, d.key).toBeLessThanOrEqual(600);
      }
    }
    expect(dump.find((d) => d.key === '/service/batman/leader')?.ttl_left).not.toBeNull();
    const table = ok(await ctl([...c, 'dump', 'members/']), 'dump members/');
    expect(table).toMatch(
      /\| \/service\/batman\/members\/pg1 \| +\d+ \| [0-9T:.+-]+ \| [0-9T:.+-]+ \| +[56]\d\d\.\ds \| \{"conn_url"/,
    );
    expect(table).not.toContain('/service/batman/leader');
    const everything = ok(await ctl([...c, 'dump', '/', '-f', 'tsv']), 'dump /');
    const dumped = everything
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((line) => line.split('\t')[0]);
    expect(dumped.sort(), 'keys dumped vs keys Patroni wrote').toEqual(Object.keys(kv).sort());
  }, 80_000);

  it('an MPP (Citus) cluster: list with and without --group, show-config --group', async () => {
    const raft = await startRaftCluster(procs, 'citus:\n  group: 0\n  database: citus\n');
    const citus = { database: 'citus' };
    await seedWithPatroni(raft, [
      {
        scope: 'batman',
        citus: { group: 0, ...citus },
        sysid: '7000000000000000000',
        config: { ttl: 30, synchronous_mode: false },
        members: [
          { name: 'coord1', data: memberData('10.2.0.1', { role: 'master', timeline: 1, lsn: 100 }) },
          { name: 'coord2', data: memberData('10.2.0.2', { timeline: 1, lsn: 100 }) },
        ],
        leader: 'coord1',
        optime: 100,
      },
      {
        scope: 'batman',
        citus: { group: 1, ...citus },
        sysid: '7000000000000000001',
        config: { ttl: 30, pause: true },
        members: [
          { name: 'w1a', data: memberData('10.2.1.1', { role: 'master', timeline: 2, lsn: 3 * MB }) },
          { name: 'w1b', data: memberData('10.2.1.2', { timeline: 2, lsn: MB }) },
        ],
        leader: 'w1a',
        optime: 3 * MB,
      },
    ]);
    const c = ['-c', raft.yaml];
    const pairs: [string, string[]][] = [
      ['list', ['list']],
      ['list json', ['list', '-f', 'json']],
      ['list --group 1', ['list', '--group', '1']],
      ['topology --group 1', ['topology', '--group', '1']],
      ['show-config --group 1', ['show-config', '--group', '1']],
    ];
    const runs = await Promise.all(
      pairs.map(async ([what, args]) => {
        const [ours, theirs] = await Promise.all([ctl([...c, ...args]), patronictl([...c, ...args])]);
        return { what, ours: ok(ours, `raftdcs ctl ${what}`), theirs: ok(theirs, `patronictl ${what}`) };
      }),
    );
    for (const r of runs) expect(r.ours, r.what).toBe(r.theirs);
    const list = runs[0]?.ours ?? '';
    expect(list).toContain('+ Citus cluster: batman ');
    expect(list).toMatch(/\| +1 \| w1b +\| 10\.2\.1\.2 +\| Replica/);
    expect(list).toContain('Citus group: 1\n Maintenance mode: on\n');
    expect(runs[2]?.ours).toContain('(group: 1, 7000000000000000001)');
  }, 60_000);
});
