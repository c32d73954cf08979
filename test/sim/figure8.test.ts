/**
 * The Raft paper's Figure 8, scripted message by message on five RaftCores: a leader must not
 * commit an entry of an earlier term just because a majority holds it (Raft paper §5.4.2). The test-only
 * fault `commitPreviousTermByCounting` does exactly that (as pysyncobj 0.3.11 does); the very same
 * script must then make the SafetyChecker report a committed entry that a later leader overwrites,
 * while the real core commits nothing in (c) and every node applies the same entries.
 *
 * The network delivers exactly the messages a phase's rule accepts and drops every other one;
 * persistence is synchronous; time is explicit; the election timeout is fixed (random = 0.5);
 * only the node named by the script is ticked. Everyone starts at term 1 with the log [1: no-op],
 * so the terms are the paper's. A new leader appends a no-op, which takes an index: the figure's
 * single entry at index 2 is here the pair 2–3 (the term-2 leader's no-op at 2 and client command
 * A at 3, against the term-3 leader's no-op at 2 and command B at 3).
 *
 *          index:  1  2  3  4                (a) S1 leads term 2: index 2 reaches S2 only;
 *   (a)  S1        -  2  2                       A (index 3) stays on S1.
 *        S2        -  2                      (b) S5 is elected in term 3 by S3, S4 and itself (S1
 *                                                and S2 refuse: their logs are newer), appends
 *   (b)  S5        -  3  3                       its no-op and B locally only.
 *                                            (c) S1 is elected in term 4 by S2 and S3 (S5 hears
 *   (c)  S1        -  2  2  4                    the request and refuses), brings S2 and S3 up to
 *        S2        -  2  2                       index 3 — term 2 on a majority — but its own
 *        S3        -  2  2                       term-4 no-op reaches nobody. Counting replicas,
 *                                                the faulty leader commits 2–3 and applies A.
 *   (d)  S5        -  3  3  5                (d) S1 is cut off; S5 is elected in term 5 by S2, S3,
 *        S2 S3 S4  -  3  3  5                    S4 (its last term 3 beats their 2) and replaces
 *                                                2–3 on them: B is committed at index 3.
 *                                            (e) S1 rejoins and must follow S5.
 */
import { describe, expect, it } from 'vitest';
import { RaftCore, RaftInvariantError } from '../../src/raft/core/core.js';
import { type CoreOptions, DEFAULT_CORE_TIMING, type UnsafeTestFaults } from '../../src/raft/core/options.js';
import {
  type AppendEntries,
  type LogEntry,
  NO_OP_COMMAND,
  type NodeId,
  type RaftMessage,
  RaftState,
} from '../../src/raft/core/types.js';
import { type CheckedCluster, commandKey, SafetyChecker, SimViolation } from './checker.js';
import { decodeSimMembership, simCommand } from './toy-commands.js';

const NODES = ['s1', 's2', 's3', 's4', 's5'] as const;
type Id = (typeof NODES)[number];
const A = simCommand(1); // proposed to S1 in term 2
const B = simCommand(2); // proposed to S5 in term 3

interface Msg {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly message: RaftMessage;
}

/** Five cores, a scripted network and the simulator's SafetyChecker, collecting its violations. */
class ScriptedCluster implements CheckedCluster {
  readonly seed = 0;
  readonly label = 'figure8';
  readonly checker = new SafetyChecker();
  readonly cores = new Map<NodeId, RaftCore>();
  /** entries each node handed to its state machine, in order */
  readonly applied = new Map<NodeId, LogEntry[]>();
  /** every distinct SafetyChecker violation (the checker throws; the script goes on) */
  readonly violations: SimViolation[] = [];
  /** a core that threw (a RaftInvariantError) is dead from then on */
  readonly coreErrors: { node: NodeId; error: RaftInvariantError }[] = [];
  readonly dead = new Set<NodeId>();
  now = 0;
  delivered = 0;
  dropped = 0;
  private inFlight: Msg[] = [];

  constructor(faults: UnsafeTestFaults | undefined) {
    for (const id of NODES) {
      const options: CoreOptions = {
        ...DEFAULT_CORE_TIMING,
        selfId: id,
        leaderFallbackTimeoutMs: 1_000_000, // leaders step down only when they learn a newer term
        appendEntriesBatchSizeBytes: 1, // one entry per append_entries: deliveries pick indexes
        appendEntriesUseBatch: false,
        commandsWaitLeader: false,
        dynamicMembershipChange: false,
        random: () => 0.5, // election timeout 900 ms
        decodeMembership: decodeSimMembership,
        decodeTransmittedEntry: () => {
          throw new Error('no transmissions in this test');
        },
        unsafeTestFaults: faults,
      };
      const core = new RaftCore(options, {
        hardState: { term: 1, votedFor: null },
        entries: [{ command: NO_OP_COMMAND, index: 1, term: 0 }],
        commitIndex: 1,
        lastApplied: 1,
        peers: NODES.filter((p) => p !== id),
        nowMs: 0,
      });
      this.cores.set(id, core);
      this.applied.set(id, []);
    }
    // the links stay up: "isolated" and "crashed" are the script dropping every message
    for (const id of NODES) {
      this.input(id, (c) => {
        for (const p of NODES) if (p !== id) c.peerConnected(p, false, 0);
      });
    }
  }

  core(id: Id): RaftCore {
    return this.cores.get(id) as RaftCore;
  }

  liveNodes(): { id: NodeId; core: RaftCore; voter: boolean }[] {
    return NODES.filter((id) => !this.dead.has(id)).map((id) => ({ id, core: this.core(id), voter: true }));
  }

  /** Let `id`'s election timer (or heartbeat timer) fire: time moves to `at`. */
  tick(id: Id, at: number): void {
    this.now = at;
    this.input(id, (c) => c.tick(at));
  }

  propose(id: Id, command: Uint8Array): void {
    this.input(id, (c) => c.propose(command, null, this.now));
  }

  /**
   * Deliver the messages in flight that `rule` accepts, drop the others, and go on with the
   * messages those deliveries produce until nothing is in flight.
   */
  deliver(rule: (m: Msg) => boolean): void {
    while (this.inFlight.length > 0) {
      const batch = this.inFlight;
      this.inFlight = [];
      for (const m of batch) {
        if (this.dead.has(m.to) || !rule(m)) {
          this.dropped++;
          continue;
        }
        this.delivered++;
        this.input(m.to as Id, (c) => c.step(m.from, m.message, this.now));
      }
    }
  }

  /** Deliver by `rule`, then let the leader's heartbeat fire, `rounds` times (rewinds are paced by it). */
  settle(leader: Id, rule: (m: Msg) => boolean, rounds: number): void {
    for (let i = 0; i < rounds; i++) {
      this.deliver(rule);
      this.tick(leader, this.now + 200);
    }
    this.deliver(rule);
  }

  appliedAt(id: Id, index: number): string | undefined {
    const e = this.applied.get(id)?.find((x) => x.index === index);
    return e && describeEntry(e);
  }

  /** One input to one core, then the runtime's job (persist at once, send, apply) and the checks. */
  private input(id: NodeId, fn: (core: RaftCore) => void): void {
    if (this.dead.has(id)) return;
    const core = this.cores.get(id) as RaftCore;
    try {
      fn(core);
      for (let out = core.takeOutput(); out !== null; out = core.takeOutput()) {
        this.check(() => this.checker.onOutput(this, id, core, out));
        for (const m of out.send) this.inFlight.push({ from: id, to: m.to, message: m.message });
        const last = out.entries.at(-1);
        if (last !== undefined) core.onPersisted(last.index, last.term, this.now);
        for (const m of out.sendAfterPersist) this.inFlight.push({ from: id, to: m.to, message: m.message });
        for (const e of out.apply) {
          this.applied.get(id)?.push(e);
          this.check(() => this.checker.onApply(this, id, e));
        }
      }
    } catch (error) {
      if (!(error instanceof RaftInvariantError)) throw error;
      this.coreErrors.push({ node: id, error });
      this.dead.add(id);
    }
    this.check(() => this.checker.afterStep(this, this.now));
  }

  private check(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (!(e instanceof SimViolation)) throw e;
      if (!this.violations.some((v) => v.property === e.property && v.detail === e.detail)) {
        this.violations.push(e);
      }
    }
  }
}

function describeEntry(e: LogEntry): string {
  return `${e.term}:${commandKey(e.command)}`;
}

const is = (m: Msg, type: RaftMessage['type'], from: readonly NodeId[], to: readonly NodeId[]): boolean =>
  m.message.type === type && from.includes(m.from) && to.includes(m.to);

interface Figure8Run {
  cluster: ScriptedCluster;
  /** S1's commit index at the end of (c), and the terms of S2's and S3's logs then */
  commitAfterC: number;
  termsAfterC: Record<'s1' | 's2' | 's3', number[]>;
}

/** The script: identical deliveries whatever the core does with them. */
function runFigure8(faults: UnsafeTestFaults | undefined): Figure8Run {
  const c = new ScriptedCluster(faults);
  const terms = (id: Id) =>
    c
      .core(id)
      .entriesFrom(1)
      .map((e) => e.term);

  // (a) S1 is elected in term 2 (votes of S2 and S3) and appends its no-op at 2; only S2 receives
  // it. Client command A lands at index 3 and leaves S1 nowhere.
  c.tick('s1', 1_000);
  const ruleA = (m: Msg) =>
    is(m, 'request_vote', ['s1'], NODES) ||
    is(m, 'response_vote', ['s2', 's3'], ['s1']) ||
    (is(m, 'append_entries', ['s1'], ['s2']) &&
      (m.message as AppendEntries).entries.every((e) => e.index <= 2)) ||
    is(m, 'next_node_idx', ['s2'], ['s1']);
  c.deliver(ruleA);
  expect(c.core('s1').role).toBe(RaftState.Leader);
  c.propose('s1', A);
  c.deliver(ruleA);
  expect(terms('s1')).toEqual([0, 2, 2]);
  expect(terms('s2')).toEqual([0, 2]);

  // (b) S1 is cut off. S5 times out: term 3; S1 and S2 hear its request and refuse it (their logs
  // end in term 2, S5's in term 0), S3 and S4 vote for it. S5 appends its no-op and B locally only.
  c.tick('s5', 5_000);
  const ruleB = (m: Msg) =>
    is(m, 'request_vote', ['s5'], NODES) || is(m, 'response_vote', ['s3', 's4'], ['s5']);
  c.deliver(ruleB);
  expect(c.core('s5').role).toBe(RaftState.Leader);
  expect(c.core('s5').currentTerm).toBe(3);
  c.propose('s5', B);
  c.deliver(ruleB);
  expect(terms('s5')).toEqual([0, 3, 3]);

  // (c) S1 times out: term 4, votes of S2 and S3 (S5 hears the request, learns term 4 and refuses:
  // its log ends in term 3). S1 appends its term-4 no-op at index 4 and brings S2 and S3 up to
  // index 3, but the no-op itself reaches nobody: any append_entries that a follower would accept
  // with index 4 in it is dropped (probes they cannot match are delivered, so S1 backs up). Index 3
  // of term 2 is then on a majority (S1, S2, S3), index 4 on S1 alone.
  c.tick('s1', 10_000);
  const carriesIndex4 = (m: Msg) => {
    if (m.message.type !== 'append_entries') return false;
    const { entries, prevLogIdx, prevLogTerm } = m.message;
    return entries.some((e) => e.index >= 4) && c.core(m.to as Id).holdsEntry(prevLogIdx, prevLogTerm);
  };
  const ruleC = (m: Msg) =>
    is(m, 'request_vote', ['s1'], NODES) ||
    is(m, 'response_vote', ['s2', 's3'], ['s1']) ||
    (is(m, 'append_entries', ['s1'], ['s2', 's3']) && !carriesIndex4(m)) ||
    is(m, 'next_node_idx', ['s2', 's3'], ['s1']);
  c.deliver(ruleC);
  expect(c.core('s1').role).toBe(RaftState.Leader);
  expect(c.core('s1').currentTerm).toBe(4);
  const commitAfterC = c.core('s1').status().commitIndex;
  const termsAfterC = { s1: terms('s1'), s2: terms('s2'), s3: terms('s3') };

  // (d) S1 is cut off again. S5 times out: term 5; S2, S3 and S4 vote for it (its last log term 3
  // is newer than their 2). S5 overwrites indexes 2–3 on them and commits its own no-op at 4.
  c.tick('s5', 15_000);
  const others: NodeId[] = ['s2', 's3', 's4'];
  const ruleD = (m: Msg) =>
    (m.from === 's5' && others.includes(m.to)) || (others.includes(m.from) && m.to === 's5');
  c.settle('s5', ruleD, 6);
  expect(c.core('s5').role).toBe(RaftState.Leader);
  expect(c.core('s5').currentTerm).toBe(5);

  // (e) S1 rejoins: every message is delivered; S5 keeps leading (S1 is never ticked).
  c.settle('s5', () => true, 6);
  return { cluster: c, commitAfterC, termsAfterC };
}

describe('Raft figure 8, scripted on five cores', () => {
  it('a core committing earlier-term entries by counting replicas is caught', () => {
    const { cluster: c, commitAfterC, termsAfterC } = runFigure8({ commitPreviousTermByCounting: true });

    // (c): a majority holds term-2 entries 2–3, and the faulty S1 commits and applies them
    expect(termsAfterC).toEqual({ s1: [0, 2, 2, 4], s2: [0, 2, 2], s3: [0, 2, 2] });
    expect(commitAfterC).toBe(3);
    expect(c.appliedAt('s1', 2)).toBe(describeEntry({ command: NO_OP_COMMAND, index: 2, term: 2 }));
    expect(c.appliedAt('s1', 3)).toBe(`2:${commandKey(A)}`);

    // (d): S5 leads term 5 without the committed entries, and then commits others at 2–3
    const properties = c.violations.map((v) => v.property);
    expect(properties[0]).toBe('Leader Completeness');
    expect(c.violations[0]?.detail).toMatch(/^s5 leads term 5 without committed entry 2 /);
    expect(properties).toContain('State Machine Safety');
    expect(properties).toContain('committed entry changed');
    for (const id of ['s2', 's3', 's4', 's5'] as const) {
      expect(c.appliedAt(id, 2), id).toBe(`3:${commandKey(NO_OP_COMMAND)}`);
      expect(c.appliedAt(id, 3), id).toBe(`3:${commandKey(B)}`);
    }
    // the same index applied with different commands: A acknowledged on S1, B everywhere else
    expect(c.appliedAt('s1', 3)).not.toBe(c.appliedAt('s5', 3));

    // (e): S1's own core refuses to give up an entry it committed
    expect(c.coreErrors.map((x) => x.node)).toEqual(['s1']);
    expect(c.coreErrors[0]?.error.message).toMatch(/conflicts with committed entry 2/);
  });

  it('the real core runs the same script without committing in (c) or applying conflicting entries', () => {
    const { cluster: c, commitAfterC, termsAfterC } = runFigure8(undefined);

    // (c): the same replication happened, but a term-2 entry is not committed by counting
    expect(termsAfterC).toEqual({ s1: [0, 2, 2, 4], s2: [0, 2, 2], s3: [0, 2, 2] });
    expect(commitAfterC).toBe(1);

    expect(c.violations.map((v) => v.message)).toEqual([]);
    expect(c.coreErrors).toEqual([]);
    // after (e) every node applied the same entries: term 3's no-op and B, term 5's no-op
    const expected = [
      `3:${commandKey(NO_OP_COMMAND)}`,
      `3:${commandKey(B)}`,
      `5:${commandKey(NO_OP_COMMAND)}`,
    ];
    for (const id of NODES) {
      expect(c.applied.get(id)?.map(describeEntry), id).toEqual(expected);
      expect(c.core(id).status().commitIndex, id).toBe(4);
    }
    // A was never applied anywhere: S1's proposal was lost, never acknowledged
    expect([...c.applied.values()].flat().some((e) => commandKey(e.command) === commandKey(A))).toBe(false);
    expect(c.delivered).toBeGreaterThan(0);
    expect(c.dropped).toBeGreaterThan(0);
  });
});
