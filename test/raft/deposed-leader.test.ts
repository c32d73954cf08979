/**
 * A leader deposed while it was cut off learns of the new term from its followers' answers: a
 * follower answers an append of an older term with its term (pysyncobj's follower stays silent),
 * a leader steps down on an answer that carries a later term, and a pysyncobj leader, which reads
 * no term in next_node_idx, is left as it was by that answer. RaftCores driven message by message
 * over scripted FIFO links (TCP keeps order per connection); the last test runs the real pysyncobj.
 */
import { describe, expect, it } from 'vitest';
import { type OutgoingMessage, type RaftMessage, RaftState } from '../../src/raft/core/types.js';
import { messageToPy } from '../../src/raft/messages.js';
import { PY_JSON_FUNCTIONS, toJ } from '../helpers/py-json.js';
import { describePython, runPython } from '../helpers/python.js';
import { drain, e, flush, node } from './core-helpers.js';

describe('a deposed leader learns of the new term', () => {
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
   * The bug: a follower ignored an append_entries of an older term (as pysyncobj's follower does:
   * syncobj.py __onMessageReceived handles append_entries only `if message['term'] >=
   * self.__raftCurrentTerm`), so a deposed leader heard nothing but silence. It now answers with its
   * term; neither reset nor success, so a pysyncobj leader (which reads only
   * next_node_idx/reset/success) changes neither nextIndex nor matchIndex.
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
});

describePython('a pysyncobj leader gets our answer to its stale append', () => {
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
