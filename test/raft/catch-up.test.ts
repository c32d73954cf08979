/**
 * A follower holding a long divergent suffix (an old leader's uncommitted entries) catches up with
 * the new leader in a few round trips. Found by the simulator's lossy profile after healing: a
 * follower with 127 divergent entries was walked back one index per round trip (pysyncobj's
 * next_node_idx = prevLogIdx on a conflict) and took 17 s of virtual time to rejoin, and stale
 * "too short" answers to pipelined batches kept pulling the leader's nextIndex back up.
 *
 * The cores are driven message by message: each round the leader ticks, its messages reach the
 * follower, and the follower's answers reach the leader (in order, or newest first).
 */
import { describe, expect, it } from 'vitest';
import type { CoreOutput, RaftCore } from '../../src/raft/core/core.js';
import { type LogEntry, type RaftMessage, RaftState } from '../../src/raft/core/types.js';
import { drain, e, node } from './core-helpers.js';

const range = (from: number, to: number, term: number): LogEntry[] =>
  Array.from({ length: to - from + 1 }, (_, i) => e(from + i, term));

function messagesTo(outs: CoreOutput[], to: string): RaftMessage[] {
  return outs
    .flatMap((o) => [...o.send, ...o.sendAfterPersist])
    .filter((m) => m.to === to)
    .map((m) => m.message);
}

/** Persist everything `c` wrote (instant disk) and collect its outputs. */
function settle(c: RaftCore): CoreOutput[] {
  const outs = drain(c);
  const st = c.status();
  c.onPersisted(st.lastIndex, st.lastTerm, 0);
  return [...outs, ...drain(c)];
}

const appendEntries = (
  term: number,
  prevLogIdx: number,
  prevLogTerm: number,
  commitIndex = 1,
): RaftMessage => ({
  type: 'append_entries',
  term,
  commitIndex,
  prevLogIdx,
  prevLogTerm,
  entries: [],
});

describe('a follower with a divergent suffix', () => {
  it('answers a conflict with the start of its run of the conflicting term, not one index back', () => {
    // 2..5 term 1, 6..12 term 2, 13..20 term 3; commit 3
    const f = node('b:1', ['a:1', 'c:1'], [...range(2, 5, 1), ...range(6, 12, 2), ...range(13, 20, 3)], 3);
    f.step('a:1', appendEntries(3, 20, 3, 3), 1);
    drain(f);
    expect(f.status().commitIndex).toBe(3);

    f.step('a:1', appendEntries(4, 20, 4), 2); // the leader's 20 is of term 4: conflict
    f.step('a:1', appendEntries(4, 12, 4), 3); // its 12 too
    f.step('a:1', appendEntries(4, 5, 2), 4); // and its 5: our run of term 1 starts at 2, commit is 3
    expect(messagesTo(drain(f), 'a:1')).toEqual([
      { type: 'next_node_idx', nextNodeIdx: 13, reset: true, success: false, term: 4 },
      { type: 'next_node_idx', nextNodeIdx: 6, reset: true, success: false, term: 4 },
      { type: 'next_node_idx', nextNodeIdx: 4, reset: true, success: false, term: 4 },
    ]);
    expect(f.status().lastIndex).toBe(20); // nothing truncated by a mismatch at prevLogIdx
  });

  for (const order of ['in order', 'newest answer first'] as const) {
    it(`rejoins the leader within three round trips (answers ${order})`, () => {
      // b led term 1 and appended 6..60 that nobody else got; a has 6..30 of term 2 and wins term 3
      const a = node('a:1', ['b:1', 'c:1'], [...range(2, 5, 1), ...range(6, 30, 2)], 2, {
        appendEntriesBatchSizeBytes: 64, // a few entries per append_entries: pipelined batches
      });
      const b = node('b:1', ['a:1', 'c:1'], range(2, 60, 1), 1);
      a.peerConnected('b:1', false, 0);
      a.peerConnected('c:1', false, 0);
      a.tick(10_000);
      a.step('c:1', { type: 'response_vote', term: a.currentTerm }, 10_001);
      expect(a.role).toBe(RaftState.Leader);
      a.peerDisconnected('c:1', 10_002); // only b is left to talk to

      let now = 10_002;
      let rounds = 0;
      const caughtUp = (): boolean => {
        const st = a.status();
        return (
          st.matchIndex.get('b:1') === st.lastIndex &&
          b.status().lastIndex === st.lastIndex &&
          b.entriesFrom(2).every((x) => a.entryAt(x.index)?.term === x.term)
        );
      };
      while (!caughtUp() && rounds < 100) {
        rounds++;
        now += 100; // one heartbeat period per round trip
        a.tick(now);
        for (const m of messagesTo(settle(a), 'b:1')) b.step('a:1', m, now);
        const answers = messagesTo(settle(b), 'a:1');
        if (order === 'newest answer first') answers.reverse();
        for (const m of answers) a.step('b:1', m, now + 1);
      }
      expect(caughtUp()).toBe(true);
      expect(rounds).toBeLessThanOrEqual(3);
      expect(b.entriesFrom(31).map((x) => x.term)).toEqual([3]); // a's no-op; b's 31..60 are gone
    });
  }
});
