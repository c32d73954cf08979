/**
 * DCS benchmark: getCluster() of a Citus coordinator seeing `groups` groups of `members` members
 * each (plus leader, config, status, sync, history, failover, initialize per group), ours (a
 * single-node RaftDcs holding the keys) against Patroni 3.0.2's Raft DCS on the same keys.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RaftDcs } from '../src/dcs/raft-dcs.js';
import { freePorts } from './cluster.js';

const here = dirname(fileURLToPath(import.meta.url));
const benchDir = existsSync(join(here, 'python')) ? here : resolve(here, '../../bench');

export interface DcsBenchResult {
  readonly groups: number;
  readonly members: number;
  readonly oursMs: number;
  readonly pythonMs: number | null;
  readonly pythonNote?: string;
}

function keysFor(groups: number, members: number): Map<string, string> {
  const keys = new Map<string, string>();
  for (let g = 0; g < groups; g++) {
    const p = `/service/batman/${g}/`;
    keys.set(`${p}initialize`, '7301234567890123456');
    keys.set(
      `${p}config`,
      JSON.stringify({
        ttl: 30,
        loop_wait: 10,
        retry_timeout: 10,
        postgresql: { parameters: { max_connections: 100 } },
      }),
    );
    for (let m = 0; m < members; m++) {
      keys.set(
        `${p}members/m${m}`,
        JSON.stringify({
          conn_url: `postgres://10.${g}.0.${m}:5432/postgres`,
          api_url: `http://10.${g}.0.${m}:8008/patroni`,
          state: 'running',
          role: m === 0 ? 'master' : 'replica',
          version: '3.0.2',
          xlog_location: 67108960 + m,
          timeline: 2,
          tags: { nofailover: false },
        }),
      );
    }
    keys.set(`${p}leader`, 'm0');
    keys.set(`${p}status`, JSON.stringify({ optime: 67108960, slots: { m1: 67108960 } }));
    keys.set(`${p}sync`, JSON.stringify({ leader: 'm0', sync_standby: 'm1' }));
    keys.set(
      `${p}history`,
      JSON.stringify([[1, 25165984, 'no recovery target specified', '2024-01-01T10:00:00+00:00', 'm0']]),
    );
    keys.set(`${p}failover`, '{}');
  }
  return keys;
}

export async function benchDcs(groups: number, members: number, seconds: number): Promise<DcsBenchResult> {
  const keys = keysFor(groups, members);
  const dir = mkdtempSync(join(tmpdir(), 'raftdcs-bench-dcs-'));
  const [port] = await freePorts(1);
  const addr = `127.0.0.1:${port}`;
  const dcs = await RaftDcs.create({
    name: 'bench',
    scope: 'batman',
    self_addr: addr,
    bind_addr: addr,
    data_dir: dir,
    citus: { group: 0, database: 'citus' },
  });
  let oursMs: number;
  try {
    while (!dcs.kv.isLeader()) await new Promise((r) => setTimeout(r, 20));
    await Promise.all([...keys].map(([k, v]) => dcs.kv.set(k, v)));
    const c = await dcs.getCluster();
    if (c.workers.size !== groups - 1 || c.members.length !== members)
      throw new Error('bench data not loaded');
    for (let i = 0; i < 20; i++) await dcs.getCluster();
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      await dcs.getCluster();
      n++;
    }
    oursMs = (performance.now() - t0) / n;
  } finally {
    await dcs.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const records: Record<string, { value: string; index: number; created: number; updated: number }> = {};
  let index = 3;
  for (const [k, v] of keys) records[k] = { value: v, index: index++, created: 1.5e9, updated: 1.5e9 };
  const py = spawnSync(
    '/usr/bin/python3',
    [join(benchDir, 'python/dcs_baseline.py'), String(groups), String(members), String(seconds)],
    {
      input: JSON.stringify(records),
      encoding: 'utf8',
      timeout: (seconds + 60) * 1000,
    },
  );
  if (py.status !== 0)
    return {
      groups,
      members,
      oursMs,
      pythonMs: null,
      pythonNote: (py.stderr || String(py.error)).trim().split('\n').pop(),
    };
  const r = JSON.parse(py.stdout.trim().split('\n').pop() as string) as { get_cluster_ms: number };
  return { groups, members, oursMs, pythonMs: r.get_cluster_ms };
}
