/**
 * Review findings on leader/follower replication (RaftCore), driven message by message over
 * scripted FIFO links (TCP keeps order per connection). Python followers are the model of
 * test/sim/pysyncobj-follower.ts.
 */
import { describe, expect, it } from 'vitest';
import type { RaftCore } from '../../src/raft/core/core.js';
import {
  NO_OP_COMMAND,
  type OutgoingMessage,
  type RaftMessage,
  RaftState,
} from '../../src/raft/core/types.js';
import { PysyncobjFollower } from '../sim/pysyncobj-follower.js';
import { simCommand } from '../sim/simulator.js';
import { drain, e, node } from './core-helpers.js';

/** Hand over the core's output; the core counts its own entries as durable at once. */
function flush(c: RaftCore, now: number): OutgoingMessage[] {
  const msgs: OutgoingMessage[] = [];
  for (let i = 0; i < 10; i++) {
    const outs = drain(c);
    if (outs.length === 0) break;
    for (const o of outs) msgs.push(...o.send, ...o.sendAfterPersist);
    const st = c.status();
    if (st.persistedIndex < st.lastIndex) c.onPersisted(st.lastIndex, st.lastTerm, now);
  }
  return msgs;
}

describe('replication findings — RaftCore leader', () => {
  /*
   * SAFETY (Python followers). The clamp "never rewind below matchIndex + 1" counts only the
   * acknowledgements received. A pysyncobj follower deletes every entry after prevLogIdx on each
   * append it accepts (syncobj.py, __onMessageReceived, append_entries: `if len(prevEntries) > 1:
   * ... self.__deleteEntriesFrom(prevLogIdx + 1)`), so an append sent after a rewind undoes entries
   * whose acknowledgement is still on its way: leader a sends 6..13 to P (one entry per message and
   * round); a stale reset from P (P answered several appends it could not place with "next 6")
   * rewinds a to 6 again and a sends (6) alone (round budget); P acknowledges 6..13, then truncates
   * after 5 and re-adds 6 only. a records match 12 while P holds 6, commits 12 and 13 (term 2)
   * counting P — only a holds them; and since the rewind clamp is now max(7, 13), a sends from 13
   * forever and P never catches up.
   *
   * Invariant checked after every message a receives: matchIndex[P] never exceeds what P will hold
   * once it has processed everything a sent it before that moment.
   */
  it('never counts a Python follower for entries a later append already sent will delete', () => {
    const A = 'a:1';
    const P = 'p:1';
    const Q = 'q:1';
    const a = node(
      A,
      [P, Q],
      [2, 3, 4, 5, 6, 7, 8, 9, 10].map((i) => e(i, 1)),
      1,
      {
        appendEntriesBatchSizeBytes: 1, // one entry per append_entries
        maxSendBytesPerRound: 1, // one append_entries per peer and round
      },
    );
    const py = new PysyncobjFollower(
      P,
      [{ command: NO_OP_COMMAND, index: 1, term: 0 }, ...[2, 3, 4, 5].map((i) => e(i, 1))],
      1,
    );
    const toP: RaftMessage[] = [];
    const toA: RaftMessage[] = [];
    let now = 10_000;
    const send = (msgs: OutgoingMessage[]) => {
      for (const m of msgs) if (m.to === P) toP.push(m.message);
    };
    const deliverToP = () => {
      for (const m of toP.splice(0)) for (const r of py.step(A, m)) toA.push(r.message);
    };
    /** what P will hold once it has processed everything a has sent it so far */
    const pWillHold = () => {
      const future = py.clone();
      for (const m of toP) future.step(A, m);
      return future;
    };
    const checkInvariant = () => {
      const match = a.status().matchIndex.get(P) ?? 0;
      const future = pWillHold();
      expect(match, 'matchIndex[P] vs what P will hold').toBeLessThanOrEqual(future.lastIndex);
      if (match > 1) expect(future.termAt(match)).toBe(a.entryAt(match)?.term);
      // commit only what a majority (a, P, Q — Q never answers here) will hold
      const st = a.status();
      expect(st.commitIndex <= 1 || future.termAt(st.commitIndex) === a.entryAt(st.commitIndex)?.term).toBe(
        true,
      );
    };
    const deliverOneToA = () => {
      const m = toA.shift() as RaftMessage;
      a.step(P, m, ++now);
      send(flush(a, now));
      checkInvariant();
    };

    a.peerConnected(P, false, 0);
    a.peerConnected(Q, false, 0);
    a.tick(now);
    a.step(Q, { type: 'response_vote', term: 2 }, ++now);
    expect(a.role).toBe(RaftState.Leader);
    a.propose(simCommand(12), null, now);
    a.propose(simCommand(13), null, now);
    send(flush(a, now));
    now += 100;
    a.tick(now);
    send(flush(a, now));
    // P cannot place appends after 10..12: each answer is "reset, next 6"
    deliverToP();
    const resets = toA.filter((m) => m.type === 'next_node_idx' && m.reset && m.nextNodeIdx === 6).length;
    expect(resets).toBeGreaterThanOrEqual(2);
    while (toA[0]?.type !== 'next_node_idx') toA.shift(); // P's vote
    deliverOneToA(); // the first reset: a rewinds to 6
    for (let i = 0; i < 40 && (a.status().nextIndex.get(P) ?? 0) <= 13; i++) {
      now += 100;
      a.tick(now);
      send(flush(a, now));
    }
    expect(a.status().nextIndex.get(P)).toBe(14); // 6..13 on their way
    deliverOneToA(); // a stale reset: a rewinds to 6 again and sends (6) alone
    while (toA.length > 0) deliverOneToA(); // the other stale resets
    deliverToP(); // P gets 6..13, then (6): it ends holding 6
    while (toA.length > 0) deliverOneToA(); // P's acknowledgements of 6..13 and of (6)

    // P catches up
    for (let i = 0; i < 100 && py.lastIndex < a.status().lastIndex; i++) {
      now += 100;
      a.tick(now);
      send(flush(a, now));
      deliverToP();
      while (toA.length > 0) deliverOneToA();
    }
    expect(py.entries().map((x) => [x.index, x.term])).toEqual(
      a.entriesFrom(1).map((x) => [x.index, x.term]),
    );
  });
});

describe('replication findings — raftdcs followers keep full counting', () => {
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
