/**
 * RaftCore's side of installing a leader's snapshot, driven message by message (style of
 * core.test.ts): what the core keeps of its log, and what it can send on once it leads. The
 * runtime's side (asynchronous decode and dump write): install-races.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { type RaftMessage, RaftState } from '../../src/raft/core/types.js';
import { drain, e, node } from './core-helpers.js';
import { ae } from './runtime-helpers.js';

describe('RaftCore installing a snapshot', () => {
  /*
   * LIVENESS / ROBUSTNESS (node crash). The bug: a follower that got its state from a leader's
   * snapshot had a log starting at the dump's prev entry but no dump to send: installSnapshot() never
   * set `this.snapshot`, and the runtime's onSnapshotReceived never handed the received bytes to the core.
   * When it became leader (before its own first compaction, ≤ logCompactionMinTime = 5 min) and a
   * follower needed entries before its first index — a replaced node joining, a lagging one — the
   * leader threw RaftInvariantError('... no snapshot exists') inside takeOutput, the runtime's fail()
   * destroyed the node; the next leader might do the same. If it had compacted once before the
   * install, it sent its OLD dump instead, whose last index is below its first log index: replicateTo
   * looped sending that dump until the 16 MiB round budget was spent, every flush, and the follower
   * never caught up.
   *
   * The fix: RaftCore.installSnapshot takes the dump bytes and sets
   * `this.snapshot = { data, lastIndex: lastEntry.index, lastTerm: lastEntry.term }` (and clears
   * every progress.snapshotOffset); the runtime's onSnapshotReceived passes `data`.
   */
  it('a leader whose log came from an installed snapshot can still send that snapshot', () => {
    const c = node('c:1', ['a:1', 'b:1']);
    c.peerConnected('a:1', false, 0);
    c.peerConnected('b:1', false, 0);
    const dump = Uint8Array.from([1, 2, 3, 4, 5, 6]);
    c.step(
      'a:1',
      {
        type: 'append_entries_snapshot',
        term: 1,
        commitIndex: 10,
        serialized: { data: dump, isFirst: true, isLast: false },
      },
      1,
    );
    c.step(
      'a:1',
      {
        type: 'append_entries_snapshot',
        term: 1,
        commitIndex: 10,
        serialized: { data: new Uint8Array(0), isFirst: false, isLast: true },
      },
      2,
    );
    expect(drain(c).some((o) => o.events.some((ev) => ev.type === 'snapshotReceived'))).toBe(true);
    c.installSnapshot(
      { lastEntry: e(10, 1), prevEntry: e(9, 1), cluster: ['a:1', 'b:1', 'c:1'], data: dump },
      3,
    );
    drain(c);

    // a is gone; c wins term 2 with b's vote (b's log ends at 5, term 1)
    c.peerDisconnected('a:1', 100);
    c.tick(10_000);
    c.step('b:1', { type: 'response_vote', term: 2 }, 10_001);
    expect(c.role).toBe(RaftState.Leader);
    drain(c);
    c.step('b:1', { type: 'next_node_idx', nextNodeIdx: 6, reset: true, success: false }, 10_002);
    const outs = drain(c); // threw RaftInvariantError before the fix
    const chunks = outs
      .flatMap((o) => o.send)
      .filter((m) => m.to === 'b:1' && m.message.type === 'append_entries_snapshot');
    expect(chunks.length).toBeGreaterThan(0);
  });

  /*
   * SAFETY (defence in depth). The bug: installSnapshot replaced the whole log by [prev, last] even
   * when the log already held the snapshot's last entry (same index and term) and durable entries
   * after it. Raft (Fig. 13, step 6) keeps that suffix: the follower may have acknowledged those
   * entries to an earlier leader, which counted them for commit; dropping them (the runtime also
   * reset the journal) made the follower forget committed entries and later vote for a candidate
   * lacking them. Our leader sends a snapshot to a node with a longer matching log only after a stale
   * reset (next_node_idx carries no term: a reset sent in term t arriving at the same leader node in
   * term t+2 rewinds the fresh progress below the leader's first index), or a Python leader may.
   *
   * The fix: in RaftCore.installSnapshot, when log.termAt(lastEntry.index) === lastEntry.term, keep the
   * entries after it (log.dropBefore(prevEntry.index), persistedIndex unchanged, membership as is) and
   * reply success with lastEntry.index + 1; the runtime's onSnapshotReceived then compacts the journal to
   * prevEntry.index instead of resetting it.
   */
  it('keeps log entries after the snapshot point when the log matches the snapshot', () => {
    const f = node(
      'f:1',
      ['l:1', 'x:1'],
      [2, 3, 4, 5, 6, 7, 8, 9, 10].map((i) => e(i, 1)),
      1,
    );
    f.step('l:1', ae(1, 10, 1, [], 5), 1); // commit 5
    drain(f);
    const chunk = (isFirst: boolean, isLast: boolean, data: Uint8Array): RaftMessage => ({
      type: 'append_entries_snapshot',
      term: 1,
      commitIndex: 8,
      serialized: { data, isFirst, isLast },
    });
    f.step('l:1', chunk(true, false, Uint8Array.of(7)), 2);
    f.step('l:1', chunk(false, true, new Uint8Array(0)), 3);
    drain(f);
    f.installSnapshot(
      { lastEntry: e(8, 1), prevEntry: e(7, 1), cluster: ['l:1', 'x:1', 'f:1'], data: Uint8Array.of(7) },
      4,
    );
    drain(f);
    expect(f.entriesFrom(9).map((x) => x.index)).toEqual([9, 10]);
  });
});
