/**
 * A node that starts (or comes back from a long partition) and reaches its first voter after its
 * election timer ran out must not campaign at once: the leader — whose connection may come up a
 * moment later, its redials backing off — gets a whole election timeout to show itself. Found by
 * the restart benchmark: a follower restarted with 100k keys was unreachable for 1.4 s while its
 * peers backed off, campaigned as soon as the first follower connected, answered the leader's
 * first append with its higher term and deposed it (catch-up 3.1 s instead of 1.3 s).
 */
import { describe, expect, it } from 'vitest';
import { RaftState } from '../../src/raft/core/types.js';
import { drain, e, node } from './core-helpers.js';

const heartbeat = {
  type: 'append_entries',
  term: 1,
  commitIndex: 2,
  prevLogIdx: 2,
  prevLogTerm: 1,
  entries: [],
} as const;

describe('the first connection after hearing from nobody', () => {
  it('restarts the election timer: the leader connecting a moment later keeps its leadership', () => {
    // restarted at t=0 with term 1; no voter reachable until t=2000 (election timeout 400..1400)
    const f = node('f:1', ['l:1', 'x:1'], [e(2, 1)], 1);
    f.tick(1500);
    f.tick(2000);
    expect(f.role).toBe(RaftState.Follower); // nobody to campaign with
    f.peerConnected('x:1', false, 2000); // a follower's redial comes first
    f.tick(2010);
    f.tick(2100);
    expect(f.role).toBe(RaftState.Follower);
    expect(f.currentTerm).toBe(1);
    f.peerConnected('l:1', false, 2012);
    f.step('l:1', heartbeat, 2015);
    const outs = drain(f);
    const answers = outs.flatMap((o) => [...o.send, ...o.sendAfterPersist]).filter((m) => m.to === 'l:1');
    expect(answers.every((m) => m.message.type !== 'next_node_idx' || m.message.term === 1)).toBe(true);
    expect(f.leader).toBe('l:1');
    expect(f.currentTerm).toBe(1);
  });

  it('still campaigns a timeout after that first connection when no leader shows up', () => {
    const f = node('f:1', ['l:1', 'x:1'], [e(2, 1)], 1);
    f.tick(2000);
    f.peerConnected('x:1', false, 2000);
    f.tick(2000 + 1400 + 1);
    expect(f.role).toBe(RaftState.Candidate);
    expect(f.currentTerm).toBe(2);
  });

  it('a connection while the timer still runs leaves it alone', () => {
    const f = node('f:1', ['l:1', 'x:1'], [e(2, 1)], 1); // deadline 0 + 900 (random 0.5)
    f.peerConnected('x:1', false, 100);
    f.tick(901);
    expect(f.role).toBe(RaftState.Candidate);
  });
});
