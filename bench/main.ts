/**
 * `npm run bench`: raftdcs against the Python original, side by side on this machine.
 *
 *   npm run bench                       # everything
 *   npm run bench -- --only codec,tput  # a subset of: codec, tput, sync, python (the Python side of
 *                                       # tput/sync), journal, fsync, restart (with mem + join), failover, dcs
 *   npm run bench -- --quick            # shorter runs
 *
 * Python figures come from the project's baseline script (bench/python/pysyncobj_baseline.py:
 * Debian pysyncobj 0.3.11 + Patroni 3.0.2 KVStoreTTL with Patroni's settings), run in the same
 * invocation. Needs /usr/bin/python3 with python3-pysyncobj, python3-cryptography and patroni.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BenchCluster } from './cluster.js';
import { benchCodec } from './codec.js';
import { benchDcs } from './dcs.js';
import { benchJournal } from './journal.js';
import { benchFailover, benchRestartJoin, benchThroughputFsync } from './scenarios.js';

const here = dirname(fileURLToPath(import.meta.url));
/** bench/ in the source tree (also when running the compiled copy in .bench-build/bench/) */
const benchDir = existsSync(join(here, 'python')) ? here : resolve(here, '../../bench');
const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    inflight: { type: 'string', default: '1000' },
  },
});
const ALL = 'codec,tput,sync,python,journal,fsync,restart,failover,dcs';
const only = new Set((values.only ?? ALL).split(','));
const quick = values.quick as boolean;
const inflight = Number(values.inflight);
const tputSecs = quick ? 3 : 10;
const syncOps = quick ? 300 : 2000;

type Json = Record<string, unknown>;
const results: Json = {};
const rows: [string, string, string, string][] = [];

function fmt(n: unknown, digits = 0): string {
  return typeof n === 'number' ? n.toFixed(digits) : 'n/a';
}

function ratio(ours: unknown, theirs: unknown, higherIsBetter: boolean): string {
  if (typeof ours !== 'number' || typeof theirs !== 'number' || ours === 0 || theirs === 0) return 'n/a';
  return `${(higherIsBetter ? ours / theirs : theirs / ours).toFixed(1)}×`;
}

async function runOurs(): Promise<void> {
  const c = new BenchCluster();
  await c.init();
  try {
    const leader = await c.start();
    const L = c.nodes.get(leader)!;
    await new Promise((r) => setTimeout(r, 1000));
    if (only.has('tput')) {
      await L.cmd(
        { op: 'load', prefix: '/bench/w', count: 2000, secs: 5, inflight, valsize: 100, keyspace: 1000 },
        120_000,
      );
      const r = await L.cmd(
        {
          op: 'load',
          prefix: '/bench/t',
          count: 1e9,
          secs: tputSecs,
          inflight,
          valsize: 100,
          keyspace: 10000,
        },
        (tputSecs + 200) * 1000,
      );
      console.log(
        `  [ours tput] leader=${leader} inflight=${inflight}: ok=${r.ok} err=${r.err} in ${fmt(r.total_s, 2)}s -> ${fmt(r.ops_per_s)} ops/s`,
      );
      results.ours_tput = r;
      const f = [...c.nodes.values()].find((n) => n.addr !== leader)!;
      const r2 = await f.cmd(
        {
          op: 'load',
          prefix: '/bench/f',
          count: 1e9,
          secs: Math.min(5, tputSecs),
          inflight,
          valsize: 100,
          keyspace: 10000,
        },
        300_000,
      );
      console.log(`  [ours tput-follower] ${fmt(r2.ops_per_s)} ops/s ok=${r2.ok} err=${r2.err}`);
      results.ours_tput_follower = r2;
    }
    if (only.has('sync')) {
      await L.cmd({ op: 'sync', count: 100, secs: 20 }, 60_000);
      const r = await L.cmd({ op: 'sync', count: syncOps, secs: 300 }, 400_000);
      console.log(
        `  [ours sync-leader] n=${r.n} fails=${r.fails} p50=${fmt(r.p50_ms, 2)}ms p90=${fmt(r.p90_ms, 2)}ms p99=${fmt(r.p99_ms, 2)}ms max=${fmt(r.max_ms, 2)}ms`,
      );
      results.ours_sync = r;
      const f = [...c.nodes.values()].find((n) => n.addr !== leader)!;
      const r2 = await f.cmd({ op: 'sync', count: Math.max(200, syncOps / 4), secs: 60 }, 120_000);
      console.log(`  [ours sync-follower] n=${r2.n} p50=${fmt(r2.p50_ms, 2)}ms p99=${fmt(r2.p99_ms, 2)}ms`);
      results.ours_sync_follower = r2;
    }
  } finally {
    await c.destroy();
  }
}

function runPython(onlyPy: string): Promise<Json | null> {
  return new Promise((resolve) => {
    const args = [join(benchDir, 'python/pysyncobj_baseline.py'), 'run', '--only', onlyPy];
    if (quick) args.push('--quick');
    const p = spawn('/usr/bin/python3', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      const s = d.toString();
      out += s;
      for (const line of s.split('\n')) if (line.startsWith('  [')) console.log(`  [python]${line.slice(2)}`);
    });
    p.on('error', () => resolve(null));
    p.on('exit', () => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT_JSON '));
      resolve(line ? (JSON.parse(line.slice('RESULT_JSON '.length)) as Json) : null);
    });
  });
}

console.log(`raftdcs benchmark (${quick ? 'quick' : 'full'}), node ${process.version}, pid ${process.pid}`);
if (only.has('codec')) {
  const r = benchCodec(quick ? 1 : 3);
  results.codec = r;
  console.log(
    `  [codec] append_entries with 100 Patroni _set entries (${r.pickleBytes} B pickle, ${r.zlibBytes} B zlib): ours ${fmt(r.ours)} msg/s (binbytes form ${fmt(r.oursBinbytes)}), CPython pickle+zlib ${fmt(r.python)} msg/s${r.pythonNote ? ` (${r.pythonNote})` : ''}`,
  );
  rows.push(['codec encode+zlib+decode (msg/s)', fmt(r.ours), fmt(r.python), ratio(r.ours, r.python, true)]);
}
if (only.has('tput') || only.has('sync')) {
  await runOurs();
  if (only.has('python')) {
    const py = await runPython(
      [only.has('tput') ? 'tput' : '', only.has('sync') ? 'sync' : ''].filter(Boolean).join(','),
    );
    results.python = py;
    const ours = results as {
      ours_tput?: Json;
      ours_sync?: Json;
      ours_tput_follower?: Json;
      ours_sync_follower?: Json;
    };
    if (only.has('tput')) {
      rows.push([
        'throughput on leader, 1000 in flight (ops/s)',
        fmt(ours.ours_tput?.ops_per_s),
        fmt(py?.tput_ops_per_s),
        ratio(ours.ours_tput?.ops_per_s, py?.tput_ops_per_s, true),
      ]);
      rows.push([
        'throughput submitted on follower (ops/s)',
        fmt(ours.ours_tput_follower?.ops_per_s),
        fmt(py?.tput_follower_ops_per_s),
        ratio(ours.ours_tput_follower?.ops_per_s, py?.tput_follower_ops_per_s, true),
      ]);
    }
    if (only.has('sync')) {
      const ps = py?.sync_leader as Json | undefined;
      rows.push([
        'sequential set p50 on leader (ms)',
        fmt(ours.ours_sync?.p50_ms, 2),
        fmt(ps?.p50_ms, 2),
        ratio(ours.ours_sync?.p50_ms, ps?.p50_ms, false),
      ]);
      rows.push([
        'sequential set p99 on leader (ms)',
        fmt(ours.ours_sync?.p99_ms, 2),
        fmt(ps?.p99_ms, 2),
        ratio(ours.ours_sync?.p99_ms, ps?.p99_ms, false),
      ]);
      const pf = py?.sync_follower as Json | undefined;
      rows.push([
        'sequential set p50 on follower (ms)',
        fmt(ours.ours_sync_follower?.p50_ms, 2),
        fmt(pf?.p50_ms, 2),
        ratio(ours.ours_sync_follower?.p50_ms, pf?.p50_ms, false),
      ]);
    }
  }
}

if (only.has('journal')) {
  for (const fsync of ['always', 'never'] as const) {
    const r = await benchJournal({ fsync, durationMs: quick ? 1000 : 3000 });
    results[`journal_${fsync}`] = r;
    console.log(
      `  [journal fsync ${fsync}] ${fmt(r.appendsPerSecond)} appends/s of 100 B from 1000 writers, ${fmt(r.appendsPerRound)} per round, ack p50 ${fmt(r.latencyMs.p50, 2)} ms p99 ${fmt(r.latencyMs.p99, 2)} ms`,
    );
    rows.push([
      `journal appends/s, fsync ${fsync} (raftdcs only)`,
      fmt(r.appendsPerSecond),
      'n/a (never fsyncs)',
      '',
    ]);
  }
}
if (only.has('fsync')) {
  const always = await benchThroughputFsync('always', quick ? 3 : 10, console.log);
  const never = await benchThroughputFsync('never', quick ? 3 : 10, console.log);
  results.tput_fsync = { always, never };
  rows.push([
    'throughput, file journal fsync always (ops/s)',
    fmt(always.ops_per_s),
    'n/a (never fsyncs)',
    '',
  ]);
  rows.push(['throughput, file journal fsync never (ops/s)', fmt(never.ops_per_s), '', '']);
}
if (only.has('restart')) {
  const keys = quick ? 20_000 : 100_000;
  const ts = await benchRestartJoin('ts', keys, console.log);
  const py = await benchRestartJoin('py', keys, console.log);
  results.restart_join = { ts, py };
  const label = `${keys / 1000}k keys`;
  const rssOf = (r: typeof ts) => {
    const v = (r.rssMiB[label] ?? []).filter((x): x is number => x !== null);
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : undefined;
  };
  rows.push([
    `restart after kill -9 with ${label}, until caught up (s)`,
    fmt(ts.restartSeconds, 2),
    fmt(py.restartSeconds, 2),
    ratio(ts.restartSeconds, py.restartSeconds, false),
  ]);
  rows.push([
    `wiped follower catch-up, ${label} (s)`,
    fmt(ts.wipedFollowerSeconds, 2),
    fmt(py.wipedFollowerSeconds, 2),
    ratio(ts.wipedFollowerSeconds, py.wipedFollowerSeconds, false),
  ]);
  rows.push([
    `new member join + catch-up, ${label} (s)`,
    fmt(ts.newMemberSeconds, 2),
    fmt(py.newMemberSeconds, 2),
    ratio(ts.newMemberSeconds, py.newMemberSeconds, false),
  ]);
  rows.push([
    `RSS per node at ${label} (MiB)`,
    fmt(rssOf(ts), 1),
    fmt(rssOf(py), 1),
    ratio(rssOf(ts), rssOf(py), false),
  ]);
}
if (only.has('failover')) {
  const trials = quick ? 2 : 5;
  const ts = await benchFailover('ts', trials, console.log);
  const py = await benchFailover('py', trials, console.log);
  results.failover = { ts, py };
  rows.push([
    'leader kill -9 → first commit, median (s)',
    fmt(ts.median, 2),
    fmt(py.median, 2),
    ratio(ts.median, py.median, false),
  ]);
}

if (only.has('dcs')) {
  const r = await benchDcs(10, 100, quick ? 1 : 3);
  results.dcs = r;
  console.log(
    `  [dcs] getCluster, coordinator of ${r.groups} groups × ${r.members} members: ours ${fmt(r.oursMs, 2)} ms, Patroni 3.0.2 ${fmt(r.pythonMs, 2)} ms${r.pythonNote ? ` (${r.pythonNote})` : ''}`,
  );
  rows.push([
    `getCluster, ${r.groups} MPP groups × ${r.members} members (ms)`,
    fmt(r.oursMs, 2),
    fmt(r.pythonMs, 2),
    ratio(r.oursMs, r.pythonMs, false),
  ]);
}

if (rows.length) {
  console.log('\n| measure | raftdcs | pysyncobj 0.3.11 (Patroni settings) | ratio |\n|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}
console.log(`\nRESULT_JSON ${JSON.stringify(results)}`);
