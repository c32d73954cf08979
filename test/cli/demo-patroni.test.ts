/**
 * `raftdcs demo --patroni` (built): without Patroni it names what is missing, prints the install
 * line and exits non-zero having started nothing; with Debian's Patroni and PostgreSQL it brings up
 * a primary and two streaming replicas on the raftdcs cluster, Ctrl-C stops every process and keeps
 * the data, a second run continues from it, and a primary whose Patroni is stopped is replaced and
 * comes back as a replica.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEMO_SUPERUSER } from '../../src/cli/demo/patroni-config.js';
import { describeE2e, PSQL } from '../e2e/env.js';
import { freePorts } from '../helpers/ports.js';
import { useDemoRuns } from './demo-run.js';

const demo = useDemoRuns();
const dirs: string[] = [];

/** Every process whose command line mentions `dir` (Patroni, PostgreSQL, the controllers). */
function processesUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (/\) [ZX] /.test(stat)) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dir)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

afterEach(() => {
  for (const d of dirs.splice(0)) {
    for (const pid of processesUnder(d)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    rmSync(d, { recursive: true, force: true });
  }
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'raftdcs-demo-patroni-'));
  dirs.push(d);
  return d;
}

/** One SQL command as the demo's superuser over TCP; its output, or the error text. */
function psql(port: number, sql: string): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    execFile(
      PSQL,
      [
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-U',
        DEMO_SUPERUSER.username,
        '-d',
        'postgres',
        '-XAtq',
        '-c',
        sql,
      ],
      {
        timeout: 15_000,
        env: { PATH: '/usr/bin:/bin', PGPASSWORD: DEMO_SUPERUSER.password, PGCONNECT_TIMEOUT: '3' },
      },
      (error, stdout, stderr) => resolve({ ok: error === null, out: (error ? stderr : stdout).trim() }),
    );
  });
}

/** psql that retries (bounded) until it succeeds with `expected` output, if given. */
async function psqlUntil(port: number, sql: string, expected: string | null, ms: number): Promise<string> {
  const deadline = Date.now() + ms;
  let last = '';
  for (let i = 0; i < Math.ceil(ms / 250) + 1; i++) {
    const r = await psql(port, sql);
    last = r.out;
    if (r.ok && (expected === null || r.out === expected)) return r.out;
    if (Date.now() > deadline) break;
    await new Promise((res) => setTimeout(res, 250));
  }
  throw new Error(
    `psql on port ${port}: ${JSON.stringify(sql)} did not give ${expected ?? 'success'}: ${last}`,
  );
}

/** The PostgreSQL members of a summary line: `pg1=leader/running/tl2 pg2=replica/running/tl2/lag=0`. */
function members(line: string): { name: string; role: string; state: string; lag: string | undefined }[] {
  return [...line.matchAll(/(pg\d)=(\w+)\/(\w+)\/tl\w+(?:\/lag=(\S+))?/g)].map((m) => ({
    name: m[1] ?? '',
    role: m[2] ?? '',
    state: m[3] ?? '',
    lag: m[4],
  }));
}

/** A running primary and two running replicas that are not behind. */
function healthy(line: string): boolean {
  const ms = members(line);
  return (
    ms.length === 3 &&
    ms.filter((m) => m.role === 'leader' && m.state === 'running').length === 1 &&
    ms.filter((m) => m.role === 'replica' && m.state === 'running' && m.lag === '0').length === 2
  );
}

function leaderIn(line: string): string {
  const name = members(line).find((m) => m.role === 'leader')?.name;
  if (!name) throw new Error(`no leader in ${line}`);
  return name;
}

describe('raftdcs demo --patroni without Patroni or PostgreSQL', () => {
  it('names what is missing, prints the install line, exits non-zero, starts nothing', async () => {
    const dir = join(tempDir(), 'demo');
    const r = demo([
      '--patroni',
      '--dir',
      dir,
      '--patroni-bin',
      '/nonexistent/patroni',
      '--pg-bin-dir',
      '/nonexistent/pg',
    ]);
    expect(await r.exited).toBe(3);
    const text = r.lines.join('\n');
    expect(text).toContain('/nonexistent/patroni is missing or not executable');
    expect(text).toContain('/nonexistent/pg/postgres');
    expect(text).toContain('sudo apt-get install -y patroni python3-pysyncobj postgresql-15');
    expect(existsSync(dir)).toBe(false);
  });
});

describe('raftdcs demo --patroni with bad arguments', () => {
  it('names the option and what it got, exits 1, starts nothing', async () => {
    const dir = join(tempDir(), 'demo');
    for (const [args, message] of [
      [['--pg-ports', '1,2'], '--pg-ports must be a comma-separated list of 3 ports, got 1,2'],
      [
        ['--api-ports', '8111,x,8113'],
        '--api-ports must be a comma-separated list of 3 ports, got 8111,x,8113',
      ],
      [['--ports', '70000'], '--ports must be a comma-separated list of ports, got 70000'],
    ] as const) {
      const r = demo(['--patroni', '--dir', dir, ...args]);
      expect(await r.exited).toBe(1);
      expect(r.lines.join('\n')).toContain(message);
    }
    expect(existsSync(dir)).toBe(false);
  });
});

describeE2e('raftdcs demo --patroni', () => {
  it('runs 3 PostgreSQL nodes on raftdcs, stops cleanly keeping the data, continues, fails over', {
    timeout: 420_000,
  }, async () => {
    const dir = tempDir();
    const ports = await freePorts(9);
    const [raft, api, pg] = [ports.slice(0, 3), ports.slice(3, 6), ports.slice(6, 9)];
    const args = [
      '--patroni',
      '--dir',
      dir,
      '--ports',
      raft.join(','),
      '--api-ports',
      api.join(','),
      '--pg-ports',
      pg.join(','),
    ];
    const pgPort = (name: string) => pg[Number(name.slice(2)) - 1] ?? 0;

    // first run: bootstrap, replication
    const first = demo(args);
    const leader1 = leaderIn(await first.waitLine(healthy, 180_000));
    await psqlUntil(
      pgPort(leader1),
      "CREATE TABLE demo_kept (v text); INSERT INTO demo_kept VALUES ('kept')",
      null,
      30_000,
    );
    for (const other of ['pg1', 'pg2', 'pg3'].filter((n) => n !== leader1)) {
      await psqlUntil(pgPort(other), 'SELECT v FROM demo_kept', 'kept', 30_000);
    }
    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);
    expect(first.lines.join('\n')).toMatch(/data is kept/);
    expect(processesUnder(dir)).toEqual([]);
    for (const n of ['pg1', 'pg2', 'pg3']) expect(existsSync(join(dir, n, 'data', 'PG_VERSION'))).toBe(true);

    // second run: the same cluster, the same data
    const second = demo(args);
    const leader2 = leaderIn(await second.waitLine(healthy, 180_000));
    expect(await psqlUntil(pgPort(leader2), 'SELECT v FROM demo_kept', 'kept', 30_000)).toBe('kept');

    // stop the primary's Patroni: another node is promoted, and the demo brings the old one back
    const patroni = processesUnder(join(dir, leader2, 'patroni.yml'));
    expect(patroni).toHaveLength(1);
    process.kill(patroni[0] ?? 0, 'SIGTERM');
    const promoted = await second.waitLine(
      (l) => members(l).some((m) => m.role === 'leader' && m.name !== leader2 && m.state === 'running'),
      120_000,
    );
    const leader3 = leaderIn(promoted);
    // back as a replica, streaming from the new primary, which has the data
    await second.waitLine((l) => healthy(l) && leaderIn(l) !== leader2, 120_000);
    expect(await psqlUntil(pgPort(leader3), 'SELECT v FROM demo_kept', 'kept', 30_000)).toBe('kept');
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
    expect(processesUnder(dir)).toEqual([]);
  });
});
