/**
 * The controller's health decision: from the facts of a node at one moment (./health-facts.ts),
 * is it live (GET /health) and is it ready (GET /readyz)? Each verdict is the JSON body the HTTP
 * endpoint sends; `live` / `ready` alone decide the status code (200 or 503), and `reasons` says in
 * words what failed, so a load balancer can use the code and a human the text.
 *
 * Live: the node has not stopped on a fatal error and its Raft loop ticked within the tick bound.
 *
 * Ready, every check of:
 *   ticking    live, as above (a stalled loop's facts are stale)
 *   member     a voter that was not removed from the cluster (a read-only node always passes)
 *   leader     a leader is known
 *   contact    leading: a majority of the voters (this node included) sent a message within the
 *              contact window; following (voter or read-only): the leader did
 *   caught_up  the node caught up with the leader's log once since it started (pysyncobj's
 *              onReady) and its applied index is at most `max_lag` behind the leader's commit index
 *
 * Pure: no clock, no I/O; must never throw on any facts.
 */

/** What the decision is made from. Times are milliseconds on the node's monotonic clock. */
export interface HealthFacts {
  /** the error that stopped the node, or null while it runs */
  readonly failure: string | null;
  /** time since the last tick, or null before the first */
  readonly lastTickAgoMs: number | null;
  /** time since the node was created (the tick age before the first tick) */
  readonly uptimeMs: number;
  /** the longest tick age of a live node */
  readonly tickBoundMs: number;
  /** this node's address; null for a read-only node */
  readonly self: string | null;
  /** a voter that applied its own removal */
  readonly removed: boolean;
  readonly role: 'follower' | 'candidate' | 'leader';
  readonly leader: string | null;
  /** the other voting members */
  readonly voters: readonly string[];
  /** time since each connected peer last sent a Raft message (peers never heard from: absent) */
  readonly heardAgoMs: ReadonlyMap<string, number>;
  /** whether the connection to the leader is up (false without a leader) */
  readonly leaderConnected: boolean;
  /** how recent "recently heard from" is */
  readonly contactWindowMs: number;
  /** the last index applied here */
  readonly applied: number;
  /** the leader's commit index as this node knows it (its own while leading), or null */
  readonly leaderCommit: number | null;
  /** caught up with the leader's commit index at least once since start (pysyncobj onReady) */
  readonly caughtUpOnce: boolean;
  /** the largest `leaderCommit - applied` of a ready node */
  readonly maxLag: number;
}

/** GET /health */
export interface LivenessVerdict {
  readonly status: 'live' | 'not live';
  readonly live: boolean;
  /** null before the first tick */
  readonly last_tick_ms_ago: number | null;
  readonly tick_bound_ms: number;
  readonly reasons: string[];
}

export interface ReadinessChecks {
  readonly ticking: boolean;
  readonly member: boolean;
  readonly leader: boolean;
  readonly contact: boolean;
  readonly caught_up: boolean;
}

/** What `contact` was judged on. */
export type ContactDetail =
  | {
      readonly as: 'leader';
      readonly window_ms: number;
      /** voting members, this node included */
      readonly voters: number;
      /** of them heard within the window, this node included */
      readonly heard: number;
      readonly majority: number;
    }
  | {
      readonly as: 'follower';
      readonly window_ms: number;
      /** null: nothing heard from the leader since connecting to it, not connected, or no leader */
      readonly leader_last_heard_ms_ago: number | null;
    };

/** GET /readyz */
export interface ReadinessVerdict {
  readonly status: 'ready' | 'not ready';
  readonly ready: boolean;
  readonly role: HealthFacts['role'];
  readonly leader: string | null;
  readonly checks: ReadinessChecks;
  /** `leader_commit - applied` (never negative), or null while the leader's commit index is unknown */
  readonly lag: number | null;
  readonly max_lag: number;
  readonly applied: number;
  readonly leader_commit: number | null;
  readonly contact: ContactDetail;
  /** one sentence per failed check, in the order of `checks` */
  readonly reasons: string[];
}

export function judgeLiveness(f: HealthFacts): LivenessVerdict {
  const reason = tickingProblem(f);
  const live = reason === null;
  return {
    status: live ? 'live' : 'not live',
    live,
    last_tick_ms_ago: f.lastTickAgoMs === null ? null : ms(f.lastTickAgoMs),
    tick_bound_ms: ms(f.tickBoundMs),
    reasons: reason === null ? [] : [reason],
  };
}

export function judgeReadiness(f: HealthFacts): ReadinessVerdict {
  const reasons: string[] = [];
  const fail = (problem: string | null): boolean => {
    if (problem !== null) reasons.push(problem);
    return problem === null;
  };
  const ticking = fail(tickingProblem(f));
  const member = fail(f.self !== null && f.removed ? 'this node was removed from the cluster' : null);
  const leader = fail(f.leader !== null ? null : noLeader(f.role));
  const { detail, problem } = judgeContact(f);
  // with no leader there is nobody to be in contact with: the leader check already said so
  const contact = f.leader !== null && fail(problem);
  const lag = f.leaderCommit === null ? null : Math.max(0, f.leaderCommit - f.applied);
  const caughtUp = fail(caughtUpProblem(f, lag));
  const checks = { ticking, member, leader, contact, caught_up: caughtUp };
  const ready = ticking && member && leader && contact && caughtUp;
  return {
    status: ready ? 'ready' : 'not ready',
    ready,
    role: f.role,
    leader: f.leader,
    checks,
    lag,
    max_lag: f.maxLag,
    applied: f.applied,
    leader_commit: f.leaderCommit,
    contact: detail,
    reasons,
  };
}

function tickingProblem(f: HealthFacts): string | null {
  if (f.failure !== null) return `the Raft node stopped on a fatal error: ${f.failure}`;
  const bound = ms(f.tickBoundMs);
  if (f.lastTickAgoMs === null) {
    return f.uptimeMs > f.tickBoundMs
      ? `the Raft loop has not ticked since the node started ${ms(f.uptimeMs)} ms ago (bound ${bound} ms)`
      : null;
  }
  return f.lastTickAgoMs > f.tickBoundMs
    ? `the Raft loop last ticked ${ms(f.lastTickAgoMs)} ms ago (bound ${bound} ms)`
    : null;
}

function noLeader(role: HealthFacts['role']): string {
  return role === 'candidate' ? 'no leader known: an election is under way' : 'no leader known';
}

function judgeContact(f: HealthFacts): { detail: ContactDetail; problem: string | null } {
  const window = ms(f.contactWindowMs);
  const recent = (peer: string): number | null => {
    const ago = f.heardAgoMs.get(peer);
    return ago === undefined ? null : ago;
  };
  if (f.role === 'leader') {
    const voters = f.voters.length + 1;
    const heard =
      1 + f.voters.filter((v) => (recent(v) ?? Number.POSITIVE_INFINITY) <= f.contactWindowMs).length;
    const majority = Math.floor(voters / 2) + 1;
    return {
      detail: { as: 'leader', window_ms: window, voters, heard, majority },
      problem:
        heard >= majority
          ? null
          : `leading without a quorum: heard from ${heard} of ${voters} voters (this node included) in the last ${window} ms, a majority is ${majority}`,
    };
  }
  const ago = f.leader === null ? null : recent(f.leader);
  const detail: ContactDetail = {
    as: 'follower',
    window_ms: window,
    leader_last_heard_ms_ago: ago === null ? null : ms(ago),
  };
  if (f.leader === null) return { detail, problem: null };
  if (ago === null) {
    const problem = f.leaderConnected
      ? `nothing heard from the leader ${f.leader} since connecting to it`
      : `not connected to the leader ${f.leader}`;
    return { detail, problem };
  }
  return {
    detail,
    problem:
      ago <= f.contactWindowMs
        ? null
        : `the leader ${f.leader} was last heard from ${ms(ago)} ms ago (bound ${window} ms)`,
  };
}

function caughtUpProblem(f: HealthFacts, lag: number | null): string | null {
  if (lag === null) return "the leader's commit index is not known yet";
  if (!f.caughtUpOnce) {
    return `not caught up with the leader's log since start yet (applied ${f.applied}, leader commit ${f.leaderCommit})`;
  }
  if (lag > f.maxLag) {
    return `applied index ${f.applied} is ${lag} entries behind the leader's commit index ${f.leaderCommit} (max_lag ${f.maxLag})`;
  }
  return null;
}

/** Whole milliseconds for the JSON body. */
function ms(value: number): number {
  return Math.round(value);
}
