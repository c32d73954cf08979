/**
 * How a RaftCore leader counts a follower whose answers carry its term (a raftdcs follower; the
 * `term` key of next_node_idx is ours, pysyncobj reads only next_node_idx/reset/success): an answer
 * to an earlier leadership of the same node is not counted, and an answer to this leadership counts
 * in full, even after a rewind. Followers whose answers carry no term: python-follower-counting.test.ts.
 *
 * Driven message by message (style of core.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { RaftState } from '../../src/raft/core/types.js';
import { e, flush, node } from './core-helpers.js';

describe('counting a follower whose answers carry its term (raftdcs)', () => {
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
