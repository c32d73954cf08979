/**
 * The pure health decision (src/cli/health.ts): facts in, the /health and /readyz verdicts out —
 * which check fails in each state, the reasons a human reads, and the boundaries (tick bound,
 * contact window, max_lag, majority).
 */
import { describe, expect, it } from 'vitest';
import { type HealthFacts, judgeLiveness, judgeReadiness } from '../../src/cli/health.js';

const A = '10.0.0.1:2222';
const B = '10.0.0.2:2222';
const C = '10.0.0.3:2222';

/** A follower of A, heard 50 ms ago, caught up: ready. */
function facts(over: Partial<HealthFacts> = {}): HealthFacts {
  return {
    failure: null,
    lastTickAgoMs: 20,
    uptimeMs: 60_000,
    tickBoundMs: 1000,
    self: B,
    removed: false,
    role: 'follower',
    leader: A,
    voters: [A, C],
    heardAgoMs: new Map([
      [A, 50],
      [C, 3000],
    ]),
    leaderConnected: true,
    contactWindowMs: 1400,
    applied: 100,
    leaderCommit: 100,
    caughtUpOnce: true,
    maxLag: 1000,
    ...over,
  };
}

/** A leader of three (self A), both followers heard recently. */
function leaderFacts(over: Partial<HealthFacts> = {}): HealthFacts {
  return facts({
    self: A,
    role: 'leader',
    leader: A,
    voters: [B, C],
    heardAgoMs: new Map([
      [B, 30],
      [C, 90],
    ]),
    ...over,
  });
}

describe('judgeLiveness', () => {
  it('live while the loop ticks within the bound', () => {
    expect(judgeLiveness(facts())).toEqual({
      status: 'live',
      live: true,
      last_tick_ms_ago: 20,
      tick_bound_ms: 1000,
      reasons: [],
    });
    expect(judgeLiveness(facts({ lastTickAgoMs: 1000 })).live).toBe(true);
  });

  it('not live when the last tick is older than the bound', () => {
    const v = judgeLiveness(facts({ lastTickAgoMs: 2345.4 }));
    expect(v).toMatchObject({ status: 'not live', live: false, last_tick_ms_ago: 2345 });
    expect(v.reasons).toEqual(['the Raft loop last ticked 2345 ms ago (bound 1000 ms)']);
  });

  it('before the first tick: live during the bound after start, then not', () => {
    expect(judgeLiveness(facts({ lastTickAgoMs: null, uptimeMs: 300 }))).toMatchObject({
      live: true,
      last_tick_ms_ago: null,
    });
    expect(judgeLiveness(facts({ lastTickAgoMs: null, uptimeMs: 5000 })).reasons).toEqual([
      'the Raft loop has not ticked since the node started 5000 ms ago (bound 1000 ms)',
    ]);
  });

  it('not live after a fatal error, whatever the ticks say', () => {
    const v = judgeLiveness(facts({ failure: 'cannot apply VERSION 3' }));
    expect(v.live).toBe(false);
    expect(v.reasons).toEqual(['the Raft node stopped on a fatal error: cannot apply VERSION 3']);
  });
});

describe('judgeReadiness', () => {
  it('a follower that hears its leader and is caught up is ready', () => {
    expect(judgeReadiness(facts())).toEqual({
      status: 'ready',
      ready: true,
      role: 'follower',
      leader: A,
      checks: { ticking: true, member: true, leader: true, contact: true, caught_up: true },
      lag: 0,
      max_lag: 1000,
      applied: 100,
      leader_commit: 100,
      contact: { as: 'follower', window_ms: 1400, leader_last_heard_ms_ago: 50 },
      reasons: [],
    });
  });

  it('a follower without a leader: only the leader check speaks (no contact reason)', () => {
    const v = judgeReadiness(facts({ leader: null, heardAgoMs: new Map() }));
    expect(v.ready).toBe(false);
    expect(v.status).toBe('not ready');
    expect(v.checks).toEqual({ ticking: true, member: true, leader: false, contact: false, caught_up: true });
    expect(v.reasons).toEqual(['no leader known']);
    expect(v.contact).toEqual({ as: 'follower', window_ms: 1400, leader_last_heard_ms_ago: null });
    expect(judgeReadiness(facts({ role: 'candidate', leader: null })).reasons).toEqual([
      'no leader known: an election is under way',
    ]);
  });

  it('a follower whose leader went silent: contact fails past the window, not at it', () => {
    expect(judgeReadiness(facts({ heardAgoMs: new Map([[A, 1400]]) })).ready).toBe(true);
    const v = judgeReadiness(facts({ heardAgoMs: new Map([[A, 1401]]) }));
    expect(v.checks.contact).toBe(false);
    expect(v.reasons).toEqual([`the leader ${A} was last heard from 1401 ms ago (bound 1400 ms)`]);
    const never = judgeReadiness(facts({ heardAgoMs: new Map([[C, 10]]) }));
    expect(never.reasons).toEqual([`nothing heard from the leader ${A} since connecting to it`]);
    const gone = judgeReadiness(facts({ heardAgoMs: new Map(), leaderConnected: false }));
    expect(gone.reasons).toEqual([`not connected to the leader ${A}`]);
  });

  it('a leader needs a majority of voters, itself included, heard within the window', () => {
    expect(judgeReadiness(leaderFacts())).toMatchObject({
      ready: true,
      role: 'leader',
      contact: { as: 'leader', window_ms: 1400, voters: 3, heard: 3, majority: 2 },
    });
    // one follower silent: 2 of 3 is still a majority
    expect(judgeReadiness(leaderFacts({ heardAgoMs: new Map([[B, 30]]) })).ready).toBe(true);
    // both silent (one too long ago, one never): 1 of 3
    const v = judgeReadiness(leaderFacts({ heardAgoMs: new Map([[B, 1500]]) }));
    expect(v.ready).toBe(false);
    expect(v.checks.contact).toBe(false);
    expect(v.contact).toMatchObject({ voters: 3, heard: 1, majority: 2 });
    expect(v.reasons).toEqual([
      'leading without a quorum: heard from 1 of 3 voters (this node included) in the last 1400 ms, a majority is 2',
    ]);
  });

  it('a lone leader is its own majority; of four voters a leader needs three', () => {
    expect(judgeReadiness(leaderFacts({ voters: [], heardAgoMs: new Map() })).ready).toBe(true);
    const four = leaderFacts({ voters: [B, C, '10.0.0.4:2222'] });
    expect(judgeReadiness(four).contact).toMatchObject({ voters: 4, heard: 3, majority: 3 });
    expect(judgeReadiness(four).ready).toBe(true);
    expect(judgeReadiness({ ...four, heardAgoMs: new Map([[B, 1]]) }).ready).toBe(false);
  });

  it('lag: at max_lag ready, one more not; never negative; unknown leader commit fails', () => {
    expect(judgeReadiness(facts({ applied: 100, leaderCommit: 1100 }))).toMatchObject({
      ready: true,
      lag: 1000,
    });
    const behind = judgeReadiness(facts({ applied: 100, leaderCommit: 1101 }));
    expect(behind).toMatchObject({ ready: false, lag: 1001 });
    expect(behind.reasons).toEqual([
      "applied index 100 is 1001 entries behind the leader's commit index 1101 (max_lag 1000)",
    ]);
    expect(judgeReadiness(facts({ maxLag: 0, applied: 99 })).ready).toBe(false);
    expect(judgeReadiness(facts({ applied: 105, leaderCommit: 100 })).lag).toBe(0);
    const unknown = judgeReadiness(facts({ leaderCommit: null }));
    expect(unknown).toMatchObject({ ready: false, lag: null, leader_commit: null });
    expect(unknown.reasons).toEqual(["the leader's commit index is not known yet"]);
  });

  it('a node that has not caught up once since start is not ready, even within max_lag', () => {
    const v = judgeReadiness(facts({ caughtUpOnce: false, applied: 90 }));
    expect(v.checks.caught_up).toBe(false);
    expect(v.reasons).toEqual([
      "not caught up with the leader's log since start yet (applied 90, leader commit 100)",
    ]);
  });

  it('a removed voter is not a member; a read-only node is ready with a leader it hears', () => {
    const removed = judgeReadiness(facts({ removed: true }));
    expect(removed.checks.member).toBe(false);
    expect(removed.reasons).toEqual(['this node was removed from the cluster']);
    expect(judgeReadiness(facts({ self: null, removed: true })).ready).toBe(true);
    expect(judgeReadiness(facts({ self: null, leader: null })).reasons).toEqual(['no leader known']);
  });

  it('a stalled loop is not ready either; every failed check has its reason, in order', () => {
    const v = judgeReadiness(
      facts({ lastTickAgoMs: 5000, removed: true, heardAgoMs: new Map(), caughtUpOnce: false }),
    );
    expect(v.checks).toEqual({
      ticking: false,
      member: false,
      leader: true,
      contact: false,
      caught_up: false,
    });
    expect(v.reasons).toEqual([
      'the Raft loop last ticked 5000 ms ago (bound 1000 ms)',
      'this node was removed from the cluster',
      `nothing heard from the leader ${A} since connecting to it`,
      "not caught up with the leader's log since start yet (applied 100, leader commit 100)",
    ]);
  });
});
