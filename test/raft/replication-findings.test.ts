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
import { messageToPy } from '../../src/raft/messages.js';
import { PY_JSON_FUNCTIONS, toJ } from '../helpers/py-json.js';
import { describePython, runPython } from '../helpers/python.js';
import { PysyncobjFollower } from '../sim/pysyncobj-follower.js';
import { simCommand } from '../sim/toy-commands.js';
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

describe('replication findings — a deposed leader learns of the new term', () => {
  const stale: RaftMessage[] = [
    { type: 'append_entries', term: 1, commitIndex: 1, prevLogIdx: 2, prevLogTerm: 1, entries: [e(3, 1)] },
    { type: 'append_entries', term: 1, commitIndex: 1, prevLogIdx: 2, prevLogTerm: 1, entries: [] },
    {
      type: 'append_entries_transmission',
      term: 1,
      commitIndex: 1,
      prevLogIdx: 2,
      prevLogTerm: 1,
      transmission: 'start',
      data: Uint8Array.of(0xee),
    },
    {
      type: 'append_entries_snapshot',
      term: 1,
      commitIndex: 1,
      serialized: { data: Uint8Array.of(1), isFirst: true, isLast: true },
    },
  ];

  /*
   * A follower ignored an append_entries of an older term (as pysyncobj's follower does: syncobj.py
   * __onMessageReceived handles append_entries only `if message['term'] >= self.__raftCurrentTerm`),
   * so a deposed leader heard nothing but silence. It now answers with its term; neither reset nor
   * success, so a pysyncobj leader (which reads only next_node_idx/reset/success) changes neither
   * nextIndex nor matchIndex.
   */
  it('a follower answers an append of an older term, of any kind, with its term and nothing else', () => {
    for (const m of stale) {
      const f = node('f:1', ['old:1', 'new:1'], [e(2, 1)], 2);
      f.step(
        'new:1',
        { type: 'append_entries', term: 2, commitIndex: 2, prevLogIdx: 2, prevLogTerm: 1, entries: [] },
        1,
      );
      drain(f);
      f.step('old:1', m, 2);
      const outs = drain(f);
      const answers = outs.flatMap((o) => [...o.send, ...o.sendAfterPersist]);
      expect(answers, m.type).toEqual([
        {
          to: 'old:1',
          message: { type: 'next_node_idx', nextNodeIdx: 3, reset: false, success: false, term: 2 },
        },
      ]);
      expect(outs.flatMap((o) => o.events)).toEqual([]);
      expect(f.leader).toBe('new:1');
      expect(f.entriesFrom(1).map((x) => x.index)).toEqual([1, 2]);
      expect(f.status().commitIndex).toBe(2);
    }
  });

  it('a leader steps down when an answer carries a later term (and waits for that term’s leader)', () => {
    const old = node('old:1', ['f:1', 'g:1']);
    old.peerConnected('f:1', false, 0);
    old.peerConnected('g:1', false, 0);
    old.tick(10_000);
    old.step('g:1', { type: 'response_vote', term: 1 }, 10_001);
    expect(old.role).toBe(RaftState.Leader);
    const heartbeat = flush(old, 10_001).find((m) => m.to === 'f:1' && m.message.type === 'append_entries');
    expect(heartbeat).toBeDefined();

    // f has moved on to term 2 (it voted for g)
    const f = node('f:1', ['old:1', 'g:1']);
    f.step('g:1', { type: 'request_vote', term: 2, lastLogIndex: 1, lastLogTerm: 0 }, 10_002);
    drain(f);
    f.step('old:1', (heartbeat as OutgoingMessage).message, 10_003);
    const answer = flush(f, 10_003).find((m) => m.to === 'old:1');
    expect(answer?.message).toMatchObject({ type: 'next_node_idx', term: 2, reset: false, success: false });

    old.step('f:1', (answer as OutgoingMessage).message, 10_004);
    const outs = drain(old);
    expect(old.role).toBe(RaftState.Follower);
    expect(old.currentTerm).toBe(2);
    expect(old.leader).toBeNull();
    expect(outs.find((o) => o.hardState !== undefined)?.hardState).toEqual({ term: 2, votedFor: null });
    // no election at once: it waits an election timeout for g's heartbeat
    old.tick(10_004 + 399);
    expect(old.role).toBe(RaftState.Follower);
    expect(old.currentTerm).toBe(2);
  });

  it('a leader adopts a later term from any next_node_idx that carries it, and counts nothing from it', () => {
    const a = node('a:1', ['b:1', 'c:1']);
    a.peerConnected('b:1', false, 0);
    a.peerConnected('c:1', false, 0);
    a.tick(10_000);
    a.step('b:1', { type: 'response_vote', term: 1 }, 10_001);
    expect(a.role).toBe(RaftState.Leader);
    drain(a);
    a.step('c:1', { type: 'next_node_idx', nextNodeIdx: 3, reset: false, success: true, term: 4 }, 10_002);
    const outs = drain(a);
    expect(a.role).toBe(RaftState.Follower);
    expect(a.currentTerm).toBe(4);
    expect(outs.find((o) => o.hardState !== undefined)?.hardState).toEqual({ term: 4, votedFor: null });
    expect(a.status().commitIndex).toBe(1);
  });

  it('a Python follower’s answer (no term) never makes a leader step down', () => {
    const a = node('a:1', ['p:1', 'q:1']);
    a.peerConnected('p:1', false, 0);
    a.tick(10_000);
    a.step('p:1', { type: 'response_vote', term: 1 }, 10_001);
    drain(a);
    a.step('p:1', { type: 'next_node_idx', nextNodeIdx: 99, reset: true, success: false }, 10_002);
    drain(a);
    expect(a.role).toBe(RaftState.Leader);
    expect(a.currentTerm).toBe(1);
  });

  /*
   * peerConnected replaced the peer's progress by a fresh one, lastResponseMs = now: a link that
   * flaps (or a peer that reconnects and never answers) kept a leader that heard no answer from a
   * majority in place beyond leaderFallbackTimeout. pysyncobj sets __lastResponseTime only when it
   * becomes leader, on a next_node_idx and for a node added to the cluster — not on a connection.
   */
  it('reconnects are no answers: the leader fallback still fires', () => {
    const a = node('a:1', ['b:1', 'c:1']);
    a.peerConnected('b:1', false, 0);
    a.peerConnected('c:1', false, 0);
    a.tick(10_000);
    a.step('b:1', { type: 'response_vote', term: 1 }, 10_001);
    expect(a.role).toBe(RaftState.Leader);
    drain(a);
    // b answers once at 11_000; then both links flap every 5 s and nobody answers
    a.step('b:1', { type: 'next_node_idx', nextNodeIdx: 3, reset: false, success: true, term: 1 }, 11_000);
    for (let t = 15_000; t < 41_000; t += 5000) {
      a.peerDisconnected('b:1', t);
      a.peerDisconnected('c:1', t);
      a.peerConnected('b:1', false, t + 1);
      a.peerConnected('c:1', false, t + 1);
      a.tick(t + 2);
      drain(a);
    }
    expect(a.role).toBe(RaftState.Leader); // 11_000 + 30_000 not reached yet
    a.tick(41_001);
    drain(a);
    expect(a.role).toBe(RaftState.Follower);
  });
});

describePython('replication findings — a pysyncobj leader gets our answer to its stale append', () => {
  /*
   * pysyncobj's leader reads only next_node_idx/reset/success of a next_node_idx (syncobj.py,
   * __onMessageReceived: `if reset: nextIndex = ...; if success: matchIndex = ...;
   * __lastResponseTime[node] = now`) and steps down only on a request_vote of a later term or an
   * append_entries of its term or later — not on our term. Neither reset nor success: its nextIndex
   * and matchIndex stay, it stays leader (and counts the answer as a response for its fallback).
   */
  it('changes neither its nextIndex nor its matchIndex, nor its role', () => {
    const L = '127.0.0.1:1';
    const F = '127.0.0.1:2';
    const f = node(F, [L, '127.0.0.1:3'], [e(2, 1), e(3, 1)], 5);
    f.step(
      L,
      { type: 'append_entries', term: 1, commitIndex: 1, prevLogIdx: 3, prevLogTerm: 1, entries: [] },
      1,
    );
    const answer = flush(f, 1).find((m) => m.to === L);
    expect(answer?.message).toMatchObject({ type: 'next_node_idx', reset: false, success: false, term: 5 });
    const out = runPython(
      `
import sys, json, logging
logging.disable(logging.CRITICAL)
from pysyncobj import SyncObj, SyncObjConf
${PY_JSON_FUNCTIONS}
o = SyncObj('${L}', ['${F}', '127.0.0.1:3'], SyncObjConf(autoTick=False, dynamicMembershipChange=False))
o._SyncObj__transport.send = lambda node, msg: True
o._SyncObj__raftCurrentTerm = 1
o._SyncObj__onBecomeLeader()
node = [n for n in o._SyncObj__otherNodes if n.id == '${F}'][0]
o._SyncObj__lastResponseTime[node] = 0
state = lambda: [o._SyncObj__raftState, o._SyncObj__raftCurrentTerm, o._SyncObj__raftNextIndex[node], o._SyncObj__raftMatchIndex[node]]
before = state()
o._SyncObj__onMessageReceived(node, fromJ(json.load(sys.stdin)))
print(json.dumps({'before': before, 'after': state(), 'responded': o._SyncObj__lastResponseTime[node] > 0}))
o.destroy()
`,
      JSON.stringify(toJ(messageToPy((answer as OutgoingMessage).message))),
    );
    const r = JSON.parse(out) as { before: number[]; after: number[]; responded: boolean };
    expect(r.before[0]).toBe(RaftState.Leader);
    expect(r.after).toEqual(r.before);
    expect(r.responded).toBe(true);
  });
});
