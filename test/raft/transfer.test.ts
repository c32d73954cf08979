/**
 * Leadership transfer in the pure core (Raft thesis §3.10, issue 14 item 2): the leader refuses new
 * proposals, brings the target's log up to its own, then sends it `timeout_now`; the target
 * campaigns at once with `transfer` on its vote requests, which raftdcs voters let past leader
 * stickiness; the leader gives up at the maximum election timeout. Only raftdcs targets (their
 * answers carry a term). The wire form of the two extensions is checked at the end.
 */
import { describe, expect, it } from 'vitest';
import type { CoreOutput, RaftCore } from '../../src/raft/core/core.js';
import { FailReason, type OutgoingMessage, RaftState } from '../../src/raft/core/types.js';
import { messageFromPy, messageToPy } from '../../src/raft/messages.js';
import { dict } from '../../src/wire/value.js';
import { simCommand } from '../sim/toy-commands.js';
import { drain, e, flush, node } from './core-helpers.js';

/** elections after 400 ms of silence, deadline of a transfer 401 ms */
const TIMING = { electionTimeoutMinMs: 400, electionTimeoutMaxMs: 401 } as const;

/**
 * `l:1` leading term 2 over a:1 and b:1 (elected at 510 ms by a's vote), its NO_OP at index 2;
 * `raftdcs` peers have answered the NO_OP's append with their term.
 */
function leader(raftdcs: readonly string[] = ['a:1', 'b:1']): RaftCore {
  const l = node('l:1', ['a:1', 'b:1'], [], 1, TIMING);
  l.peerConnected('a:1', false, 0);
  l.peerConnected('b:1', false, 0);
  l.tick(500);
  flush(l, 500);
  l.step('a:1', { type: 'response_vote', term: 2 }, 510);
  flush(l, 510);
  expect(l.role).toBe(RaftState.Leader);
  for (const p of raftdcs) ack(l, p, 3, 520);
  flush(l, 520);
  return l;
}

/** `from` acknowledges everything before `next`, as a raftdcs follower of term 2 does. */
function ack(l: RaftCore, from: string, next: number, now: number): void {
  l.step(from, { type: 'next_node_idx', nextNodeIdx: next, reset: false, success: true, term: 2 }, now);
}

const timeoutNows = (msgs: readonly OutgoingMessage[]) =>
  msgs.filter((m) => m.message.type === 'timeout_now');

/** Propose one command with `ref`; its outcome. */
function propose(c: RaftCore, ref: number, now: number): CoreOutput['proposals'][number] | undefined {
  c.propose(simCommand(100 + ref), ref, now);
  return drain(c)
    .flatMap((o) => o.proposals)
    .find((p) => p.ref === ref);
}

/** A follower `f:1` of `l:1` in term 2 (log [1, 2], heard from at 1000 ms), members l:1, r:1. */
function follower(): RaftCore {
  const f = node('f:1', ['l:1', 'r:1'], [e(2, 2)], 2, TIMING);
  f.peerConnected('l:1', false, 0);
  f.peerConnected('r:1', false, 0);
  f.step(
    'l:1',
    { type: 'append_entries', term: 2, commitIndex: 2, prevLogIdx: 2, prevLogTerm: 2, entries: [] },
    1000,
  );
  drain(f);
  expect(f.leader).toBe('l:1');
  return f;
}

const vote = (term: number, transfer: boolean) =>
  ({
    type: 'request_vote',
    term,
    lastLogIndex: 2,
    lastLogTerm: 2,
    ...(transfer ? { transfer } : {}),
  }) as const;

const grants = (outs: CoreOutput[]) =>
  outs.flatMap((o) => o.sendAfterPersist).filter((m) => m.message.type === 'response_vote');

describe('leadership transfer: the leader', () => {
  it('sends timeout_now at once to a caught-up target and refuses proposals with NOT_LEADER meanwhile', () => {
    const l = leader();
    expect(l.transferLeadership('a:1', 600)).toBeNull();
    expect(l.leadershipTransferTarget).toBe('a:1');
    const msgs = flush(l, 600);
    expect(timeoutNows(msgs)).toEqual([{ to: 'a:1', message: { type: 'timeout_now', term: 2 } }]);
    const before = l.status().lastIndex;
    expect(propose(l, 1, 610)).toEqual({ ref: 1, kind: 'failed', reason: FailReason.NotLeader });
    // a follower's forwarded command is refused the same way, on the wire
    l.step('b:1', { type: 'apply_command', command: simCommand(7), requestId: 9 }, 611);
    expect(flush(l, 611)).toContainEqual({
      to: 'b:1',
      message: { type: 'apply_command_response', requestId: 9, error: FailReason.NotLeader },
    });
    expect(l.status().lastIndex).toBe(before);
  });

  it("steps down and grants the target's flagged vote request although it still hears from a majority", () => {
    const l = leader();
    l.transferLeadership('a:1', 600);
    flush(l, 600);
    ack(l, 'b:1', 3, 620); // b answered just now: without the flag the request would be disregarded
    l.step('a:1', { type: 'request_vote', term: 3, lastLogIndex: 2, lastLogTerm: 2, transfer: true }, 630);
    const outs = drain(l);
    expect(l.role).toBe(RaftState.Follower);
    expect(l.currentTerm).toBe(3);
    expect(l.leadershipTransferTarget).toBeNull();
    // the vote leaves only after term and vote are durable
    expect(outs.find((o) => o.hardState)?.hardState).toEqual({ term: 3, votedFor: 'a:1' });
    expect(grants(outs)).toEqual([{ to: 'a:1', message: { type: 'response_vote', term: 3 } }]);
    expect(outs.flatMap((o) => o.send).some((m) => m.message.type === 'response_vote')).toBe(false);
    // the new leader's first append: this node follows it
    l.step(
      'a:1',
      { type: 'append_entries', term: 3, commitIndex: 2, prevLogIdx: 2, prevLogTerm: 2, entries: [] },
      640,
    );
    const events = drain(l).flatMap((o) => o.events);
    expect(events).toContainEqual({ type: 'leaderChanged', leader: 'a:1', term: 3 });
  });

  it('brings a target that is behind up to date first, then sends timeout_now', () => {
    const l = leader(['b:1']); // a has not answered the NO_OP's append yet...
    ack(l, 'a:1', 2, 530); // ...it answers an older one: it holds index 1 only
    flush(l, 530);
    for (const ref of [1, 2, 3]) expect(propose(l, ref, 540)?.kind).toBe('assigned');
    flush(l, 540);
    expect(l.status().lastIndex).toBe(5);
    expect(l.transferLeadership('a:1', 600)).toBeNull();
    expect(timeoutNows(flush(l, 600))).toEqual([]);
    ack(l, 'a:1', 4, 610); // part of it
    expect(timeoutNows(flush(l, 610))).toEqual([]);
    ack(l, 'a:1', 6, 620); // all of it
    expect(timeoutNows(flush(l, 620))).toEqual([{ to: 'a:1', message: { type: 'timeout_now', term: 2 } }]);
    ack(l, 'a:1', 6, 630); // sent once
    expect(timeoutNows(flush(l, 630))).toEqual([]);
  });

  it('sends timeout_now again after the connection to the target was replaced', () => {
    const l = leader();
    l.transferLeadership('a:1', 600);
    expect(timeoutNows(flush(l, 600))).toHaveLength(1);
    l.peerDisconnected('a:1', 610);
    l.peerConnected('a:1', false, 620);
    expect(timeoutNows(flush(l, 620))).toEqual([]); // not counted on the new connection yet
    ack(l, 'a:1', 3, 630);
    expect(timeoutNows(flush(l, 630))).toHaveLength(1);
  });

  it('gives up at the maximum election timeout and accepts proposals again', () => {
    const l = leader(['b:1']);
    ack(l, 'a:1', 2, 530);
    flush(l, 530);
    l.transferLeadership('a:1', 600);
    flush(l, 600);
    l.tick(1000); // 400 ms later: still running
    expect(l.leadershipTransferTarget).toBe('a:1');
    expect(l.nextDeadline()).toBeLessThanOrEqual(1001);
    expect(propose(l, 1, 1000)?.kind).toBe('failed');
    l.tick(1001);
    const events = drain(l).flatMap((o) => o.events);
    expect(events).toEqual([
      {
        type: 'transferAbandoned',
        target: 'a:1',
        reason:
          'leadership transfer to a:1 abandoned after 401 ms: it did not catch up (it holds 1 of 2 entries); this node leads on',
      },
    ]);
    expect(l.role).toBe(RaftState.Leader);
    expect(l.leadershipTransferTarget).toBeNull();
    expect(propose(l, 2, 1002)).toMatchObject({ ref: 2, kind: 'assigned', index: 3, term: 2 });
  });

  it('says so when the target was told to campaign but did not take over', () => {
    const l = leader();
    l.transferLeadership('a:1', 600);
    flush(l, 600);
    l.tick(1001);
    expect(drain(l).flatMap((o) => o.events)).toContainEqual({
      type: 'transferAbandoned',
      target: 'a:1',
      reason:
        'leadership transfer to a:1 abandoned after 401 ms: it was told to campaign but did not take over; this node leads on',
    });
  });

  it('refuses, with a reason and nothing changed: not leader, self, unknown, read-only, unconnected, busy', () => {
    const f = follower();
    expect(f.transferLeadership('r:1', 1100)).toEqual({
      code: 'not-leader',
      message: 'this node is not the leader; the leader is l:1',
    });
    const alone = node('z:1', ['y:1'], [], 1, TIMING);
    expect(alone.transferLeadership('y:1', 0)?.message).toBe(
      'this node is not the leader, and no leader is known',
    );

    const l = leader();
    l.peerConnected('ro-7', true, 530);
    flush(l, 530);
    expect(l.transferLeadership('l:1', 600)).toEqual({
      code: 'self',
      message: 'the target l:1 is this node, the leader already',
    });
    expect(l.transferLeadership('x:1', 600)).toEqual({
      code: 'unknown',
      message: 'the target x:1 is not a voting member of the cluster',
    });
    expect(l.transferLeadership('ro-7', 600)).toEqual({
      code: 'not-voter',
      message: 'the target ro-7 is a read-only node, not a voter',
    });
    l.peerDisconnected('b:1', 600);
    expect(l.transferLeadership('b:1', 600)).toEqual({
      code: 'not-connected',
      message: 'the target b:1 is not connected to the leader',
    });
    expect(l.leadershipTransferTarget).toBeNull();
    expect(propose(l, 1, 601)?.kind).toBe('assigned');
    expect(l.transferLeadership('a:1', 602)).toBeNull();
    expect(l.transferLeadership('a:1', 603)).toEqual({
      code: 'busy',
      message: 'a leadership transfer to a:1 is already running',
    });
  });

  it('refuses a pysyncobj target: its answers carry no term', () => {
    const l = leader(['a:1']);
    // b answers the NO_OP's append as pysyncobj 0.3.14 does: no term
    l.step('b:1', { type: 'next_node_idx', nextNodeIdx: 3, reset: false, success: true }, 610);
    flush(l, 610);
    expect(l.transferLeadership('b:1', 620)).toEqual({
      code: 'pysyncobj',
      message:
        'the target b:1 is a pysyncobj node (Patroni or patroni_raft_controller), which cannot take over on request',
    });
    expect(timeoutNows(flush(l, 620))).toEqual([]);
    expect(propose(l, 1, 621)?.kind).toBe('assigned');
  });

  it('a target not heard from on this connection yet: timeout_now waits for an answer with a term', () => {
    const l = leader(['a:1']);
    expect(l.transferLeadership('b:1', 600)).toBeNull();
    expect(timeoutNows(flush(l, 600))).toEqual([]);
    ack(l, 'b:1', 3, 610);
    expect(timeoutNows(flush(l, 610))).toEqual([{ to: 'b:1', message: { type: 'timeout_now', term: 2 } }]);
  });

  it('...and the transfer is abandoned at once when that first answer has no term (pysyncobj)', () => {
    const l = leader(['a:1']);
    expect(l.transferLeadership('b:1', 600)).toBeNull();
    flush(l, 600);
    l.step('b:1', { type: 'next_node_idx', nextNodeIdx: 3, reset: false, success: true }, 610);
    const outs = drain(l);
    expect(outs.flatMap((o) => o.events)).toEqual([
      {
        type: 'transferAbandoned',
        target: 'b:1',
        reason:
          'leadership transfer abandoned: the target b:1 is a pysyncobj node (Patroni or patroni_raft_controller), which cannot take over on request; this node leads on',
      },
    ]);
    expect(timeoutNows(outs.flatMap((o) => o.send))).toEqual([]);
    expect(l.leadershipTransferTarget).toBeNull();
    expect(propose(l, 1, 611)?.kind).toBe('assigned');
  });
});

describe('leadership transfer: the target and the voters', () => {
  it('the target campaigns at once on timeout_now from its leader, term and vote durable before the requests', () => {
    const f = follower();
    f.step('l:1', { type: 'timeout_now', term: 2 }, 1010); // long before its election timeout
    const outs = drain(f);
    expect(f.role).toBe(RaftState.Candidate);
    expect(f.currentTerm).toBe(3);
    expect(outs.find((o) => o.hardState)?.hardState).toEqual({ term: 3, votedFor: 'f:1' });
    expect(outs.flatMap((o) => o.send).some((m) => m.message.type === 'request_vote')).toBe(false);
    expect(outs.flatMap((o) => o.sendAfterPersist)).toEqual([
      {
        to: 'l:1',
        message: { type: 'request_vote', term: 3, lastLogIndex: 2, lastLogTerm: 2, transfer: true },
      },
      {
        to: 'r:1',
        message: { type: 'request_vote', term: 3, lastLogIndex: 2, lastLogTerm: 2, transfer: true },
      },
    ]);
  });

  it('ignores a stale timeout_now (an earlier term), one from a node it does not follow, and one as candidate', () => {
    const f = follower();
    f.step('l:1', { type: 'timeout_now', term: 1 }, 1010);
    f.step('r:1', { type: 'timeout_now', term: 2 }, 1011);
    f.step('l:1', { type: 'timeout_now', term: 3 }, 1012); // a term it is not in
    expect(drain(f).flatMap((o) => o.sendAfterPersist)).toEqual([]);
    expect(f.role).toBe(RaftState.Follower);
    expect(f.currentTerm).toBe(2);
    f.step('l:1', { type: 'timeout_now', term: 2 }, 1013);
    drain(f);
    f.step('l:1', { type: 'timeout_now', term: 2 }, 1014); // a duplicate: now of an older term
    expect(f.currentTerm).toBe(3);
    expect(drain(f)).toEqual([]);
  });

  it('a voter that hears from its leader grants a flagged request for the next term only', () => {
    const unflagged = follower();
    unflagged.step('r:1', vote(3, false), 1100);
    expect(grants(drain(unflagged))).toEqual([]);
    expect(unflagged.currentTerm).toBe(2);

    const ahead = follower();
    ahead.step('r:1', vote(4, true), 1100); // not the term after the leader's: no transfer of it
    expect(grants(drain(ahead))).toEqual([]);
    expect(ahead.currentTerm).toBe(2);

    const flagged = follower();
    flagged.step('r:1', vote(3, true), 1100);
    expect(grants(drain(flagged))).toEqual([{ to: 'r:1', message: { type: 'response_vote', term: 3 } }]);
    expect(flagged.currentTerm).toBe(3);
  });

  it('the flag does not bypass the log check or the one vote per term', () => {
    const f = follower();
    f.step('r:1', { type: 'request_vote', term: 3, lastLogIndex: 1, lastLogTerm: 0, transfer: true }, 1100);
    expect(grants(drain(f))).toEqual([]);
    const g = follower();
    g.step('l:1', vote(3, true), 1100);
    expect(grants(drain(g))).toHaveLength(1);
    g.step('r:1', vote(3, true), 1101);
    expect(grants(drain(g))).toEqual([]);
  });
});

describe('leadership transfer on the wire', () => {
  it('timeout_now and the transfer flag of request_vote as dicts; no flag, no key', () => {
    expect([...messageToPy({ type: 'timeout_now', term: 7 })]).toEqual([
      ['type', 'timeout_now'],
      ['term', 7],
    ]);
    expect(
      [...messageToPy({ type: 'request_vote', term: 3, lastLogIndex: 9, lastLogTerm: 2, transfer: true })].at(
        -1,
      ),
    ).toEqual(['transfer', true]);
    expect(
      [...messageToPy({ type: 'request_vote', term: 3, lastLogIndex: 9, lastLogTerm: 2 })].map(([k]) => k),
    ).toEqual(['type', 'term', 'last_log_index', 'last_log_term']);
    expect(
      messageFromPy(
        dict([
          ['type', 'timeout_now'],
          ['term', 7],
        ]),
      ),
    ).toEqual({ type: 'timeout_now', term: 7 });
    const rv = (extra: [string, boolean][]) =>
      messageFromPy(
        dict([['type', 'request_vote'], ['term', 3], ['last_log_index', 9], ['last_log_term', 2], ...extra]),
      );
    expect(rv([['transfer', true]])).toEqual({
      type: 'request_vote',
      term: 3,
      lastLogIndex: 9,
      lastLogTerm: 2,
      transfer: true,
    });
    expect(rv([['transfer', false]])).toEqual({
      type: 'request_vote',
      term: 3,
      lastLogIndex: 9,
      lastLogTerm: 2,
    });
    expect(rv([])).toEqual({ type: 'request_vote', term: 3, lastLogIndex: 9, lastLogTerm: 2 });
    // a raftdcs node without transfer support drops the message type it does not know
    expect(
      messageFromPy(
        dict([
          ['type', 'timeout_later'],
          ['term', 7],
        ]),
      ),
    ).toBeNull();
  });
});
