/**
 * One benchmark cluster member: our KVStoreTTL in its own process, driven by JSON lines on stdin
 * with the same operations as the Python baseline's node (status, load, sync, probe,
 * wait_leader_change, wait_caught_up, quit), answering JSON lines on stdout.
 */
import { mkdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { KVStoreTTL } from '../src/kv/kvstore-ttl.js';
import { newRecordDict } from '../src/kv/record.js';
import { FailReason } from '../src/raft/core/types.js';
import { journalPaths } from '../src/raft/journal/paths.js';
import type { ResultReason } from '../src/raft/runtime/outcome.js';

const { values } = parseArgs({
  options: {
    'self-addr': { type: 'string' },
    partners: { type: 'string', default: '' },
    'data-dir': { type: 'string', default: '' },
    journal: { type: 'string', default: 'memory' },
    fsync: { type: 'string', default: 'never' },
    fast: { type: 'boolean', default: false },
  },
});
const selfAddr = values['self-addr'] as string;
const partners = (values.partners as string).split(',').filter(Boolean);

const files = values.journal === 'file' ? journalPaths(values['data-dir'] as string, selfAddr) : null;
if (files) mkdirSync(values['data-dir'] as string, { recursive: true });
/** shorter Raft timeouts for tests that kill nodes often */
const fast = values.fast
  ? {
      appendEntriesPeriod: 0.05,
      raftMinTimeout: 0.2,
      raftMaxTimeout: 0.4,
      connectionTimeout: 1,
      connectionRetryTime: 0.2,
    }
  : {};
const kv = await KVStoreTTL.open({
  selfAddr,
  partnerAddrs: partners,
  retryTimeout: 10,
  conf: {
    ...fast,
    bindAddress: selfAddr,
    journalFile: files?.journal ?? null,
    fullDumpFile: files?.dump ?? null,
    fsync: values.fsync === 'always' ? 'always' : 'never',
    ...(process.env.RAFTDCS_BENCH_COMPACT_MIN
      ? { logCompactionMinEntries: Number(process.env.RAFTDCS_BENCH_COMPACT_MIN) }
      : {}),
  },
});
const tStart = performance.now();

function reply(obj: unknown): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

function status() {
  return {
    self: selfAddr,
    is_leader: kv.isLeader(),
    leader: kv.getLeader(),
    term: kv.raftCurrentTerm,
    commit: kv.raftCommitIndex,
    applied: kv.raftLastApplied,
    nkeys: kv.size,
    others: kv.otherNodes.sort(),
    mono: performance.now() / 1000,
    pid: process.pid,
    rss_mib: process.memoryUsage().rss / 1048576,
  };
}

const pct = (values: number[], p: number): number | null => {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.round((p / 100) * (s.length - 1))))] as number;
};

async function load(c: {
  prefix?: string;
  count?: number;
  secs?: number;
  inflight?: number;
  valsize?: number;
  keyspace?: number;
  retry?: boolean;
}) {
  const prefix = c.prefix ?? '/bench/k';
  const count = c.count ?? 1e9;
  const secs = c.secs ?? 10;
  const inflight = c.inflight ?? 1000;
  const keyspace = c.keyspace ?? 0;
  const val = 'x'.repeat(c.valsize ?? 100);
  let ok = 0;
  let err = 0;
  const errs: Record<string, number> = {};
  const failed: number[] = [];
  const attempts = new Map<number, number>();
  let outstanding = 0;
  let wake: (() => void) | null = null;
  const t0 = performance.now();
  let sent = 0;
  let next = 0;
  while ((performance.now() - t0) / 1000 < secs) {
    let k: number;
    if (failed.length > 0) k = failed.shift() as number;
    else if (next < count) k = keyspace ? next++ % keyspace : next++;
    else if (c.retry && outstanding > 0) {
      await new Promise<void>((r) => {
        wake = r;
      });
      continue;
    } else break;
    while (outstanding >= inflight)
      await new Promise<void>((r) => {
        wake = r;
      });
    attempts.set(k, (attempts.get(k) ?? 0) + 1);
    outstanding++;
    sent++;
    const key = k;
    kv.callWithCallback(
      kv._set,
      [`${prefix}${key}`, newRecordDict(val, Date.now() / 1000, undefined)],
      undefined,
      (_r, reason) => {
        outstanding--;
        if (reason === FailReason.Success) ok++;
        else {
          err++;
          errs[String(reason)] = (errs[String(reason)] ?? 0) + 1;
          if (c.retry && (attempts.get(key) ?? 0) < 50) failed.push(key);
        }
        const w = wake;
        wake = null;
        w?.();
      },
    );
    if (sent % 256 === 0) await new Promise((r) => setImmediate(r));
  }
  const tSent = performance.now();
  const drainDeadline = performance.now() + 60_000;
  while (outstanding > 0 && performance.now() < drainDeadline)
    await new Promise<void>((r) => {
      wake = r;
      setTimeout(r, 500);
    });
  const tEnd = performance.now();
  const total = (tEnd - t0) / 1000;
  return {
    sent,
    ok,
    err,
    errs,
    send_s: (tSent - t0) / 1000,
    total_s: total,
    ops_per_s: ok / total,
    undrained: outstanding,
    unfinished_keys: failed.length + Math.max(0, count - next),
  };
}

async function syncLat(c: { count?: number; secs?: number; valsize?: number; prefix?: string }) {
  const count = c.count ?? 2000;
  const val = 'y'.repeat(c.valsize ?? 100);
  const prefix = c.prefix ?? '/bench/s';
  const lats: number[] = [];
  let fails = 0;
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    if ((performance.now() - t0) / 1000 > (c.secs ?? 60)) break;
    const a = performance.now();
    const ok = await kv.set(`${prefix}${i % 1000}`, val, { timeout: 5 });
    const b = performance.now();
    if (ok) lats.push(b - a);
    else fails++;
  }
  const mean = lats.reduce((x, y) => x + y, 0) / Math.max(1, lats.length);
  return {
    n: lats.length,
    fails,
    p50_ms: pct(lats, 50),
    p90_ms: pct(lats, 90),
    p99_ms: pct(lats, 99),
    max_ms: lats.length ? Math.max(...lats) : null,
    mean_ms: mean,
    ops_per_s: lats.length / ((performance.now() - t0) / 1000),
  };
}

async function probe(c: { secs?: number; key?: string }) {
  const t0 = performance.now();
  let attempts = 0;
  while ((performance.now() - t0) / 1000 < (c.secs ?? 30)) {
    attempts++;
    const r = await new Promise<ResultReason | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), 250);
      kv.callWithCallback(
        kv._set,
        [c.key ?? '/bench/probe', newRecordDict('probe', Date.now() / 1000, undefined)],
        undefined,
        (_x, reason) => {
          clearTimeout(timer);
          resolve(reason);
        },
      );
    });
    if (r === FailReason.Success)
      return { ok: true, t_commit: performance.now() / 1000, attempts, leader: kv.getLeader() };
    await new Promise((res) => setTimeout(res, 10));
  }
  return { ok: false, attempts };
}

async function waitUntil<T>(secs: number, check: () => T | null): Promise<T | null> {
  const t0 = performance.now();
  while ((performance.now() - t0) / 1000 < secs) {
    const v = check();
    if (v !== null) return v;
    await new Promise((r) => setTimeout(r, 2));
  }
  return null;
}

reply({
  event: 'started',
  t_start: tStart / 1000,
  t_constructed: performance.now() / 1000,
  pid: process.pid,
});
const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  try {
    const c = JSON.parse(line) as { op: string } & Record<string, unknown>;
    switch (c.op) {
      case 'status':
        reply(status());
        break;
      case 'load':
        reply(await load(c as Parameters<typeof load>[0]));
        break;
      case 'sync':
        reply(await syncLat(c as Parameters<typeof syncLat>[0]));
        break;
      case 'probe':
        reply(await probe(c as Parameters<typeof probe>[0]));
        break;
      case 'wait_leader_change': {
        const r = await waitUntil((c.secs as number) ?? 30, () => {
          const l = kv.getLeader();
          return l !== null && l !== c.old ? { ok: true, t: performance.now() / 1000, leader: l } : null;
        });
        reply(r ?? { ok: false });
        break;
      }
      case 'wait_caught_up': {
        const r = await waitUntil((c.secs as number) ?? 120, () =>
          kv.size >= (c.keys as number) && kv.raftLastApplied >= (c.applied as number)
            ? { ok: true, t: performance.now() / 1000, nkeys: kv.size, applied: kv.raftLastApplied }
            : null,
        );
        reply(r ?? { ok: false, nkeys: kv.size, applied: kv.raftLastApplied });
        break;
      }
      case 'dump': {
        const out: Record<string, [string, number]> = {};
        for (const [k, r] of kv.getPrefix((c.prefix as string) ?? '')) out[k] = [r.value, r.index];
        reply({
          keys: out,
          applied: kv.raftLastApplied,
          commit: kv.raftCommitIndex,
          term: kv.raftCurrentTerm,
        });
        break;
      }
      case 'quit':
        reply({ bye: true });
        process.exit(0);
        break;
      default:
        reply({ error: `unknown op ${c.op}` });
    }
  } catch (e) {
    reply({ error: String(e) });
  }
}
process.exit(0);
