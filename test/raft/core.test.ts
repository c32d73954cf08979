/**
 * Focused behaviours of the pure Raft core, driven message by message (the simulator covers the
 * random histories): pysyncobj compatibility rules and the deliberate differences of `docs/protocol.md` §11, §12.
 */
import { describe, expect, it } from 'vitest';
import { type CoreOutput, RaftCore } from '../../src/raft/core/core.js';
import {
  CommandType,
  FailReason,
  NO_OP_COMMAND,
  type RaftMessage,
  RaftState,
} from '../../src/raft/core/types.js';
import { simCommand, simMembershipCommand } from '../sim/toy-commands.js';
import { drain, e, node, options } from './core-helpers.js';

function sent(outs: CoreOutput[], after = false): { to: string; message: RaftMessage }[] {
  return outs.flatMap((o) => (after ? o.sendAfterPersist : o.send)) as { to: string; message: RaftMessage }[];
}

/** Make `c` leader of its term with all peers connected; returns the outputs produced. */
function elect(c: RaftCore, peers: string[]): CoreOutput[] {
  for (const p of peers) c.peerConnected(p, false, 0);
  c.tick(10_000);
  const term = c.currentTerm;
  for (const p of peers) c.step(p, { type: 'response_vote', term }, 10_001);
  expect(c.role).toBe(RaftState.Leader);
  return drain(c);
}

describe('RaftCore elections', () => {
  it('persists term and vote before the request_vote leaves', () => {
    const c = node('a:1', ['b:1', 'c:1']);
    c.peerConnected('b:1', false, 0);
    c.tick(2000);
    const [out] = drain(c);
    expect(out?.hardState).toEqual({ term: 1, votedFor: 'a:1' });
    expect(out?.send.some((m) => m.message.type === 'request_vote')).toBe(false);
    expect(out?.sendAfterPersist.filter((m) => m.message.type === 'request_vote').map((m) => m.to)).toEqual([
      'b:1',
      'c:1',
    ]);
  });

  it('does not campaign when connected to no voter', () => {
    const c = node('a:1', ['b:1', 'c:1']);
    c.tick(100_000);
    expect(c.role).toBe(RaftState.Follower);
    expect(c.currentTerm).toBe(0);
  });

  it('counts a vote once per voter and never from a read-only peer or a stranger', () => {
    const c = node('a:1', ['b:1', 'c:1', 'd:1', 'e:1']);
    c.peerConnected('b:1', false, 0);
    c.peerConnected('ro', true, 0);
    c.tick(2000);
    c.step('b:1', { type: 'response_vote', term: 1 }, 2001);
    c.step('b:1', { type: 'response_vote', term: 1 }, 2002);
    c.step('ro', { type: 'response_vote', term: 1 }, 2003);
    c.step('x:9', { type: 'response_vote', term: 1 }, 2004);
    expect(c.role).toBe(RaftState.Candidate);
    c.step('c:1', { type: 'response_vote', term: 1 }, 2005);
    expect(c.role).toBe(RaftState.Leader);
  });

  it('grants one vote per term, only to an up-to-date candidate; read-only nodes never vote', () => {
    const c = node('a:1', ['b:1', 'c:1'], [e(2, 1)], 1);
    c.step('b:1', { type: 'request_vote', term: 2, lastLogIndex: 1, lastLogTerm: 0 }, 1);
    expect(sent(drain(c), true).some((m) => m.message.type === 'response_vote')).toBe(false);
    c.step('b:1', { type: 'request_vote', term: 2, lastLogIndex: 2, lastLogTerm: 1 }, 2);
    const granted = drain(c);
    expect(granted[0]?.hardState).toEqual({ term: 2, votedFor: 'b:1' });
    expect(sent(granted, true)).toEqual([{ to: 'b:1', message: { type: 'response_vote', term: 2 } }]);
    c.step('c:1', { type: 'request_vote', term: 2, lastLogIndex: 5, lastLogTerm: 2 }, 3);
    expect(sent(drain(c), true)).toEqual([]);
    const ro = node(null, ['b:1']);
    ro.step('b:1', { type: 'request_vote', term: 5, lastLogIndex: 9, lastLogTerm: 9 }, 1);
    expect(drain(ro)).toEqual([]);
    ro.tick(1_000_000);
    expect(ro.role).toBe(RaftState.Follower);
  });

  it('appends a no-op on election and steps down after leaderFallbackTimeout without a majority', () => {
    const c = node('a:1', ['b:1', 'c:1']);
    const outs = elect(c, ['b:1', 'c:1']);
    const appended = outs.flatMap((o) => o.entries);
    expect(appended.at(-1)).toEqual({ command: NO_OP_COMMAND, index: 2, term: 1 });
    c.tick(10_001 + 29_000);
    expect(c.role).toBe(RaftState.Leader);
    c.step('b:1', { type: 'next_node_idx', nextNodeIdx: 3, reset: false, success: true }, 39_000);
    c.tick(10_001 + 30_500);
    expect(c.role).toBe(RaftState.Leader);
    c.tick(39_000 + 30_001);
    expect(c.role).toBe(RaftState.Follower);
  });

  /*
   * The bug: peerConnected replaced the peer's progress by a fresh one, lastResponseMs = now: a link
   * that flaps (or a peer that reconnects and never answers) kept a leader that heard no answer from
   * a majority in place beyond leaderFallbackTimeout. pysyncobj sets __lastResponseTime only when it
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

  /*
   * SAFETY (after an unusual restart). The bug: the core started with term = hardState.term even
   * when the log held entries of a higher term. Reachable: a dump with a fresh journal —
   * FileJournal.open treats a 0-byte journal as "start fresh" (term 0), the runtime's alignJournalWithDump
   * then resets it to the dump's [prev, last] of term T — or a journal deleted by an operator while
   * the dump is kept. The node then campaigned in term 1 with lastLogTerm T, won among peers in the
   * same situation, and appended (k+1, term 1) after (k, term T): log terms decreased. The
   * up-to-date check then preferred a node lacking the committed (k+1, 1) (its last term T > 1),
   * which overwrote it: a committed entry was lost, and followers that applied it threw "conflicts
   * with committed entry".
   *
   * The fix: the RaftCore constructor uses term = max(hardState.term, log.lastTerm), votedFor = null
   * when raised, and persists it.
   */
  it('never starts a term lower than the last term in its log', () => {
    const n = new RaftCore(options('a:1'), {
      hardState: { term: 0, votedFor: null },
      entries: [e(9, 5), e(10, 5)],
      commitIndex: 10,
      lastApplied: 10,
      peers: [],
      nowMs: 0,
    });
    n.tick(10_000); // single node: elected at once
    drain(n);
    expect(n.status().lastTerm).toBeGreaterThanOrEqual(5); // before the fix: (11, term 1) after (10, term 5)
  });
});

describe('RaftCore replication', () => {
  it('commits only current-term entries, counting itself once persisted', () => {
    // a log with an old-term entry at 2; the new leader of term 3 must not commit 2 by counting
    const c = node('a:1', ['b:1', 'c:1'], [e(2, 1)], 2);
    elect(c, ['b:1', 'c:1']);
    expect(c.currentTerm).toBe(3);
    c.step('b:1', { type: 'next_node_idx', nextNodeIdx: 3, reset: false, success: true, term: 3 }, 10_002);
    expect(c.status().commitIndex).toBe(1);
    c.step('b:1', { type: 'next_node_idx', nextNodeIdx: 4, reset: false, success: true, term: 3 }, 10_003);
    expect(c.status().commitIndex).toBe(1); // self not persisted yet
    c.onPersisted(3, 3, 10_004);
    expect(c.status().commitIndex).toBe(3);
  });

  it('sends a heartbeat at once when a pysyncobj 0.3.11 follower acknowledges one index short', () => {
    const c = node('a:1', ['b:1'], [], 0);
    elect(c, ['b:1']);
    c.onPersisted(2, 1, 10_002);
    drain(c);
    // 0.3.11 replies next_node_idx = last index received (2) instead of 3
    c.step('b:1', { type: 'next_node_idx', nextNodeIdx: 2, reset: false, success: true }, 10_003);
    const hb = sent(drain(c)).filter((m) => m.message.type === 'append_entries');
    expect(hb).toHaveLength(1);
    expect(hb[0]?.message).toMatchObject({ prevLogIdx: 2, entries: [] });
    c.step('b:1', { type: 'next_node_idx', nextNodeIdx: 3, reset: false, success: true }, 10_004);
    expect(c.status().commitIndex).toBe(2);
  });

  it('never rewinds below matchIndex + 1 on a stale reset (a raftdcs follower on a reordering link)', () => {
    const c = node('a:1', ['b:1'], [], 0);
    elect(c, ['b:1']);
    for (let i = 0; i < 3; i++) c.propose(simCommand(100 + i), null, 10_010);
    drain(c);
    c.step('b:1', { type: 'next_node_idx', nextNodeIdx: 6, reset: false, success: true, term: 1 }, 10_020);
    c.step('b:1', { type: 'next_node_idx', nextNodeIdx: 2, reset: true, success: false, term: 1 }, 10_200);
    expect(c.status().matchIndex.get('b:1')).toBe(5);
    expect(c.status().nextIndex.get('b:1')).toBe(6);
  });

  it('a Python follower asking for less than it was counted for: an anomaly, and it is counted from there', () => {
    const c = node('a:1', ['b:1'], [], 0);
    elect(c, ['b:1']); // the no-op at 2 sent: prevLogIdx 1
    c.onPersisted(2, 1, 10_002);
    drain(c);
    // pysyncobj 0.3.11: next_node_idx = the last index received; then the heartbeat it prompts
    c.step('b:1', { type: 'next_node_idx', nextNodeIdx: 2, reset: false, success: true }, 10_003);
    expect(sent(drain(c)).map((m) => m.message)).toMatchObject([{ type: 'append_entries', prevLogIdx: 2 }]);
    c.step('b:1', { type: 'next_node_idx', nextNodeIdx: 3, reset: false, success: true }, 10_004);
    expect(c.status().matchIndex.get('b:1')).toBe(2);
    c.tick(10_200);
    drain(c); // a heartbeat, prevLogIdx 2
    // b says it does not hold 2 (term mismatch there): it must never happen, and must not stall b
    c.step('b:1', { type: 'next_node_idx', nextNodeIdx: 2, reset: true, success: false }, 10_201);
    const outs = drain(c);
    expect(outs.flatMap((o) => o.events).filter((ev) => ev.type === 'anomaly')).toHaveLength(1);
    expect(c.status().matchIndex.get('b:1')).toBe(1);
    expect(c.status().nextIndex.get('b:1')).toBe(3); // the no-op at 2 sent again
    expect(sent(outs).map((m) => m.message)).toMatchObject([{ type: 'append_entries', prevLogIdx: 1 }]);
  });

  it('follower: truncates only on conflict, never committed entries; acknowledges after persisting', () => {
    const c = node('b:1', ['a:1'], [e(2, 1), e(3, 1)], 1);
    // a heartbeat from the leader of term 2 that matches: nothing is deleted (unlike pysyncobj)
    c.step(
      'a:1',
      { type: 'append_entries', term: 2, commitIndex: 2, prevLogIdx: 1, prevLogTerm: 0, entries: [e(2, 1)] },
      1,
    );
    let outs = drain(c);
    expect(outs.some((o) => o.truncateFrom !== undefined)).toBe(false);
    expect(c.status().lastIndex).toBe(3);
    expect(sent(outs, true)).toEqual([
      { to: 'a:1', message: { type: 'next_node_idx', nextNodeIdx: 3, reset: false, success: true, term: 2 } },
    ]);
    expect(sent(outs)).toEqual([]);
    // a conflicting entry at 3 replaces the tail
    c.step(
      'a:1',
      {
        type: 'append_entries',
        term: 2,
        commitIndex: 2,
        prevLogIdx: 2,
        prevLogTerm: 1,
        entries: [e(3, 2, 33)],
      },
      2,
    );
    outs = drain(c);
    expect(outs.find((o) => o.truncateFrom !== undefined)?.truncateFrom).toBe(3);
    expect(c.entryAt(3)?.term).toBe(2);
    // a mismatch at prevLogIdx → reset to prevLogIdx; too short → reset to own last + 1
    c.step(
      'a:1',
      { type: 'append_entries', term: 2, commitIndex: 2, prevLogIdx: 3, prevLogTerm: 1, entries: [] },
      3,
    );
    c.step(
      'a:1',
      { type: 'append_entries', term: 2, commitIndex: 2, prevLogIdx: 9, prevLogTerm: 2, entries: [] },
      4,
    );
    expect(sent(drain(c), true).map((m) => m.message)).toEqual([
      { type: 'next_node_idx', nextNodeIdx: 3, reset: true, success: false, term: 2 },
      { type: 'next_node_idx', nextNodeIdx: 4, reset: true, success: false, term: 2 },
    ]);
  });

  it('follower: a leader conflicting with a committed entry is an invariant violation', () => {
    const c = node('b:1', ['a:1'], [e(2, 1)], 1);
    c.step(
      'a:1',
      { type: 'append_entries', term: 1, commitIndex: 2, prevLogIdx: 2, prevLogTerm: 1, entries: [] },
      1,
    );
    drain(c);
    expect(c.status().commitIndex).toBe(2);
    expect(() =>
      c.step(
        'a:1',
        {
          type: 'append_entries',
          term: 2,
          commitIndex: 2,
          prevLogIdx: 1,
          prevLogTerm: 0,
          entries: [e(2, 2)],
        },
        2,
      ),
    ).toThrow(/committed/);
  });

  it('follower: reassembles a big-entry transmission and drops one that does not decode', () => {
    const c = node('b:1', ['a:1'], [], 1);
    const base = {
      type: 'append_entries_transmission' as const,
      term: 1,
      commitIndex: 1,
      prevLogIdx: 1,
      prevLogTerm: 0,
    };
    c.step('a:1', { ...base, transmission: 'start', data: Uint8Array.of(0xee, 2) }, 1);
    c.step('a:1', { ...base, transmission: 'process', data: Uint8Array.of(1) }, 2);
    c.step('a:1', { ...base, transmission: 'finish', data: Uint8Array.of(CommandType.NoOp) }, 3);
    let outs = drain(c);
    expect(c.entryAt(2)).toMatchObject({ index: 2, term: 1 });
    expect(sent(outs, true).map((m) => m.message)).toEqual([
      { type: 'next_node_idx', nextNodeIdx: 2, reset: false, success: false, term: 1 },
      { type: 'next_node_idx', nextNodeIdx: 2, reset: false, success: false, term: 1 },
      { type: 'next_node_idx', nextNodeIdx: 3, reset: false, success: true, term: 1 },
    ]);
    c.step(
      'a:1',
      { ...base, prevLogIdx: 2, prevLogTerm: 1, transmission: 'start', data: Uint8Array.of(1, 2) },
      4,
    );
    c.step(
      'a:1',
      { ...base, prevLogIdx: 2, prevLogTerm: 1, transmission: 'finish', data: Uint8Array.of(3) },
      5,
    );
    outs = drain(c);
    expect(sent(outs, true).at(-1)?.message).toEqual({
      type: 'next_node_idx',
      nextNodeIdx: 3,
      reset: true,
      success: false,
      term: 1,
    });
    expect(outs.flatMap((o) => o.events).some((ev) => ev.type === 'anomaly')).toBe(true);
  });

  it('follower: snapshot chunks do not move the commit index and end in a snapshotReceived event', () => {
    const c = node('b:1', ['a:1'], [e(2, 1)], 1);
    const chunk = (data: number[], isFirst: boolean, isLast: boolean): RaftMessage => ({
      type: 'append_entries_snapshot',
      term: 1,
      commitIndex: 50,
      serialized: { data: Uint8Array.from(data), isFirst, isLast },
    });
    c.step('a:1', chunk([9], false, false), 1); // no transfer started: ignored
    c.step('a:1', chunk([1, 2], true, false), 2);
    c.step('a:1', chunk([3], false, false), 3);
    c.step('a:1', chunk([], false, true), 4);
    const outs = drain(c);
    expect(c.status().commitIndex).toBe(1);
    const ev = outs.flatMap((o) => o.events).find((x) => x.type === 'snapshotReceived');
    expect(ev && 'data' in ev ? [...ev.data] : null).toEqual([1, 2, 3]);
    c.installSnapshot(
      {
        prevEntry: e(49, 1),
        lastEntry: e(50, 1),
        cluster: ['a:1', 'b:1', 'c:1'],
        data: Uint8Array.of(1, 2, 3),
      },
      5,
    );
    const after = drain(c);
    expect(c.status()).toMatchObject({ firstIndex: 49, lastIndex: 50, commitIndex: 50, lastApplied: 50 });
    expect([...c.votingMembers].sort()).toEqual(['a:1', 'c:1']);
    expect(sent(after, true).at(-1)?.message).toEqual({
      type: 'next_node_idx',
      nextNodeIdx: 51,
      reset: false,
      success: true,
      term: 1,
    });
  });

  it('leader: sends a snapshot in chunks with a final empty isLast chunk to a follower behind the log start', () => {
    const c = node('a:1', ['b:1'], [e(2, 1), e(3, 1), e(4, 1)], 1);
    elect(c, ['b:1']);
    c.onPersisted(5, 2, 10_010);
    c.step('b:1', { type: 'next_node_idx', nextNodeIdx: 6, reset: false, success: true }, 10_011);
    expect(c.status().commitIndex).toBe(5);
    drain(c);
    c.compact({ data: Uint8Array.of(1, 2, 3, 4, 5, 6), lastIndex: 4, lastTerm: 1 }, 10_012);
    expect(c.status().firstIndex).toBe(3);
    c.peerDisconnected('b:1', 10_013);
    c.peerConnected('b:1', false, 10_014); // fresh progress: nextIndex = last + 1
    drain(c);
    c.step('b:1', { type: 'next_node_idx', nextNodeIdx: 2, reset: true, success: false }, 10_015);
    const msgs = sent(drain(c)).map((m) => m.message);
    const chunks = msgs.filter((m) => m.type === 'append_entries_snapshot');
    expect(
      chunks.map((m) => (m.type === 'append_entries_snapshot' ? [...(m.serialized?.data ?? [])] : [])),
    ).toEqual([[1, 2, 3, 4], [5, 6], []]);
    expect(
      chunks.map((m) =>
        m.type === 'append_entries_snapshot' ? [m.serialized?.isFirst, m.serialized?.isLast] : [],
      ),
    ).toEqual([
      [true, false],
      [false, false],
      [false, true],
    ]);
    // then regular entries follow from the dump's last index + 1
    expect(msgs.at(-1)).toMatchObject({ type: 'append_entries', prevLogIdx: 4, prevLogTerm: 1 });
  });
});

describe('RaftCore proposals and membership', () => {
  it('forwards from a follower, fails LEADER_CHANGED on a leader change, NOT_LEADER and MISSING_LEADER for remote calls', () => {
    const c = node('b:1', ['a:1', 'c:1'], [], 1);
    c.propose(simCommand(1), 7, 0);
    expect(drain(c).flatMap((o) => o.proposals)).toEqual([
      { ref: 7, kind: 'failed', reason: FailReason.MissingLeader },
    ]);
    c.step('r', { type: 'apply_command', command: simCommand(2), requestId: 3 }, 1);
    expect(sent(drain(c)).map((m) => m.message)).toEqual([
      { type: 'apply_command_response', requestId: 3, error: FailReason.MissingLeader },
    ]);
    c.step(
      'a:1',
      { type: 'append_entries', term: 1, commitIndex: 1, prevLogIdx: 1, prevLogTerm: 0, entries: [] },
      2,
    );
    drain(c);
    c.propose(simCommand(3), 8, 3);
    const fwd = sent(drain(c));
    expect(fwd).toEqual([
      { to: 'a:1', message: { type: 'apply_command', command: simCommand(3), requestId: 1 } },
    ]);
    c.step('r', { type: 'apply_command', command: simCommand(4), requestId: 4 }, 4);
    expect(sent(drain(c)).map((m) => m.message)).toEqual([
      { type: 'apply_command_response', requestId: 4, error: FailReason.NotLeader },
    ]);
    c.step(
      'c:1',
      { type: 'append_entries', term: 2, commitIndex: 1, prevLogIdx: 1, prevLogTerm: 0, entries: [] },
      5,
    );
    expect(drain(c).flatMap((o) => o.proposals)).toEqual([
      { ref: 8, kind: 'failed', reason: FailReason.LeaderChanged },
    ]);
  });

  it('QUEUE_FULL when commands wait for a leader beyond commandsQueueSize', () => {
    const c = node('b:1', ['a:1'], [], 0, { commandsWaitLeader: true, commandsQueueSize: 2 });
    for (let i = 1; i <= 3; i++) c.propose(simCommand(i), i, 0);
    expect(drain(c).flatMap((o) => o.proposals)).toEqual([
      { ref: 3, kind: 'failed', reason: FailReason.QueueFull },
    ]);
  });

  it('allows one uncommitted membership change, only after its no-op applied, never removing itself', () => {
    const c = node('a:1', ['b:1', 'c:1']);
    elect(c, ['b:1', 'c:1']);
    c.propose(simMembershipCommand({ op: 'add', node: 'd:1' }), 1, 10_002);
    expect(drain(c).flatMap((o) => o.proposals)).toEqual([
      { ref: 1, kind: 'failed', reason: FailReason.RequestDenied },
    ]);
    c.onPersisted(2, 1, 10_003);
    c.step('b:1', { type: 'next_node_idx', nextNodeIdx: 3, reset: false, success: true }, 10_004);
    drain(c);
    c.propose(simMembershipCommand({ op: 'add', node: 'd:1' }), 2, 10_005);
    c.propose(simMembershipCommand({ op: 'add', node: 'e:1' }), 3, 10_006);
    c.propose(simMembershipCommand({ op: 'rem', node: 'a:1' }), 4, 10_007);
    const props = drain(c).flatMap((o) => o.proposals);
    expect(props).toEqual([
      { ref: 2, kind: 'assigned', index: 3, term: 1 },
      { ref: 3, kind: 'failed', reason: FailReason.RequestDenied },
      { ref: 4, kind: 'failed', reason: FailReason.RequestDenied },
    ]);
    expect(c.votingMembers).toContain('d:1'); // effective on append
  });

  it('rolls a truncated membership change back on a follower, and a removed node stops campaigning', () => {
    const c = node('b:1', ['a:1', 'c:1'], [], 1);
    const add = { command: simMembershipCommand({ op: 'add', node: 'd:1' }), index: 2, term: 1 };
    c.step(
      'a:1',
      { type: 'append_entries', term: 1, commitIndex: 1, prevLogIdx: 1, prevLogTerm: 0, entries: [add] },
      1,
    );
    expect(c.votingMembers).toContain('d:1');
    c.step(
      'c:1',
      { type: 'append_entries', term: 2, commitIndex: 1, prevLogIdx: 1, prevLogTerm: 0, entries: [e(2, 2)] },
      2,
    );
    expect(c.votingMembers).not.toContain('d:1');
    const rem = { command: simMembershipCommand({ op: 'rem', node: 'b:1' }), index: 3, term: 2 };
    c.step(
      'c:1',
      { type: 'append_entries', term: 2, commitIndex: 3, prevLogIdx: 2, prevLogTerm: 2, entries: [rem] },
      3,
    );
    drain(c);
    expect(c.status().selfRemoved).toBe(true);
    c.peerConnected('a:1', false, 4);
    c.tick(1_000_000);
    expect(c.role).toBe(RaftState.Follower);
    expect(c.currentTerm).toBe(2);
  });
});
