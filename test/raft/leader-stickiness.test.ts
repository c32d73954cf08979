/**
 * Raft §6: a node that hears from a current leader disregards vote requests, so a member removed
 * while it was behind (it never learns of its removal and campaigns with ever higher terms) or a node
 * cut off from the leader cannot depose a leader that still reaches a majority. Found by the
 * simulator (membership churn: the removed spare kept bumping the term and no leader lasted).
 */
import { describe, expect, it } from 'vitest';
import { RaftState } from '../../src/raft/core/types.js';
import { drain, e, node } from './core-helpers.js';

const vote = (term: number, lastLogIndex: number, lastLogTerm: number) =>
  ({ type: 'request_vote', term, lastLogIndex, lastLogTerm }) as const;

const votesSent = (outs: ReturnType<typeof drain>) =>
  outs.flatMap((o) => o.sendAfterPersist).filter((m) => m.message.type === 'response_vote');

describe('leader stickiness (Raft §6)', () => {
  it('a follower that heard from its leader within the minimum election timeout ignores a vote request', () => {
    const f = node('f:1', ['l:1', 'r:1'], [e(2, 1)], 1);
    f.step(
      'l:1',
      { type: 'append_entries', term: 1, commitIndex: 2, prevLogIdx: 2, prevLogTerm: 1, entries: [] },
      1000,
    );
    drain(f);
    f.step('r:1', vote(5, 9, 1), 1100); // a removed member with a longer log and a higher term
    const outs = drain(f);
    expect(votesSent(outs)).toHaveLength(0);
    expect(f.currentTerm).toBe(1);
    expect(f.leader).toBe('l:1');
  });

  it('once the leader has been silent for the minimum election timeout, the request is granted', () => {
    const f = node('f:1', ['l:1', 'r:1'], [e(2, 1)], 1);
    f.step(
      'l:1',
      { type: 'append_entries', term: 1, commitIndex: 2, prevLogIdx: 2, prevLogTerm: 1, entries: [] },
      1000,
    );
    drain(f);
    f.step('r:1', vote(5, 9, 1), 1000 + 400);
    expect(votesSent(drain(f))).toHaveLength(1);
    expect(f.currentTerm).toBe(5);
  });

  it('a leader that heard from a majority recently keeps leading through a higher-term request', () => {
    const l = node('l:1', ['a:1', 'b:1'], [], 1, { electionTimeoutMinMs: 400, electionTimeoutMaxMs: 401 });
    l.peerConnected('a:1', false, 0);
    l.peerConnected('b:1', false, 0);
    l.tick(500); // campaign for term 2
    drain(l);
    l.step('a:1', { type: 'response_vote', term: 2 }, 510);
    drain(l);
    expect(l.role).toBe(RaftState.Leader);
    l.step('a:1', { type: 'next_node_idx', nextNodeIdx: 3, reset: false, success: true, term: 2 }, 600);
    drain(l);
    l.step('r:1', vote(9, 50, 2), 700);
    expect(l.role).toBe(RaftState.Leader);
    expect(l.currentTerm).toBe(2);
    expect(votesSent(drain(l))).toHaveLength(0);
  });
});
