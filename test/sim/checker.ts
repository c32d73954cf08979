/**
 * Raft safety properties, checked by the simulator after every step:
 *  - Election Safety: at most one leader per term;
 *  - Log Matching: two entries with the same index and term hold the same command and follow
 *    entries of the same term (so, by induction, the logs are identical up to there);
 *  - Leader Completeness: a new leader holds every entry committed so far;
 *  - State Machine Safety: every node applies the same command at a given index;
 *  - committed entries never change, commit indexes never decrease (per node life),
 *    applied ≤ committed ≤ last index.
 */
import type { CoreOutput, RaftCore } from '../../src/raft/core/core.js';
import { type LogEntry, type NodeId, RaftState } from '../../src/raft/core/types.js';

/** What the checker reads of a simulated cluster (cluster.ts). */
export interface CheckedCluster {
  readonly seed: number;
  /** the profile name and the mode ('lossy', 'lossy --kv'): violations print it in the replay line */
  readonly label: string;
  liveNodes(): readonly { id: NodeId; core: RaftCore; voter: boolean }[];
}

export class SimViolation extends Error {
  override readonly name = 'SimViolation';
  constructor(
    readonly seed: number,
    readonly profile: string,
    readonly atMs: number,
    readonly property: string,
    readonly detail: string,
  ) {
    super(
      `${property} violated (seed ${seed}, profile ${profile}, t=${atMs.toFixed(1)} ms): ${detail}\n` +
        `replay: npm run sim -- --profile ${profile} --seed ${seed}`,
    );
  }
}

/** A command's identity in the checks: its bytes (latin1: one character per byte). */
export function commandKey(command: Uint8Array): string {
  return Buffer.from(command.buffer, command.byteOffset, command.byteLength).toString('latin1');
}

function entryKey(e: LogEntry): string {
  return `${e.term}:${commandKey(e.command)}`;
}

export class SafetyChecker {
  leadersElected = 0;
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly seenEntry = new Map<string, string>(); // "index:term" -> "key|prevTerm"
  private readonly committed = new Map<number, string>(); // index -> entryKey
  /** index -> the term of the node that first reported it committed (the leader that committed it) */
  private readonly committedInTerm = new Map<number, number>();
  private maxCommitted = 0;
  private maxCommittedEntryTerm = 0;
  private readonly applied = new Map<number, string>(); // index -> entryKey
  private readonly lastCommit = new Map<NodeId, number>();
  private readonly recordedUpTo = new Map<NodeId, number>();
  private readonly wasLeader = new Map<NodeId, number>(); // node -> term it led

  private fail(sim: CheckedCluster, now: number, property: string, detail: string): never {
    throw new SimViolation(sim.seed, sim.label, now, property, detail);
  }

  /** the highest commit index any node has reported (as of the last step checked) */
  get maxCommittedIndex(): number {
    return this.maxCommitted;
  }

  /** the term of the entry at maxCommittedIndex */
  get maxCommittedTerm(): number {
    return this.maxCommittedEntryTerm;
  }

  onStart(_sim: CheckedCluster, id: NodeId): void {
    this.lastCommit.delete(id);
    this.recordedUpTo.delete(id);
    this.wasLeader.delete(id);
  }

  onOutput(sim: CheckedCluster, id: NodeId, core: RaftCore, out: CoreOutput): void {
    for (const e of out.entries) {
      const prevTerm = core.entryAt(e.index - 1)?.term;
      const k = `${e.index}:${e.term}`;
      const v = `${commandKey(e.command)}|${prevTerm ?? '?'}`;
      const seen = this.seenEntry.get(k);
      if (seen === undefined) this.seenEntry.set(k, v);
      else if (seen !== v) {
        const [a, pa] = seen.split('|');
        const [b, pb] = v.split('|');
        if (a !== b || (pa !== '?' && pb !== '?' && pa !== pb)) {
          this.fail(sim, -1, 'Log Matching', `${id} holds ${k} = ${v}, another node holds ${seen}`);
        }
      }
    }
  }

  onApply(sim: CheckedCluster, id: NodeId, e: LogEntry): void {
    const k = entryKey(e);
    const prior = this.applied.get(e.index);
    if (prior === undefined) this.applied.set(e.index, k);
    else if (prior !== k) {
      this.fail(
        sim,
        -1,
        'State Machine Safety',
        `${id} applies ${k} at ${e.index}; another node applied ${prior}`,
      );
    }
    const c = this.committed.get(e.index);
    if (c !== undefined && c !== k) {
      this.fail(sim, -1, 'State Machine Safety', `${id} applies ${k} at ${e.index}; committed was ${c}`);
    }
  }

  onSnapshotInstalled(sim: CheckedCluster, id: NodeId, last: LogEntry): void {
    const c = this.committed.get(last.index);
    if (c !== undefined && c !== entryKey(last)) {
      this.fail(
        sim,
        -1,
        'State Machine Safety',
        `${id} installs a snapshot ending with ${entryKey(last)}; committed ${c}`,
      );
    }
  }

  afterStep(sim: CheckedCluster, now: number): void {
    for (const { id, core, voter } of sim.liveNodes()) {
      const st = core.brief();
      if (!(st.lastApplied <= st.commitIndex && st.commitIndex <= st.lastIndex)) {
        this.fail(
          sim,
          now,
          'index order',
          `${id}: applied ${st.lastApplied} commit ${st.commitIndex} last ${st.lastIndex}`,
        );
      }
      const prevCommit = this.lastCommit.get(id);
      if (prevCommit !== undefined && st.commitIndex < prevCommit) {
        this.fail(sim, now, 'monotonic commit index', `${id}: commit ${prevCommit} -> ${st.commitIndex}`);
      }
      this.lastCommit.set(id, st.commitIndex);
      if (st.state === RaftState.Leader) {
        if (!voter) this.fail(sim, now, 'Election Safety', `read-only node ${id} became leader`);
        const other = this.leaderOfTerm.get(st.term);
        if (other !== undefined && other !== id) {
          this.fail(sim, now, 'Election Safety', `${id} and ${other} are both leaders of term ${st.term}`);
        }
        if (other === undefined) {
          this.leaderOfTerm.set(st.term, id);
          this.leadersElected++;
        }
        if (this.wasLeader.get(id) !== st.term) {
          this.wasLeader.set(id, st.term);
          this.checkLeaderCompleteness(sim, now, id, st.term, (i) => core.entryAt(i), st.firstIndex);
        }
      }
      // record newly committed entries; they must never change
      const from = Math.max((this.recordedUpTo.get(id) ?? 0) + 1, st.firstIndex);
      for (let i = from; i <= st.commitIndex; i++) {
        const e = core.entryAt(i);
        if (!e) break;
        const k = entryKey(e);
        const c = this.committed.get(i);
        if (c === undefined) {
          this.committed.set(i, k);
          this.committedInTerm.set(i, st.term);
          if (i > this.maxCommitted) {
            this.maxCommitted = i;
            this.maxCommittedEntryTerm = e.term;
          }
        } else if (c !== k) {
          this.fail(
            sim,
            now,
            'committed entry changed',
            `${id} has ${k} at committed index ${i}; committed was ${c}`,
          );
        }
      }
      this.recordedUpTo.set(id, st.commitIndex);
    }
  }

  private checkLeaderCompleteness(
    sim: CheckedCluster,
    now: number,
    id: NodeId,
    term: number,
    entryAt: (i: number) => LogEntry | undefined,
    firstIndex: number,
  ): void {
    for (let i = Math.max(firstIndex, 1); i <= this.maxCommitted; i++) {
      const c = this.committed.get(i);
      if (c === undefined) continue;
      // Raft's Leader Completeness: a leader of term T holds every entry committed in an earlier
      // term (a candidate whose votes sat unread while it was paused may win a term that others
      // have already left behind; it cannot commit anything then)
      if ((this.committedInTerm.get(i) ?? 0) >= term) continue;
      const e = entryAt(i);
      if (!e || entryKey(e) !== c) {
        this.fail(
          sim,
          now,
          'Leader Completeness',
          `${id} leads term ${term} without committed entry ${i} (${c}); it has ${e ? entryKey(e) : 'nothing'}`,
        );
      }
    }
  }
}
