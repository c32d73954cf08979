/**
 * Voting nodes outside our membership (the transport accepts their connections, so that a member
 * whose log ends before the entry that added a node can follow that node once it leads): the core
 * follows a leader of a current term whoever it is, grants a non-member no vote (a removed member
 * must not disrupt us), and sends a non-member nothing but replies. Found by the simulator
 * (membership churn: a lagging member refused the connection of a leader added after its log ended
 * and never caught up). A non-member leader of a past term is answered with a vote request at our
 * term as well, the one message a pysyncobj leader adopts a term from (chaos seed 12013).
 */
import { describe, expect, it } from 'vitest';
import { RaftState } from '../../src/raft/core/types.js';
import { drain, e, node } from './core-helpers.js';

const vote = (term: number, lastLogIndex: number, lastLogTerm: number) =>
  ({ type: 'request_vote', term, lastLogIndex, lastLogTerm }) as const;

const sent = (outs: ReturnType<typeof drain>) => outs.flatMap((o) => [...o.send, ...o.sendAfterPersist]);

describe('voting nodes outside our membership', () => {
  it("a non-member's vote request is not granted and does not move our term", () => {
    const f = node('f:1', ['a:1', 'b:1'], [e(2, 1)], 1);
    f.peerConnected('x:1', false, 0);
    f.step('x:1', vote(5, 9, 1), 5000); // no leader heard from: only membership can refuse it
    const outs = drain(f);
    expect(sent(outs)).toHaveLength(0);
    expect(f.currentTerm).toBe(1);
    expect(outs.some((o) => o.hardState !== undefined)).toBe(false);
  });

  it('the same request from a member is granted (control)', () => {
    const f = node('f:1', ['a:1', 'b:1'], [e(2, 1)], 1);
    f.peerConnected('a:1', false, 0);
    f.step('a:1', vote(5, 9, 1), 5000);
    expect(sent(drain(f)).filter((m) => m.to === 'a:1' && m.message.type === 'response_vote')).toHaveLength(
      1,
    );
    expect(f.currentTerm).toBe(5);
  });

  it('a follower follows a non-member leader of a current term and answers only it', () => {
    // our log ends before the entry that added x:1; x:1 now leads term 3
    const f = node('f:1', ['a:1', 'b:1'], [e(2, 1)], 1);
    f.peerConnected('a:1', false, 0);
    f.peerConnected('x:1', false, 0);
    f.step(
      'x:1',
      {
        type: 'append_entries',
        term: 3,
        commitIndex: 3,
        prevLogIdx: 2,
        prevLogTerm: 1,
        entries: [e(3, 3)],
      },
      100,
    );
    const outs = drain(f);
    expect(f.role).toBe(RaftState.Follower);
    expect(f.leader).toBe('x:1');
    expect(f.currentTerm).toBe(3);
    const msgs = sent(outs);
    expect(msgs.length).toBeGreaterThan(0);
    expect(msgs.every((m) => m.to === 'x:1' && m.message.type === 'next_node_idx')).toBe(true);
    expect(msgs.some((m) => m.message.type === 'next_node_idx' && m.message.success)).toBe(true);
  });

  it('a candidate asks members only; a leader replicates to members only', () => {
    const c = node('c:1', ['a:1', 'b:1'], [], 1, { electionTimeoutMinMs: 400, electionTimeoutMaxMs: 401 });
    c.peerConnected('a:1', false, 0);
    c.peerConnected('x:1', false, 0);
    c.tick(500);
    const asked = sent(drain(c)).filter((m) => m.message.type === 'request_vote');
    expect(asked.map((m) => m.to).sort()).toEqual(['a:1', 'b:1']);
    c.step('a:1', { type: 'response_vote', term: 2 }, 510);
    c.step('x:1', { type: 'response_vote', term: 2 }, 510); // counts for nothing
    expect(c.role).toBe(RaftState.Leader);
    drain(c);
    for (let t = 600; t <= 1000; t += 100) c.tick(t);
    const msgs = sent(drain(c));
    expect(msgs.some((m) => m.to === 'a:1')).toBe(true);
    expect(msgs.some((m) => m.to === 'x:1')).toBe(false);
  });

  const staleAppend = {
    type: 'append_entries',
    term: 5,
    commitIndex: 2,
    prevLogIdx: 2,
    prevLogTerm: 1,
    entries: [],
  } as const;

  it('a non-member leader of a past term gets a vote request at our term, and we hold our campaign', () => {
    const timeouts = { electionTimeoutMinMs: 1000, electionTimeoutMaxMs: 1001 };
    const f = node('f:1', ['a:1', 'b:1'], [e(2, 1)], 7, timeouts);
    f.peerConnected('a:1', false, 0);
    f.peerConnected('x:1', false, 0);
    f.step('x:1', staleAppend, 900); // our election deadline was 1000
    const msgs = sent(drain(f));
    expect(msgs.filter((m) => m.to === 'x:1').map((m) => m.message)).toEqual([
      { type: 'next_node_idx', nextNodeIdx: 3, reset: false, success: false, term: 7 },
      vote(7, 2, 1),
    ]);
    expect(f.currentTerm).toBe(7);
    expect(f.leader).toBe(null);
    f.tick(1500); // the old deadline has passed: no campaign yet
    expect(sent(drain(f)).filter((m) => m.message.type === 'request_vote')).toHaveLength(0);
    expect(f.currentTerm).toBe(7);
    f.tick(2000);
    expect(sent(drain(f)).filter((m) => m.message.type === 'request_vote')).toHaveLength(2);
    expect(f.currentTerm).toBe(8);
  });

  it('a member leader of a past term gets the answer only: it hears our term from our campaigns (control)', () => {
    const f = node('f:1', ['a:1', 'b:1'], [e(2, 1)], 7);
    f.peerConnected('a:1', false, 0);
    f.step('a:1', staleAppend, 100);
    const msgs = sent(drain(f));
    expect(msgs.map((m) => m.message.type)).toEqual(['next_node_idx']);
  });

  it('a read-only node never sends a vote request to a stale leader', () => {
    const r = node(null, ['a:1', 'x:1'], [e(2, 1)], 7);
    r.peerConnected('y:1', false, 0);
    r.step('y:1', staleAppend, 100);
    expect(sent(drain(r)).filter((m) => m.message.type === 'request_vote')).toHaveLength(0);
  });
});
