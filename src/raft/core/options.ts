/**
 * Options and initial state of the pure Raft core. Everything that varies between runs — time,
 * randomness, decoding of opaque command bytes — is passed in here, so the core stays deterministic.
 */
import type { HardState, LogEntry, MembershipChange, NodeId } from './types.js';

export interface CoreOptions {
  /** own address, or null for a read-only node (follows the log, never votes or campaigns) */
  readonly selfId: NodeId | null;
  /** election timeout is drawn uniformly from [min, max) each time it is reset (raftMinTimeout/MaxTimeout) */
  readonly electionTimeoutMinMs: number;
  readonly electionTimeoutMaxMs: number;
  /** leader heartbeat period (appendEntriesPeriod) */
  readonly appendEntriesPeriodMs: number;
  /** a leader that heard from no majority within this time steps down (leaderFallbackTimeout) */
  readonly leaderFallbackTimeoutMs: number;
  /** entries per append_entries until their command sizes reach this (appendEntriesBatchSizeBytes) */
  readonly appendEntriesBatchSizeBytes: number;
  /** snapshot chunk size (logCompactionBatchSize) */
  readonly snapshotChunkBytes: number;
  /** false (Patroni): every proposal and commit advance triggers a send; true: wait for the heartbeat */
  readonly appendEntriesUseBatch: boolean;
  /** true: proposals made while no leader is known wait for one; false (Patroni): fail MISSING_LEADER */
  readonly commandsWaitLeader: boolean;
  /** bound on queued and uncommitted proposals (commandsQueueSize); beyond it: QUEUE_FULL */
  readonly commandsQueueSize: number;
  /** membership entries change the cluster (dynamicMembershipChange) */
  readonly dynamicMembershipChange: boolean;
  /** upper bound of bytes of entries sent to one peer per replication round (the rest follows later) */
  readonly maxSendBytesPerRound: number;
  /** uniform random number in [0, 1): a seeded generator in tests and simulation */
  readonly random: () => number;
  /** decode a MEMBERSHIP command (type byte 2 + pickle); null when it is not a valid change */
  readonly decodeMembership: (command: Uint8Array) => MembershipChange | null;
  /** decode a reassembled 'transmission' buffer (pickle of `(command, idx, term)`); may throw */
  readonly decodeTransmittedEntry: (data: Uint8Array) => LogEntry;
  /**
   * Deliberately broken behaviours, for proving that the simulator's checks can fail.
   * Never set outside tests.
   */
  readonly unsafeTestFaults?: UnsafeTestFaults;
}

export interface UnsafeTestFaults {
  /** grant a vote even when one was already given in this term */
  readonly grantTwoVotesPerTerm?: boolean;
  /** commit entries of earlier terms by counting replicas (Raft figure 8, pysyncobj 0.3.11) */
  readonly commitPreviousTermByCounting?: boolean;
  /**
   * never ask for term and vote to be persisted, and restart from term 0 like pysyncobj (without
   * the recovery of the term from the log's last entry)
   */
  readonly skipPersistHardState?: boolean;
  /**
   * after a snapshot install that kept the log, acknowledge everything the log holds (lastIndex + 1)
   * instead of the snapshot's last index + 1: claims entries that may not match the current leader's
   */
  readonly ackKeptLogAfterInstall?: boolean;
  /**
   * accept a new snapshot transfer while a received one is being installed, and let the runtime
   * install without first applying what the core already handed out (two installs interleave)
   */
  readonly acceptSnapshotDuringInstall?: boolean;
  /**
   * not a fault with raftdcs followers, a model: lead like pysyncobj 0.3.x does, rewinding a
   * follower's next index to whatever a reset answer asks — a stale one included, and below
   * matchIndex + 1 — so snapshots go to followers that hold more than the snapshot. The simulator
   * uses it for Python leaders in mixed clusters. Unsafe with pysyncobj followers: a rewind below
   * matchIndex + 1 makes them delete entries they were counted for (docs/protocol.md §12.4).
   */
  readonly rewindOnEveryReset?: boolean;
}

export interface SnapshotData {
  /** the dump bytes as sent on the wire (gzip of the pickled 4-tuple) */
  readonly data: Uint8Array;
  readonly lastIndex: number;
  readonly lastTerm: number;
}

export interface CoreInitialState {
  readonly hardState: HardState;
  /** the persisted log, non-empty; a fresh node has `[(NO_OP, 1, 0)]` */
  readonly entries: readonly LogEntry[];
  /** persisted commit index hint (entries up to it are known committed) */
  readonly commitIndex: number;
  /** index up to which the state machine already holds the state (a loaded dump), else the first index */
  readonly lastApplied: number;
  /** voting nodes other than self at the start of the log (configured, or from a loaded dump) */
  readonly peers: readonly NodeId[];
  /** a dump available for sending to followers, when the log was compacted */
  readonly snapshot?: SnapshotData;
  /** the loaded dump's cluster did not contain this node (it had been removed) */
  readonly selfRemoved?: boolean;
  /** current time (ms, any epoch the caller keeps using) */
  readonly nowMs: number;
}

export const DEFAULT_CORE_TIMING = {
  electionTimeoutMinMs: 400,
  electionTimeoutMaxMs: 1400,
  appendEntriesPeriodMs: 100,
  leaderFallbackTimeoutMs: 30_000,
  appendEntriesBatchSizeBytes: 65536,
  snapshotChunkBytes: 65536,
  commandsQueueSize: 100_000,
  maxSendBytesPerRound: 8 * 1024 * 1024,
} as const;
