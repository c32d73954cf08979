/**
 * Why `raftdcs recover` refuses to rewrite a node's files. A refusal is always raised before anything
 * on disk changed; its message says what was found and what to do instead.
 */
import { RaftdcsError } from '../errors.js';

export const RecoverRefusalCode = {
  /** the node runs: its lock names a live process, or something listens on self_addr */
  NodeRunning: 'NODE_RUNNING',
  /** the start-up check refuses the files (partial data) and the override was not given */
  DataIncomplete: 'DATA_INCOMPLETE',
  /** the journal or the dump cannot be read */
  DataUnreadable: 'DATA_UNREADABLE',
  /** no journal, no dump, or a log that holds nothing but the initial entry */
  NothingToRecover: 'NOTHING_TO_RECOVER',
  /** a majority of the old members (this node counted) is alive: the cluster can recover by itself */
  MajorityReachable: 'MAJORITY_REACHABLE',
  /** a node that answers has a leader and a quorum: a cluster is working */
  ClusterWorking: 'CLUSTER_WORKING',
  /** `--members` is not a list of host:port holding self_addr */
  BadMembers: 'BAD_MEMBERS',
  /** the files changed between the read and the switch */
  FilesChanged: 'FILES_CHANGED',
  /** `--for-pysyncobj` on a node whose journal is raftdcs's (pysyncobj cannot read it) */
  NotPysyncobj: 'NOT_PYSYNCOBJ',
  /** `--from-snapshot`: the node's data dir holds something (a snapshot is restored into a new one only) */
  DataDirNotEmpty: 'DATA_DIR_NOT_EMPTY',
  /** `--from-snapshot`: the snapshot file is unreadable, damaged, or holds no Patroni DCS state */
  SnapshotUnreadable: 'SNAPSHOT_UNREADABLE',
} as const;
export type RecoverRefusalCode = (typeof RecoverRefusalCode)[keyof typeof RecoverRefusalCode];

/** `raftdcs recover` will not rewrite the files; nothing was changed. */
export class RecoverRefusal extends RaftdcsError<RecoverRefusalCode> {
  override readonly name = 'RecoverRefusal';
  constructor(code: RecoverRefusalCode, message: string, options?: { cause?: unknown }) {
    super(code, `${code}: ${message}`, options);
  }
}
