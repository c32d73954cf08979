/**
 * A model of a Python pysyncobj 0.3.11 node in the follower role (Debian's python3-pysyncobj,
 * /usr/lib/python3/dist-packages/pysyncobj/syncobj.py): what it does with each message a leader or
 * a candidate sends, and what it answers. It consumes the same `RaftMessage`s as `RaftCore.step` and
 * returns the `OutgoingMessage`s it would send, so scripted tests (and the simulator, as a node
 * kind) can put a Python peer next to RaftCores.
 *
 * The behaviours that differ from a RaftCore follower, all from `SyncObj.__onMessageReceived`:
 *  - `next_node_idx` carries no `term` key (`__sendNextNodeIdx` sends type, next_node_idx, reset,
 *    success);
 *  - an `append_entries` whose prevLogIdx matches deletes every entry after prevLogIdx whenever the
 *    log holds any (`if len(prevEntries) > 1: ... self.__deleteEntriesFrom(prevLogIdx + 1)`), even
 *    when they agree with the leader, and even for an empty append (a heartbeat) — the log then
 *    ends exactly where the append ends;
 *  - a successful append is acknowledged with `next_node_idx = index of the last entry received`
 *    (one short; `prevLogIdx + 1` when it carried no entries);
 *  - a prevLogIdx it does not hold (beyond its log or compacted away) is answered
 *    `reset, next = last index + 1`, a term mismatch at prevLogIdx `reset, next = prevLogIdx`;
 *  - 'start'/'process' chunks of a transmitted entry are answered `next = last + 1`, neither success
 *    nor reset; 'finish' is then handled as an append of the decoded entry ('process' or 'finish'
 *    without a 'start' raises TypeError in pysyncobj: the model throws);
 *  - the last chunk of a snapshot replaces the log by the dump's [prev, last] entries
 *    (`__loadDumpFile(clearJournal=True)`) and is answered `success, next = last + 1`;
 *  - after a handled append (not after the early returns) the commit index becomes
 *    `min(leader commit, last index)` — it can go down;
 *  - an append_entries of an older term is ignored: no answer at all;
 *  - a vote is granted by the last-log check and `votedFor is None` only; nothing is persisted;
 *  - a forwarded `apply_command` with a request id is refused NOT_LEADER, or MISSING_LEADER while it
 *    knows no leader; one without a request id is forwarded to its leader (dropped while it knows
 *    none) — `_checkCommandsToApply` in its next tick, with Patroni's commandsWaitLeader=False; the
 *    model answers at once.
 *
 * Not modelled: campaigning and leading (the model never leaves the follower role), the rollback and
 * application of membership entries, persistence (pysyncobj keeps term and vote in memory).
 */
import {
  FailReason,
  type LogEntry,
  type NodeId,
  type OutgoingMessage,
  type RaftMessage,
} from '../../src/raft/core/types.js';

export interface PysyncobjFollowerOptions {
  /** decode a reassembled transmission buffer into its entry (pysyncobj: pickle.loads); may throw */
  readonly decodeTransmittedEntry?: (data: Uint8Array) => LogEntry;
  /** the dump's [prev, last] entries of a received snapshot; null = it does not load (log kept) */
  readonly loadSnapshot?: (data: Uint8Array) => { prevEntry: LogEntry; lastEntry: LogEntry } | null;
}

export class PysyncobjFollower {
  term: number;
  votedFor: NodeId | null = null;
  leader: NodeId | null = null;
  commitIndex: number;
  /** pysyncobj applies committed entries in its tick; `applyCommitted` hands them out */
  lastApplied: number;
  /** the log; log[0] is the first entry held (index 1 at start, the dump's prev after a snapshot) */
  private log: LogEntry[];
  private recvTransmission: Uint8Array[] | null = null;
  private snapshotChunks: Uint8Array[] | null = null;

  constructor(
    readonly id: NodeId,
    entries: readonly LogEntry[],
    term = 0,
    private readonly opts: PysyncobjFollowerOptions = {},
  ) {
    if (entries.length === 0) throw new Error('a pysyncobj log holds at least one entry');
    this.log = entries.slice();
    this.term = term;
    this.commitIndex = (entries[0] as LogEntry).index;
    this.lastApplied = this.commitIndex;
  }

  get lastIndex(): number {
    return (this.log[this.log.length - 1] as LogEntry).index;
  }

  get lastTerm(): number {
    return (this.log[this.log.length - 1] as LogEntry).term;
  }

  get firstIndex(): number {
    return (this.log[0] as LogEntry).index;
  }

  entries(): LogEntry[] {
    return this.log.slice();
  }

  termAt(index: number): number | undefined {
    return this.log[index - this.firstIndex]?.term;
  }

  /** An independent copy (to ask what the node will hold after messages still on their way). */
  clone(): PysyncobjFollower {
    const c = new PysyncobjFollower(this.id, this.log, this.term, this.opts);
    c.votedFor = this.votedFor;
    c.leader = this.leader;
    c.commitIndex = this.commitIndex;
    c.lastApplied = this.lastApplied;
    c.recvTransmission = this.recvTransmission === null ? null : this.recvTransmission.slice();
    c.snapshotChunks = this.snapshotChunks === null ? null : this.snapshotChunks.slice();
    return c;
  }

  /** Committed entries not applied yet (pysyncobj's `__applyLogEntries` in its tick). */
  applyCommitted(): LogEntry[] {
    if (this.commitIndex <= this.lastApplied) return [];
    const out = this.log.filter((e) => e.index > this.lastApplied && e.index <= this.commitIndex);
    if (out.length > 0) this.lastApplied = (out[out.length - 1] as LogEntry).index;
    return out;
  }

  /** Handle one message from `from`; returns what the Python node sends in reply. */
  step(from: NodeId, m: RaftMessage): OutgoingMessage[] {
    const out: OutgoingMessage[] = [];
    const send = (message: RaftMessage) => out.push({ to: from, message });
    const nextNodeIdx = (success: boolean, reset: boolean, next = this.lastIndex + 1) =>
      send({ type: 'next_node_idx', nextNodeIdx: next, reset, success });

    switch (m.type) {
      case 'request_vote': {
        if (m.term > this.term) {
          this.term = m.term;
          this.votedFor = null;
          this.leader = null;
        }
        if (m.term < this.term) return out;
        if (m.lastLogTerm < this.lastTerm) return out;
        if (m.lastLogTerm === this.lastTerm && m.lastLogIndex < this.lastIndex) return out;
        if (this.votedFor !== null) return out;
        this.votedFor = from;
        send({ type: 'response_vote', term: m.term });
        return out;
      }
      case 'append_entries':
      case 'append_entries_transmission':
      case 'append_entries_snapshot': {
        if (m.term < this.term) return out; // no answer to an older leader
        this.leader = from;
        if (m.term > this.term) {
          this.term = m.term;
          this.votedFor = null;
        }
        const leaderCommit = m.commitIndex;
        if (m.type === 'append_entries_snapshot') {
          this.onSnapshotChunk(m.serialized, nextNodeIdx);
        } else {
          let entries: readonly LogEntry[] = m.type === 'append_entries' ? m.entries : [];
          if (m.type === 'append_entries_transmission') {
            if (m.transmission === 'start') this.recvTransmission = [];
            else if (this.recvTransmission === null) {
              // its buffer is then the str '': `'' + bytes` raises TypeError in the handler
              throw new Error(
                `PysyncobjFollower ${this.id}: transmission '${m.transmission}' without 'start'`,
              );
            }
            if (m.transmission !== 'finish') {
              this.recvTransmission.push(m.data);
              nextNodeIdx(false, false);
              return out;
            }
            const parts = [...this.recvTransmission, m.data];
            this.recvTransmission = null;
            const decode = this.opts.decodeTransmittedEntry;
            if (decode === undefined) throw new Error('PysyncobjFollower: no decodeTransmittedEntry');
            entries = [decode(concat(parts))];
          }
          const prev = this.log[m.prevLogIdx - this.firstIndex];
          if (m.prevLogIdx < this.firstIndex || prev === undefined) {
            nextNodeIdx(false, true);
            return out;
          }
          if (prev.term !== m.prevLogTerm) {
            nextNodeIdx(false, true, m.prevLogIdx);
            return out;
          }
          // everything after prevLogIdx goes, whether it agrees with the leader or not
          this.log.length = m.prevLogIdx - this.firstIndex + 1;
          for (const e of entries) {
            if (e.index !== this.lastIndex + 1) {
              // pysyncobj appends without looking; a real node's log would now be corrupt
              throw new Error(
                `PysyncobjFollower ${this.id}: entry ${e.index} appended after ${this.lastIndex}`,
              );
            }
            this.log.push(e);
          }
          const last = entries[entries.length - 1];
          nextNodeIdx(true, false, last === undefined ? m.prevLogIdx + 1 : last.index);
        }
        this.commitIndex = Math.min(leaderCommit, this.lastIndex);
        return out;
      }
      case 'apply_command':
        if (m.requestId !== undefined) {
          send({
            type: 'apply_command_response',
            requestId: m.requestId,
            error: this.leader === null ? FailReason.MissingLeader : FailReason.NotLeader,
          });
        } else if (this.leader !== null) {
          // no callback to answer: it is treated as its own command and forwarded again
          out.push({ to: this.leader, message: { type: 'apply_command', command: m.command } });
        }
        return out;
      case 'response_vote':
      case 'next_node_idx':
      case 'apply_command_response':
        return out; // a follower ignores them
      case 'timeout_now':
        return out; // a type pysyncobj does not know: no branch of __onMessageReceived matches
    }
  }

  private onSnapshotChunk(
    chunk: { data: Uint8Array; isFirst: boolean; isLast: boolean } | null,
    nextNodeIdx: (success: boolean, reset: boolean) => void,
  ): void {
    if (chunk === null) return;
    if (chunk.isFirst) this.snapshotChunks = [];
    else if (this.snapshotChunks === null) return;
    this.snapshotChunks.push(chunk.data);
    if (!chunk.isLast) return;
    const data = concat(this.snapshotChunks);
    this.snapshotChunks = null;
    const loaded = this.opts.loadSnapshot?.(data) ?? null;
    if (loaded !== null) {
      this.log = [loaded.prevEntry, loaded.lastEntry];
      this.lastApplied = loaded.lastEntry.index;
    }
    // sent even when the dump failed to load (`__loadDumpFile` logs the exception and returns)
    nextNodeIdx(true, false);
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
