/**
 * Prometheus metrics of a running node (prom-client, a registry of its own — never the global
 * one), read from the node when scraped:
 *
 *   raftdcs_raft_term, raftdcs_raft_role{role}, raftdcs_raft_has_quorum,
 *   raftdcs_raft_commit_index, raftdcs_raft_applied_index, raftdcs_raft_log_entries,
 *   raftdcs_raft_voting_members, raftdcs_raft_connected_peers, raftdcs_raft_readonly_peers,
 *   raftdcs_raft_applied_entries_total (counter: rate() of it = proposals applied per second),
 *   raftdcs_kv_keys, raftdcs_build_info, plus prom-client's process_* / nodejs_* defaults.
 *
 *   raftdcs_journal_fsync_seconds (histogram of the journal's group-commit fdatasync latency).
 *
 *   raftdcs_live, raftdcs_ready (1/0: what GET /health and GET /readyz answer, ./health.ts),
 *   raftdcs_raft_apply_lag (entries the applied index trails the leader's commit index; NaN while
 *   that is unknown).
 *
 * Scraping must never change the node; it only reads.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { DEFAULT_READY_MAX_LAG } from '../config/controller-config.js';
import type { KVStoreTTL } from '../kv/kvstore-ttl.js';
import { RAFT_STATE_NAMES, RaftState } from '../raft/core/types.js';
import { PYSYNCOBJ_COMPAT_VERSION } from '../raft/syncobj.js';
import { type HealthSource, judgeHealth } from './health-facts.js';

/** What the metrics read from a node (KVStoreTTL has all of it). */
export type MetricsSource = HealthSource &
  Pick<
    KVStoreTTL,
    | 'raftCurrentTerm'
    | 'raftState'
    | 'hasQuorum'
    | 'raftCommitIndex'
    | 'raftLastApplied'
    | 'otherNodes'
    | 'readonlyNodes'
    | 'isNodeConnected'
    | 'getStatus'
    | 'size'
    | 'addFsyncListener'
  >;

/** `readyMaxLag`: the max_lag raftdcs_ready is judged with (default DEFAULT_READY_MAX_LAG). */
export function createMetrics(
  node: MetricsSource,
  version: string,
  readyMaxLag = DEFAULT_READY_MAX_LAG,
): Registry {
  const register = new Registry();
  const registers = [register];
  const gauge: GaugeOf = (name, help, read) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(read());
      },
    });
  // registration order is the order of the exposition
  gauge('raftdcs_raft_term', 'Current Raft term', () => node.raftCurrentTerm);
  addFsyncHistogram(node, registers);
  addRoleGauge(node, registers);
  addNodeGauges(node, gauge);
  addAppliedCounter(node, registers);
  addHealthGauges(node, gauge, readyMaxLag);
  new Gauge({
    name: 'raftdcs_build_info',
    help: 'raftdcs version and the pysyncobj version it speaks',
    labelNames: ['version', 'pysyncobj'],
    registers,
  }).set({ version, pysyncobj: PYSYNCOBJ_COMPAT_VERSION }, 1);
  collectDefaultMetrics({ register });
  return register;
}

/** Registers a gauge whose value is read at each scrape. */
type GaugeOf = (name: string, help: string, read: () => number) => Gauge;

/** raftdcs_journal_fsync_seconds, fed by the journal's fsync listener. */
function addFsyncHistogram(node: MetricsSource, registers: Registry[]): void {
  const fsync = new Histogram({
    name: 'raftdcs_journal_fsync_seconds',
    help: 'Latency of the journal group-commit fdatasync (entries and term/vote durable before acknowledging)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers,
  });
  node.addFsyncListener((seconds) => fsync.observe(seconds));
}

/** raftdcs_raft_role{role}: 1 for the current role, 0 for the others. */
function addRoleGauge(node: MetricsSource, registers: Registry[]): void {
  new Gauge({
    name: 'raftdcs_raft_role',
    help: 'Raft role of this node (1 for the current role)',
    labelNames: ['role'],
    registers,
    collect() {
      for (const state of Object.values(RaftState)) {
        this.set({ role: RAFT_STATE_NAMES[state] }, state === node.raftState ? 1 : 0);
      }
    },
  });
}

/** Quorum, indexes, log length, members, peers and keys. */
function addNodeGauges(node: MetricsSource, gauge: GaugeOf): void {
  gauge('raftdcs_raft_has_quorum', 'Whether this node sees a quorum of voting members (1/0)', () =>
    node.hasQuorum ? 1 : 0,
  );
  gauge('raftdcs_raft_commit_index', 'Highest log index known to be committed', () => node.raftCommitIndex);
  gauge(
    'raftdcs_raft_applied_index',
    'Highest log index applied to the state machine',
    () => node.raftLastApplied,
  );
  gauge('raftdcs_raft_log_entries', 'Entries held in the Raft log (pysyncobj log_len)', () => {
    const n = node.getStatus().log_len;
    return typeof n === 'number' ? n : 0;
  });
  gauge(
    'raftdcs_raft_voting_members',
    'Voting members including this node',
    () => node.otherNodes.length + 1,
  );
  gauge(
    'raftdcs_raft_connected_peers',
    'Other voting members this node is connected to',
    () => node.otherNodes.filter((n) => node.isNodeConnected(n)).length,
  );
  gauge('raftdcs_raft_readonly_peers', 'Connected read-only nodes', () => node.readonlyNodes.length);
  gauge('raftdcs_kv_keys', 'Keys held in the KV store', () => node.size);
}

/** raftdcs_raft_applied_entries_total: the growth of the applied index since start. */
function addAppliedCounter(node: MetricsSource, registers: Registry[]): void {
  let lastApplied = node.raftLastApplied;
  new Counter({
    name: 'raftdcs_raft_applied_entries_total',
    help: 'Log entries applied since start (a snapshot install counts the entries it covers)',
    registers,
    collect() {
      const now = node.raftLastApplied;
      if (now > lastApplied) this.inc(now - lastApplied);
      lastApplied = Math.max(lastApplied, now);
    },
  });
}

/** raftdcs_live, raftdcs_ready and raftdcs_raft_apply_lag, from one health reading per scrape. */
function addHealthGauges(node: MetricsSource, gauge: GaugeOf, readyMaxLag: number): void {
  gauge('raftdcs_live', 'Whether the node runs and its Raft loop ticks (1/0, as GET /health)', () =>
    judgeHealth(node, readyMaxLag).liveness.live ? 1 : 0,
  );
  gauge(
    'raftdcs_ready',
    'Whether the node has a leader in contact and is caught up (1/0, as GET /readyz)',
    () => (judgeHealth(node, readyMaxLag).readiness.ready ? 1 : 0),
  );
  gauge(
    'raftdcs_raft_apply_lag',
    "Entries the applied index trails the leader's commit index (NaN while unknown)",
    () => judgeHealth(node, readyMaxLag).readiness.lag ?? Number.NaN,
  );
}
