/**
 * The facts the health decision (./health.ts) is made from, read from a running node at one
 * moment (and both verdicts on one such reading), with the thresholds derived from its
 * configuration:
 *
 *   tick bound       max(1 s, 10 × autoTickPeriod): the loop ticks every autoTickPeriod (0.05 s)
 *                    or sooner, so a live loop stays far inside it, while a GC pause or a busy
 *                    core does not make the node look dead
 *   contact window   raftMaxTimeout (raft.max_timeout, 1.4 s by default): the longest a follower
 *                    waits for its leader before it campaigns itself, so a leader or a follower
 *                    silent for longer is in practice lost; heartbeats go every
 *                    appendEntriesPeriod (0.1 s), many times inside it
 *   max lag          given by the caller (`raftdcs.ready_max_lag`, `?max_lag=`; default
 *                    DEFAULT_READY_MAX_LAG in src/config/controller-config.ts)
 *
 * Reading must never change the node.
 */
import type { KVStoreTTL } from '../kv/kvstore-ttl.js';
import { RaftState } from '../raft/core/types.js';
import {
  type HealthFacts,
  judgeLiveness,
  judgeReadiness,
  type LivenessVerdict,
  type ReadinessVerdict,
} from './health.js';

/** The smallest tick bound (ms), and the bound in tick periods. */
const MIN_TICK_BOUND_MS = 1000;
const TICK_BOUND_PERIODS = 10;

const ROLES: Record<RaftState, HealthFacts['role']> = {
  [RaftState.Follower]: 'follower',
  [RaftState.Candidate]: 'candidate',
  [RaftState.Leader]: 'leader',
};

/** What the facts are read from (KVStoreTTL has all of it). */
export type HealthSource = Pick<
  KVStoreTTL,
  | 'conf'
  | 'liveness'
  | 'failure'
  | 'selfNode'
  | 'selfRemoved'
  | 'raftState'
  | 'getLeader'
  | 'otherNodes'
  | 'raftLastApplied'
  | 'raftLeaderCommitIndex'
  | 'isReady'
  | 'isNodeConnected'
>;

export function healthFacts(node: HealthSource, maxLag: number): HealthFacts {
  const l = node.liveness();
  const heardAgoMs = new Map<string, number>();
  for (const [peer, at] of l.lastHeardMs) heardAgoMs.set(peer, l.nowMs - at);
  const conf = node.conf.values;
  const leader = node.getLeader();
  return {
    failure: node.failure?.message ?? null,
    lastTickAgoMs: l.lastTickMs === null ? null : l.nowMs - l.lastTickMs,
    uptimeMs: l.nowMs - l.sinceMs,
    tickBoundMs: Math.max(MIN_TICK_BOUND_MS, TICK_BOUND_PERIODS * conf.autoTickPeriod * 1000),
    self: node.selfNode,
    removed: node.selfRemoved,
    role: ROLES[node.raftState],
    leader,
    voters: node.otherNodes,
    heardAgoMs,
    leaderConnected: leader !== null && leader !== node.selfNode && node.isNodeConnected(leader),
    contactWindowMs: conf.raftMaxTimeout * 1000,
    applied: node.raftLastApplied,
    leaderCommit: node.raftLeaderCommitIndex,
    caughtUpOnce: node.isReady(),
    maxLag,
  };
}

/** Both verdicts from one reading of the node's facts. */
export function judgeHealth(
  node: HealthSource,
  maxLag: number,
): { liveness: LivenessVerdict; readiness: ReadinessVerdict } {
  const facts = healthFacts(node, maxLag);
  return { liveness: judgeLiveness(facts), readiness: judgeReadiness(facts) };
}
