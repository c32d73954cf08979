/**
 * Types of the pure Raft core: log entries, roles, fail reasons and the pysyncobj message set in
 * typed form. Conversion to and from the wire (Python dicts) lives outside the core
 * (`src/raft/messages.ts`). Nothing here does I/O.
 */

/** A node's identity: its `host:port` address as configured, or a transport id for read-only peers. */
export type NodeId = string;

/** A log entry `(command, idx, term)`. `command[0]` is the command type byte. */
export interface LogEntry {
  readonly command: Uint8Array;
  readonly index: number;
  readonly term: number;
}

export const CommandType = {
  Regular: 0,
  NoOp: 1,
  Membership: 2,
  Version: 3,
} as const;
export type CommandType = (typeof CommandType)[keyof typeof CommandType];

/** pysyncobj's `_RAFT_STATE` numbers (they appear in the `status` utility reply). */
export const RaftState = {
  Follower: 0,
  Candidate: 1,
  Leader: 2,
} as const;
export type RaftState = (typeof RaftState)[keyof typeof RaftState];

export const RAFT_STATE_NAMES: Record<RaftState, string> = {
  0: 'follower',
  1: 'candidate',
  2: 'leader',
};

/** pysyncobj's FAIL_REASON codes (they travel in `apply_command_response`). */
export const FailReason = {
  Success: 0,
  QueueFull: 1,
  MissingLeader: 2,
  Discarded: 3,
  NotLeader: 4,
  LeaderChanged: 5,
  RequestDenied: 6,
} as const;
export type FailReason = (typeof FailReason)[keyof typeof FailReason];

export const FAIL_REASON_NAMES: Record<FailReason, string> = {
  0: 'SUCCESS',
  1: 'QUEUE_FULL',
  2: 'MISSING_LEADER',
  3: 'DISCARDED',
  4: 'NOT_LEADER',
  5: 'LEADER_CHANGED',
  6: 'REQUEST_DENIED',
};

export const NO_OP_COMMAND: Uint8Array = Uint8Array.of(CommandType.NoOp);

/** A membership change carried by a MEMBERSHIP entry. */
export interface MembershipChange {
  readonly op: 'add' | 'rem';
  readonly node: NodeId;
}

// ----------------------------------------------------------------------------------------------
// messages (pysyncobj's, typed)

export interface RequestVote {
  readonly type: 'request_vote';
  readonly term: number;
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  /**
   * raftdcs extension: the candidate campaigns because the leader of the previous term asked it to
   * (`timeout_now`, a leadership transfer), so raftdcs voters that still hear from that leader do
   * not disregard the request (leader stickiness). pysyncobj reads dict keys by name and has no
   * stickiness: the extra key changes nothing for it.
   */
  readonly transfer?: boolean;
}

export interface ResponseVote {
  readonly type: 'response_vote';
  readonly term: number;
}

export interface AppendEntries {
  readonly type: 'append_entries';
  readonly term: number;
  readonly commitIndex: number;
  readonly prevLogIdx: number;
  readonly prevLogTerm: number;
  readonly entries: readonly LogEntry[];
}

/** `append_entries` carrying one chunk of a big pickled entry (pysyncobj's 'transmission'). */
export interface AppendEntriesTransmission {
  readonly type: 'append_entries_transmission';
  readonly term: number;
  readonly commitIndex: number;
  readonly prevLogIdx: number;
  readonly prevLogTerm: number;
  readonly transmission: 'start' | 'process' | 'finish';
  readonly data: Uint8Array;
}

export interface SnapshotChunk {
  readonly data: Uint8Array;
  readonly isFirst: boolean;
  readonly isLast: boolean;
}

/** `append_entries` carrying one chunk of a full dump (`serialized`), or null while it is written. */
export interface AppendEntriesSnapshot {
  readonly type: 'append_entries_snapshot';
  readonly term: number;
  readonly commitIndex: number;
  readonly serialized: SnapshotChunk | null;
}

export interface NextNodeIdx {
  readonly type: 'next_node_idx';
  readonly nextNodeIdx: number;
  readonly reset: boolean;
  readonly success: boolean;
  /**
   * raftdcs extension: the term of the append this answers. pysyncobj neither sends nor reads it
   * (an extra dict key is harmless to it); a leader drops an answer from another term, so a reply
   * delayed from an earlier leadership of the same node is never counted.
   */
  readonly term?: number;
}

/**
 * raftdcs-only (Raft thesis §3.10 TimeoutNow): the leader of `term` has brought the receiver's log up
 * to its own and hands leadership over: campaign now. Sent only to raftdcs nodes; pysyncobj would
 * ignore a message type it does not know.
 */
export interface TimeoutNow {
  readonly type: 'timeout_now';
  readonly term: number;
}

export interface ApplyCommand {
  readonly type: 'apply_command';
  readonly command: Uint8Array;
  readonly requestId?: number;
}

export type ApplyCommandResponse =
  | {
      readonly type: 'apply_command_response';
      readonly requestId: number;
      readonly logIdx: number;
      readonly logTerm: number;
    }
  | {
      readonly type: 'apply_command_response';
      readonly requestId: number;
      readonly error: number;
    };

export type RaftMessage =
  | RequestVote
  | ResponseVote
  | AppendEntries
  | AppendEntriesTransmission
  | AppendEntriesSnapshot
  | NextNodeIdx
  | TimeoutNow
  | ApplyCommand
  | ApplyCommandResponse;

export interface OutgoingMessage {
  readonly to: NodeId;
  readonly message: RaftMessage;
}

/** Durable Raft state: persisted before any message that depends on it leaves the node. */
export interface HardState {
  readonly term: number;
  readonly votedFor: NodeId | null;
}
