/**
 * How a RaftCore leader counts a follower whose answers carry no term (a pysyncobj 0.3.11 one,
 * modelled by test/sim/pysyncobj-follower.ts): such a follower deletes everything after prevLogIdx
 * on EVERY append it accepts, so while a burst of appends sent after a rewind is processed it holds,
 * one append after the other, only up to each append's prevLogIdx. The leader may count it only for
 * what it holds at every moment — a vote it grants in that window must not lose a committed entry.
 *
 * Driven message by message over in-order queues (pysyncobj runs over TCP); after every delivered
 * message: matchIndex[P] ≤ what P holds now (same term there) and ≤ what it will hold once it has
 * processed everything on its way to it.
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
import { Rng } from '../sim/rng.js';
import { simCommand } from '../sim/toy-commands.js';
import { drain, e, flush, node } from './core-helpers.js';

const A = 'a:1';
const P = 'p:1';
const Q = 'q:1';

/** A leader `a`, a Python follower P and in-order links between them; Q exists but never answers. */
class Harness {
  readonly toP: RaftMessage[] = [];
  readonly toA: RaftMessage[] = [];
  now = 10_000;
  readonly anomalies: string[] = [];

  constructor(
    readonly a: RaftCore,
    readonly py: PysyncobjFollower,
  ) {}

  /** Hand over a's output (its own entries durable at once) and put what goes to P on P's link. */
  flush(): void {
    for (let i = 0; i < 10; i++) {
      const outs = drain(this.a);
      if (outs.length === 0) break;
      for (const o of outs) {
        for (const m of [...o.send, ...o.sendAfterPersist] as OutgoingMessage[])
          if (m.to === P) this.toP.push(m.message);
        for (const ev of o.events) if (ev.type === 'anomaly') this.anomalies.push(ev.message);
      }
      const st = this.a.status();
      if (st.persistedIndex < st.lastIndex) this.a.onPersisted(st.lastIndex, st.lastTerm, this.now);
    }
  }

  tick(ms = 100): void {
    this.now += ms;
    this.a.tick(this.now);
    this.flush();
  }

  /** P processes the next message on its link. */
  deliverToP(): void {
    const m = this.toP.shift();
    if (m === undefined) throw new Error('nothing on the way to P');
    for (const r of this.py.step(A, m)) this.toA.push(r.message);
    this.check();
  }

  /** a processes P's next answer. */
  deliverToA(): void {
    const m = this.toA.shift();
    if (m === undefined) throw new Error('nothing on the way to a');
    this.now += 1;
    this.a.step(P, m, this.now);
    this.flush();
    this.check();
  }

  /** What P will hold once it has processed everything on its way to it. */
  private future(): PysyncobjFollower {
    const f = this.py.clone();
    for (const m of this.toP) f.step(A, m);
    return f;
  }

  check(): void {
    const st = this.a.status();
    const match = st.matchIndex.get(P) ?? 0;
    for (const [label, holder] of [
      ['now', this.py],
      ['once its link is drained', this.future()],
    ] as const) {
      expect(match, `matchIndex[P] ≤ what P holds ${label}`).toBeLessThanOrEqual(holder.lastIndex);
      if (match > 1)
        expect(holder.termAt(match), `P's term at ${match} ${label}`).toBe(this.a.entryAt(match)?.term);
      // Q never answered: a commit beyond 1 counted P, which must hold it — else a candidate whose
      // log ends just before it gets P's vote (and Q's) and the committed entry is lost
      if (st.commitIndex > 1) {
        const before = this.a.entryAt(st.commitIndex - 1);
        const candidate = holder.clone();
        const granted = candidate
          .step('c:1', {
            type: 'request_vote',
            term: candidate.term + 1,
            lastLogIndex: st.commitIndex - 1,
            lastLogTerm: before?.term ?? 0,
          })
          .some((r) => r.message.type === 'response_vote');
        expect(granted, `P (${label}) would elect a candidate lacking committed ${st.commitIndex}`).toBe(
          false,
        );
      }
    }
  }
}

/** a (log 2..10 of term 1) elected in term 2 by Q; P holds 2..5 of term 1. */
function setUp(over: { batch: number; round: number }): Harness {
  const a = node(
    A,
    [P, Q],
    [2, 3, 4, 5, 6, 7, 8, 9, 10].map((i) => e(i, 1)),
    1,
    { appendEntriesBatchSizeBytes: over.batch, maxSendBytesPerRound: over.round },
  );
  const py = new PysyncobjFollower(
    P,
    [{ command: NO_OP_COMMAND, index: 1, term: 0 }, ...[2, 3, 4, 5].map((i) => e(i, 1))],
    1,
  );
  const h = new Harness(a, py);
  a.peerConnected(P, false, 0);
  a.peerConnected(Q, false, 0);
  a.tick(h.now);
  a.step(Q, { type: 'response_vote', term: 2 }, ++h.now);
  expect(a.role).toBe(RaftState.Leader);
  h.flush();
  h.toP.length = 0; // a won without P: its request_vote is dropped
  return h;
}

describe('counting a follower that answers without a term (pysyncobj)', () => {
  /*
   * The burst of seed 1005 (swarm): the leader rewound P to 6 on a reset and sent 6..13; a stale
   * reset (P answered several appends it could not place) rewound it to 6 again and it sent 6..13
   * once more. P acknowledged the first burst while the second was on its way: the old rule counted
   * those acknowledgements up to nextIndex − 1 = 13 (where P ends once the second burst is
   * through), but the second burst's first append cuts P back to 5 and P then holds 6, 7, …: in
   * that window P votes for a candidate lacking entries it was counted for (in seed 1005 such a
   * candidate won, and an entry committed counting P was lost).
   */
  it('never counts P beyond what it holds while a burst sent after a second rewind truncates it', () => {
    // one entry per append_entries and one append per peer and round
    const h = setUp({ batch: 1, round: 1 });
    const { a, py } = h;
    // 11 is a's no-op (term 2); 12, 13 client writes
    a.propose(simCommand(12), null, h.now);
    a.propose(simCommand(13), null, h.now);
    h.flush();
    h.tick(); // a heartbeat: another append P cannot place
    expect(h.toP.length).toBeGreaterThanOrEqual(2);
    while (h.toP.length > 0) h.deliverToP();
    const resets = h.toA.filter((m) => m.type === 'next_node_idx' && m.reset && m.nextNodeIdx === 6);
    expect(resets.length).toBeGreaterThanOrEqual(2);

    h.deliverToA(); // the first reset: a rewinds P to 6
    for (let i = 0; i < 40 && (a.status().nextIndex.get(P) ?? 0) <= 13; i++) h.tick();
    expect(a.status().nextIndex.get(P)).toBe(14); // burst 1: 6..13 on its way
    const burst1 = h.toP.length;
    h.now += 200; // past the rewind damping: the stale reset sends at once
    while (h.toA.length > 0) h.deliverToA(); // the other (stale) resets: rewound to 6 again
    for (let i = 0; i < 40 && (a.status().nextIndex.get(P) ?? 0) <= 13; i++) h.tick();
    expect(a.status().nextIndex.get(P)).toBe(14); // burst 2: 6..13 again behind burst 1
    expect(h.toP.length).toBeGreaterThan(burst1);

    // P gets burst 1 and the start of burst 2; a gets P's answers to burst 1 meanwhile
    for (let i = 0; i < burst1; i++) h.deliverToP();
    for (let i = 0; i < 2; i++) h.deliverToP(); // burst 2 cuts P back: it holds 6, then 7
    expect(py.lastIndex).toBeLessThan(9);
    while (h.toA.length > 0) h.deliverToA();

    // then everything settles: P catches up and a commits what P holds
    for (
      let i = 0;
      i < 200 && (py.lastIndex < a.status().lastIndex || h.toP.length + h.toA.length > 0);
      i++
    ) {
      if (h.toP.length > 0) h.deliverToP();
      else if (h.toA.length > 0) h.deliverToA();
      else h.tick();
    }
    expect(py.entries().map((x) => [x.index, x.term])).toEqual(
      a.entriesFrom(1).map((x) => [x.index, x.term]),
    );
    for (let i = 0; i < 20 && a.status().commitIndex < 13; i++) {
      h.tick();
      while (h.toP.length + h.toA.length > 0) {
        if (h.toP.length > 0) h.deliverToP();
        else h.deliverToA();
      }
    }
    expect(a.status().commitIndex).toBe(13);
    expect(h.anomalies).toEqual([]);
  });

  /*
   * P ignores (never answers) appends of a term older than its own. a led term 2; P heard of term
   * 3 from Q's request_vote (another link) while a's heartbeats of term 2 were on their way; a then
   * won term 4. P's answers now run behind a's record of what it sent — counting less, never more
   * — until P's vote for term 4, which left P after all those heartbeats: a drops them from its
   * record and counts P again at once.
   */
  it('a vote of P for a new term settles the appends of older terms it ignored', () => {
    const h = setUp({ batch: 65536, round: 1 << 20 });
    const { a, py } = h;
    const settle = () => {
      for (let i = 0; i < 100 && h.toP.length + h.toA.length > 0; i++) {
        if (h.toP.length > 0) h.deliverToP();
        else h.deliverToA();
      }
    };
    for (let i = 0; i < 5 && a.status().commitIndex < a.status().lastIndex; i++) {
      settle();
      h.tick();
    }
    settle();
    expect(a.status().commitIndex).toBe(11);
    expect(a.status().matchIndex.get(P)).toBe(11);

    for (let i = 0; i < 5; i++) h.tick(); // five heartbeats of term 2 on their way to P
    expect(h.toP).toHaveLength(5);
    const vote: RaftMessage = { type: 'request_vote', term: 3, lastLogIndex: 1, lastLogTerm: 0 };
    py.step(Q, vote);
    a.step(Q, vote, ++h.now);
    h.flush();
    h.tick(2000); // a campaigns for term 4: its request_vote goes behind the heartbeats
    a.step(Q, { type: 'response_vote', term: 4 }, ++h.now);
    expect(a.role).toBe(RaftState.Leader);
    h.flush(); // its no-op at 12
    settle(); // P ignores the five heartbeats, votes for a, takes 12; a heartbeat confirms 12
    expect(h.toA).toEqual([]);
    expect(a.status().matchIndex.get(P)).toBe(12);
    expect(a.status().commitIndex).toBe(12);
  });

  /*
   * The same leader and follower under seeded interleavings: proposals, ticks, rewinds, bursts of
   * several appends per round, deliveries in order on each link but in any order between the
   * links; connections that break (what was in flight is lost); and re-elections where P first
   * hears of a later term from another candidate, so it ignores (never answers) the appends of
   * a's old term still on their way — P's answers then run behind the appends a recorded, until
   * P's vote for a's new term (sent after all of them) tells a they are all done. The invariant
   * holds after every message, and P still catches up and is counted in the end.
   */
  it('holds the invariant under random interleavings, reconnects and re-elections; P is counted in the end', () => {
    let reelections = 0;
    let reconnects = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const rng = new Rng(seed);
      const h = setUp({ batch: rng.pick([1, 20, 60]), round: rng.pick([1, 50, 200]) });
      const { a, py } = h;
      let id = 100;
      for (let step = 0; step < 500; step++) {
        const r = rng.next();
        if (r < 0.08) {
          a.propose(simCommand(id++), null, h.now);
          h.flush();
        } else if (r < 0.2) h.tick(rng.pick([10, 50, 100]));
        else if (r < 0.205) {
          // the connection breaks and comes back: what was on its way is lost
          reconnects++;
          // sometimes with appends made for the old connection not handed over yet
          if (rng.chance(0.5)) {
            h.now += 100;
            a.tick(h.now);
          }
          h.toP.length = 0;
          h.toA.length = 0;
          a.peerDisconnected(P, h.now);
          a.peerConnected(P, false, ++h.now);
          h.flush();
          h.check();
        } else if (r < 0.21) {
          // Q campaigns after a went unheard for an election timeout (a leader still hearing from
          // a majority would disregard it: leader stickiness): P hears of it at once (another
          // link), a too; neither votes for Q's short log
          reelections++;
          h.now += 450;
          const vote: RaftMessage = {
            type: 'request_vote',
            term: a.currentTerm + 1,
            lastLogIndex: 1,
            lastLogTerm: 0,
          };
          py.step(Q, vote);
          a.step(Q, vote, ++h.now);
          h.flush();
          expect(a.role).toBe(RaftState.Follower);
          h.check();
          // a campaigns (its request_vote to P goes behind its old appends) and wins with Q's vote
          h.tick(2000);
          expect(a.role).toBe(RaftState.Candidate);
          a.step(Q, { type: 'response_vote', term: a.currentTerm }, ++h.now);
          expect(a.role).toBe(RaftState.Leader);
          h.flush();
          h.check();
        } else if (r < 0.6 && h.toP.length > 0) h.deliverToP();
        else if (h.toA.length > 0) h.deliverToA();
      }
      // settle: no more proposals
      for (let i = 0; i < 1000; i++) {
        if (h.toP.length > 0) h.deliverToP();
        else if (h.toA.length > 0) h.deliverToA();
        else if (a.status().commitIndex === a.status().lastIndex) break;
        else h.tick();
      }
      expect(a.status().commitIndex, `seed ${seed}`).toBe(a.status().lastIndex);
      expect(py.lastIndex, `seed ${seed}`).toBe(a.status().lastIndex);
      expect(h.anomalies, `seed ${seed}`).toEqual([]);
    }
    expect(reelections).toBeGreaterThan(10);
    expect(reconnects).toBeGreaterThan(10);
  });

  /*
   * SAFETY (Python followers). The bug: the clamp "never rewind below matchIndex + 1" counted only
   * the acknowledgements received. A pysyncobj follower deletes every entry after prevLogIdx on each
   * append it accepts (syncobj.py, __onMessageReceived, append_entries: `if len(prevEntries) > 1:
   * ... self.__deleteEntriesFrom(prevLogIdx + 1)`), so an append sent after a rewind undoes entries
   * whose acknowledgement is still on its way: leader a sends 6..13 to P (one entry per message and
   * round); a stale reset from P (P answered several appends it could not place with "next 6")
   * rewinds a to 6 again and a sends (6) alone (round budget); P acknowledges 6..13, then truncates
   * after 5 and re-adds 6 only. a recorded match 12 while P held 6, committed 12 and 13 (term 2)
   * counting P — only a held them; and since the rewind clamp was then max(7, 13), a sent from 13
   * forever and P never caught up.
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
