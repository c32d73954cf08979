/**
 * How a RaftCore leader counts a follower whose answers carry its term (a raftdcs follower; the
 * `term` key of next_node_idx is ours, pysyncobj reads only next_node_idx/reset/success): an answer
 * to an earlier leadership of the same node is not counted, and an answer to this leadership counts
 * in full, even after a rewind. Followers whose answers carry no term: python-follower-counting.test.ts.
 *
 * Driven message by message (style of core.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { NO_OP_COMMAND, type RaftMessage, RaftState } from '../../src/raft/core/types.js';
import { simCommand } from '../sim/toy-commands.js';
import { drain, e, flush, node } from './core-helpers.js';
import { ae } from './runtime-helpers.js';

describe('counting a follower whose answers carry its term (raftdcs)', () => {
  /*
   * SAFETY. pysyncobj's next_node_idx carries no term. The bug: a success sent by b to a in an
   * earlier leadership of a (term 1) that arrived after a had lost and regained leadership (term 3)
   * was counted as if it acknowledged a's current log, although a's log was rewritten in between.
   *
   * 5 voters a..e. a leads term 1 and replicates 3..5 (term 1) to b only; b's success (next 6) is
   * delayed on the b→a connection (slow link, or b's fsync stall: its acks leave after the fsync).
   * c wins term 2 with d and e (their logs end at 2) and overwrites a's 3.. with its no-op (3, t2).
   * a wins term 3 with d and e, appends (4, t3) and a client write (5, t3); d acknowledges 5.
   * Then b's stale "next 6" arrives: a set matchIndex[b] = 5 and committed 5 with only a and d
   * holding it (2 of 5). If a and d then failed, b, c, e elected a leader without (5, t3): an
   * acknowledged write was lost.
   *
   * The fix: the leader cannot tell stale acks from Python followers, but it can for ours — TS
   * followers add a `term` key to next_node_idx (pysyncobj reads only next_node_idx/reset/success,
   * extra keys are harmless), and RaftCore.onNextNodeIdx drops a message whose term is present and
   * ≠ currentTerm.
   */
  it('does not count a success that answered an earlier leadership of the same node', () => {
    const peers = ['b:1', 'c:1', 'd:1', 'e:1'];
    const a = node('a:1', peers);
    for (const p of peers) a.peerConnected(p, false, 0);
    a.tick(10_000);
    a.step('b:1', { type: 'response_vote', term: 1 }, 10_001);
    a.step('c:1', { type: 'response_vote', term: 1 }, 10_002);
    expect(a.role).toBe(RaftState.Leader);
    for (const id of [101, 102, 103]) a.propose(simCommand(id), null, 10_003);
    drain(a);
    a.onPersisted(5, 1, 10_004);
    drain(a);
    // a raftdcs follower says which term it answers (a Python follower cannot: that risk remains)
    const staleAckFromB: RaftMessage = {
      type: 'next_node_idx',
      nextNodeIdx: 6,
      reset: false,
      success: true,
      term: 1,
    };

    // c leads term 2 and replicates its no-op at 3
    a.step('c:1', ae(2, 2, 1, [{ command: NO_OP_COMMAND, index: 3, term: 2 }], 1), 10_100);
    expect(a.role).toBe(RaftState.Follower);
    drain(a);
    a.onPersisted(3, 2, 10_101);
    drain(a);

    // a leads term 3 (votes of d and e), no-op at 4, client write at 5
    a.tick(20_000);
    expect(a.currentTerm).toBe(3);
    a.step('d:1', { type: 'response_vote', term: 3 }, 20_001);
    a.step('e:1', { type: 'response_vote', term: 3 }, 20_002);
    expect(a.role).toBe(RaftState.Leader);
    a.propose(simCommand(200), null, 20_003);
    drain(a);
    a.onPersisted(5, 3, 20_004);
    a.step('d:1', { type: 'next_node_idx', nextNodeIdx: 6, reset: false, success: true }, 20_005);
    drain(a);
    expect(a.status().commitIndex).toBeLessThan(4); // only a and d hold 4..5

    a.step('b:1', staleAckFromB, 20_006); // b still has (3..5, term 1), not a's (4..5, term 3)
    drain(a);
    expect(a.status().commitIndex).toBeLessThan(4);
  });

  /*
   * A raftdcs follower (its answers carry the term) truncates only on a conflict, never this
   * leader's entries: its acknowledgement counts in full even after a rewind, and moves nextIndex
   * past what it already holds.
   */
  it('an answer with the term counts beyond what was sent since a rewind', () => {
    const a = node(
      'a:1',
      ['b:1', 'c:1'],
      [2, 3, 4, 5, 6].map((i) => e(i, 1)),
      1,
    );
    a.peerConnected('b:1', false, 0);
    a.peerConnected('c:1', false, 0);
    a.tick(10_000);
    a.step('c:1', { type: 'response_vote', term: 2 }, 10_001);
    expect(a.role).toBe(RaftState.Leader);
    flush(a, 10_001); // (7, term 2) to b
    a.step('b:1', { type: 'next_node_idx', nextNodeIdx: 3, reset: true, success: false, term: 2 }, 10_002);
    flush(a, 10_002); // rewound: 3..7 to b
    a.step('b:1', { type: 'next_node_idx', nextNodeIdx: 3, reset: true, success: false, term: 2 }, 10_050);
    expect(flush(a, 10_050)).toEqual([]); // a stale reset: rewound to 3 again, sent at the next heartbeat
    a.step('b:1', { type: 'next_node_idx', nextNodeIdx: 8, reset: false, success: true, term: 2 }, 10_051);
    expect(a.status().matchIndex.get('b:1')).toBe(7);
    expect(a.status().nextIndex.get('b:1')).toBe(8);
    expect(a.status().commitIndex).toBe(7);
  });
});
