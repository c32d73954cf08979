/**
 * Cluster scenarios run the same way on raftdcs and on the Python original (its node mode in
 * bench/python/pysyncobj_baseline.py speaks the same line protocol as bench/node.ts):
 * restart time with many keys, catch-up of a wiped follower and of a new member, memory per key
 * count, leader failover, and raftdcs's throughput with fsync always vs never.
 */
import { BenchCluster, type Impl, rssMiB } from './cluster.js';

type Json = Record<string, unknown>;

async function loadKeys(c: BenchCluster, leader: string, count: number): Promise<void> {
  const r = await c.nodes.get(leader)!.cmd(
    {
      op: 'load',
      prefix: '/bench/m',
      count,
      secs: 600,
      inflight: 1000,
      valsize: 100,
      keyspace: 0,
      retry: true,
    },
    900_000,
  );
  if ((r.unfinished_keys as number) > 0) throw new Error(`load did not finish: ${JSON.stringify(r)}`);
}

export interface RestartJoinResult {
  readonly impl: Impl;
  readonly keys: number;
  readonly rssMiB: Record<string, (number | null)[]>;
  /** kill -9 of a follower, restart on its data dir, until it holds every key and applied the leader's commit */
  readonly restartSeconds: number | null;
  /** a follower restarted with an empty data dir, until caught up */
  readonly wipedFollowerSeconds: number | null;
  /** a brand-new member (discovery + add) until caught up */
  readonly newMemberSeconds: number | null;
}

function extraArgs(impl: Impl): string[] {
  return impl === 'ts' ? ['--journal', 'file', '--fsync', 'always'] : [];
}

export async function benchRestartJoin(
  impl: Impl,
  keys: number,
  log: (s: string) => void,
): Promise<RestartJoinResult> {
  const c = new BenchCluster(extraArgs(impl), impl);
  await c.init(3);
  const rss: Record<string, (number | null)[]> = {};
  const snap = (label: string) => {
    rss[label] = c.addrs.map((a) => rssMiB(c.nodes.get(a)?.proc.pid));
    log(
      `  [${impl} mem] ${label}: RSS ${rss[label]!.map((x) => (x === null ? 'n/a' : `${x.toFixed(1)} MiB`)).join(', ')}`,
    );
  };
  try {
    let leader = await c.start();
    await new Promise((r) => setTimeout(r, 1000));
    snap('0 keys');
    await loadKeys(c, leader, Math.min(10_000, keys));
    await c.waitAllApplied(300_000);
    snap('10k keys');
    if (keys > 10_000) {
      await loadKeys(c, leader, keys);
      leader = await c.waitLeader(60_000);
      await c.waitAllApplied(300_000);
      snap(`${keys / 1000}k keys`);
    }
    const st = await c.statuses();
    const target = st.get(leader)!;
    const follower = c.addrs.find((a) => a !== leader)!;
    const timeCatchUp = async (addr: string, partners: string[], wipe: boolean): Promise<number | null> => {
      const t0 = performance.now();
      const n = await c.startNode(addr, partners, wipe);
      const r = await n.cmd(
        { op: 'wait_caught_up', keys: target.nkeys, applied: target.commit, secs: 300 },
        320_000,
      );
      return r.ok ? (performance.now() - t0) / 1000 : null;
    };
    // restart with data
    c.nodes.get(follower)!.kill9();
    await new Promise((r) => setTimeout(r, 500));
    const restartSeconds = await timeCatchUp(
      follower,
      c.addrs.filter((a) => a !== follower),
      false,
    );
    log(
      `  [${impl} restart] follower kill -9 + restart with ${target.nkeys} keys: caught up after ${restartSeconds?.toFixed(2) ?? 'FAILED'} s`,
    );
    // wiped follower
    c.nodes.get(follower)!.kill9();
    await new Promise((r) => setTimeout(r, 500));
    const wipedFollowerSeconds = await timeCatchUp(
      follower,
      c.addrs.filter((a) => a !== follower),
      true,
    );
    log(
      `  [${impl} join] wiped follower with ${target.nkeys} keys: caught up after ${wipedFollowerSeconds?.toFixed(2) ?? 'FAILED'} s`,
    );
    // new member
    const fresh = c.spare[0]!;
    const newMemberSeconds = await timeCatchUp(fresh, c.addrs, true);
    log(
      `  [${impl} join] new member (discovery + add) with ${target.nkeys} keys: caught up after ${newMemberSeconds?.toFixed(2) ?? 'FAILED'} s`,
    );
    return { impl, keys, rssMiB: rss, restartSeconds, wipedFollowerSeconds, newMemberSeconds };
  } finally {
    await c.destroy();
  }
}

export interface FailoverResult {
  readonly impl: Impl;
  readonly firstCommitSeconds: number[];
  readonly median: number | null;
}

export async function benchFailover(
  impl: Impl,
  trials: number,
  log: (s: string) => void,
): Promise<FailoverResult> {
  const c = new BenchCluster(extraArgs(impl), impl);
  await c.init(3);
  const times: number[] = [];
  try {
    let leader = await c.start();
    await new Promise((r) => setTimeout(r, 1000));
    for (let t = 0; t < trials; t++) {
      await c.nodes
        .get(leader)!
        .cmd(
          { op: 'load', prefix: '/bench/fo', count: 200, secs: 5, inflight: 50, valsize: 100, keyspace: 0 },
          60_000,
        );
      await c.waitAllApplied(30_000);
      const survivors = c.addrs.filter((a) => a !== leader).map((a) => c.nodes.get(a)!);
      const t0 = performance.now();
      c.nodes.get(leader)!.kill9();
      let first: number | null = null;
      const probes = survivors.map((n) =>
        n.cmd({ op: 'probe', secs: 30, key: `/bench/probe${t}` }, 40_000).then((p) => {
          if (p.ok && first === null) first = (performance.now() - t0) / 1000;
          return p;
        }),
      );
      await Promise.all(probes);
      if (first === null) {
        log(`  [${impl} failover] trial ${t}: no commit within 30 s`);
        break;
      }
      times.push(first);
      const old = leader;
      await c.startNode(
        old,
        c.addrs.filter((a) => a !== old),
      );
      leader = await c.waitLeader(60_000);
      await c.waitAllApplied(60_000);
    }
  } finally {
    await c.destroy();
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted.length ? (sorted[Math.floor(sorted.length / 2)] as number) : null;
  log(
    `  [${impl} failover] leader kill -9 → first commit: ${times.map((x) => x.toFixed(2)).join(', ')} s (median ${median?.toFixed(2)})`,
  );
  return { impl, firstCommitSeconds: times, median };
}

export async function benchThroughputFsync(
  fsync: 'always' | 'never',
  secs: number,
  log: (s: string) => void,
): Promise<Json> {
  const c = new BenchCluster(['--journal', 'file', '--fsync', fsync]);
  await c.init(3);
  try {
    const leader = await c.start();
    const L = c.nodes.get(leader)!;
    await new Promise((r) => setTimeout(r, 500));
    await L.cmd(
      { op: 'load', prefix: '/bench/w', count: 2000, secs: 5, inflight: 1000, valsize: 100, keyspace: 1000 },
      120_000,
    );
    const r = await L.cmd(
      { op: 'load', prefix: '/bench/t', count: 1e9, secs, inflight: 1000, valsize: 100, keyspace: 10000 },
      (secs + 200) * 1000,
    );
    log(
      `  [ts tput file journal, fsync ${fsync}] ${Number(r.ops_per_s).toFixed(0)} ops/s (ok=${r.ok} err=${r.err})`,
    );
    return r;
  } finally {
    await c.destroy();
  }
}
