/**
 * What the `raftdcs ctl` tests share: a Raft cluster of three `raftdcs controller` processes on
 * per-test ports, Patroni clusters written into it by Debian Patroni 3.0.2's own Raft DCS
 * (`patroni.dcs.raft.Raft`, one read-only node per member, in a `/usr/bin/python3` script — the
 * keys, values, TTLs and CAS arguments real Patroni nodes produce), and runs of `raftdcs ctl` and
 * `/usr/bin/patronictl` on the same YAML with stdin, exit code and both outputs captured.
 *
 * Every process is killed in afterEach (controllers through useProcesses, commands here); every
 * wait is bounded.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach } from 'vitest';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import { PYTHON } from '../helpers/python.js';
import { childEnv, MAIN, type ProcessScope } from './cli-process.js';

export const PATRONICTL = '/usr/bin/patronictl';
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

const running = new Set<ChildProcess>();
afterEach(async () => {
  const all = [...running];
  running.clear();
  await Promise.all(
    all.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('close', () => resolve());
          c.kill('SIGKILL');
        }),
    ),
  );
});

/** Run a program to its end (killed after `timeoutMs`), feeding `input` on stdin. */
export function runCommand(
  command: string,
  args: readonly string[],
  o: { input?: string; env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const t0 = Date.now();
  const child = spawn(command, args, { cwd: o.cwd, env: childEnv(o.env), stdio: ['pipe', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  child.stdin.on('error', () => undefined);
  child.stdin.end(o.input ?? '');
  const timeoutMs = o.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`${command} ${args.join(' ')} did not finish within ${timeoutMs} ms\n${stdout}\n${stderr}`),
      );
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** `raftdcs ctl <args>` from the sources. */
export function ctl(args: readonly string[], o: Parameters<typeof runCommand>[2] = {}): Promise<RunResult> {
  return runCommand(process.execPath, ['--import', TSX_LOADER, MAIN, 'ctl', ...args], o);
}

/** Debian's patronictl. */
export function patronictl(
  args: readonly string[],
  o: Parameters<typeof runCommand>[2] = {},
): Promise<RunResult> {
  return runCommand(PATRONICTL, args, o);
}

/** Election timings that elect a leader in well under a second. */
const FAST = `  append_entries_period: 0.05
  min_timeout: 0.2
  max_timeout: 0.4
  connection_timeout: 1.5
  connection_retry_time: 0.5
`;

export interface RaftCluster {
  readonly addrs: readonly string[];
  readonly dir: string;
  /** patronictl.yaml: scope batman, two partners, the third node as self_addr (added as a partner) */
  readonly yaml: string;
}

/** Three `raftdcs controller` processes forming one Raft cluster, and a patronictl YAML for it. */
export async function startRaftCluster(procs: ProcessScope, extraYaml = ''): Promise<RaftCluster> {
  const addrs = await freeLoopbackAddresses(3);
  const dir = procs.dir();
  const partners = addrs.map((a) => `'${a}'`).join(', ');
  addrs.forEach((self, i) => {
    const file = join(dir, `c${i}.yml`);
    writeFileSync(
      file,
      `raft:\n  self_addr: '${self}'\n  partner_addrs: [${partners}]\n  data_dir: ${join(dir, `d${i}`)}\n${FAST}`,
    );
    procs.raftdcs(['controller', file, '--log-level', 'WARNING']);
  });
  const yaml = join(dir, 'patronictl.yaml');
  writeFileSync(
    yaml,
    `scope: batman\n${extraYaml}raft:\n  partner_addrs: ['${addrs[0]}', '${addrs[1]}']\n  self_addr: '${addrs[2]}'\n`,
  );
  return { addrs, dir, yaml };
}

export interface MemberSpec {
  readonly name: string;
  readonly data: Record<string, unknown>;
}

export interface ClusterSpec {
  readonly scope: string;
  /** `{group, database}` for an MPP (Citus) group */
  readonly citus?: { group: number; database: string };
  readonly sysid?: string;
  readonly config?: Record<string, unknown>;
  readonly members: readonly MemberSpec[];
  readonly leader?: string;
  readonly optime?: number;
  readonly slots?: Record<string, number>;
  readonly syncStandby?: readonly string[];
  readonly history?: readonly unknown[];
}

export interface KvRecordJson {
  readonly value: string;
  readonly index: number;
  readonly created: number;
  readonly updated: number;
  readonly expire?: number;
}

const SEED_SCRIPT = `
import json, logging, sys
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
from patroni.dcs.raft import Raft
spec = json.loads(sys.stdin.read())
nodes = []
def dcs(c, name):
    conf = {'partner_addrs': spec['partners'], 'scope': c['scope'], 'name': name, 'ttl': 600, 'retry_timeout': 10}
    if c.get('citus'):
        conf.update(c['citus'])  # patroni.dcs.get_dcs merges the citus section into the DCS section
    d = Raft(conf)
    nodes.append(d)
    return d
for c in spec['clusters']:
    by_name = {m['name']: dcs(c, m['name']) for m in c['members']}
    first = by_name[c['members'][0]['name']]
    if c.get('sysid') is not None:
        assert first.initialize(True, c['sysid'])
    if c.get('config') is not None:
        assert first.set_config_value(json.dumps(c['config'], separators=(',', ':')))
    for m in c['members']:
        assert by_name[m['name']].touch_member(m['data'])
    if c.get('leader'):
        leader = by_name[c['leader']]
        assert leader.take_leader()
        assert leader.update_leader(c.get('optime'), c.get('slots'))
        if c.get('sync_standby') is not None:
            assert leader.write_sync_state(c['leader'], c['sync_standby'])
    if c.get('history') is not None:
        assert first.set_history_value(json.dumps(c['history'], separators=(',', ':')))
# the node that applied the most: a follower may not have applied the last writes yet (it has
# applied every entry up to its last_applied, in log order, and each writer applied its own write)
reader = max(nodes, key=lambda d: d._sync_obj.raftLastApplied)
kv = reader._sync_obj.get('/', recursive=True)
print(json.dumps(kv))
for d in nodes:
    d._sync_obj.destroy()
`;

/** Write the clusters with Patroni 3.0.2's Raft DCS; the KV records as Patroni's node saw them. */
export async function seedWithPatroni(
  cluster: RaftCluster,
  clusters: readonly ClusterSpec[],
): Promise<Record<string, KvRecordJson>> {
  const spec = {
    partners: cluster.addrs,
    clusters: clusters.map((c) => ({ ...c, sync_standby: c.syncStandby })),
  };
  const r = await runCommand(PYTHON, ['-c', SEED_SCRIPT], { input: JSON.stringify(spec), timeoutMs: 40_000 });
  if (r.code !== 0) throw new Error(`seeding with Patroni failed (${r.code}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, KvRecordJson>;
}

/** A member as Patroni 3.0.2 writes it (`touch_member` data). */
export function memberData(
  host: string,
  o: {
    port?: number;
    apiPort?: number;
    role?: string;
    state?: string;
    timeline?: number;
    lsn?: number;
    tags?: Record<string, unknown>;
    pendingRestart?: boolean;
  } = {},
): Record<string, unknown> {
  const data: Record<string, unknown> = {
    conn_url: `postgres://${host}:${o.port ?? 5432}/postgres`,
    api_url: `http://${host}:${o.apiPort ?? 8008}/patroni`,
    state: o.state ?? 'running',
    role: o.role ?? 'replica',
    version: '3.0.2',
  };
  if (o.lsn !== undefined) data.xlog_location = o.lsn;
  if (o.timeline !== undefined) data.timeline = o.timeline;
  if (o.pendingRestart) data.pending_restart = true;
  if (o.tags) data.tags = o.tags;
  return data;
}

/** Title lines without the system id (Debian's patronictl 3.0.2 does not print it), re-ruled. */
export function withoutSysid(text: string): string {
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const m = /^\+ (Cluster: \S+) \(/.exec(line);
    const rule = lines[i + 2];
    if (m && rule !== undefined) {
      const title = ` ${m[1]} `;
      lines[i] = `+${title}${rule.slice(1 + title.length)}`;
    }
  });
  return lines.join('\n');
}
