/**
 * `npm run bench`: raftdcs against the Python original, side by side on this machine.
 *
 *   npm run bench                       # everything
 *   npm run bench -- --only codec,tput  # a subset: codec, tput, sync, python
 *   npm run bench -- --quick            # shorter runs
 *
 * Python figures come from the project's baseline script (bench/python/pysyncobj_baseline.py:
 * Debian pysyncobj 0.3.11 + Patroni 3.0.2 KVStoreTTL with Patroni's settings), run in the same
 * invocation. Needs /usr/bin/python3 with python3-pysyncobj, python3-cryptography and patroni.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BenchCluster } from './cluster.js';
import { benchCodec } from './codec.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    inflight: { type: 'string', default: '1000' },
  },
});
const only = new Set((values.only ?? 'codec,tput,sync,python').split(','));
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
    const args = [join(here, 'python/pysyncobj_baseline.py'), 'run', '--only', onlyPy];
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

if (rows.length) {
  console.log('\n| measure | raftdcs | pysyncobj 0.3.11 (Patroni settings) | ratio |\n|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}
console.log(`\nRESULT_JSON ${JSON.stringify(results)}`);
