/**
 * The plan of `raftdcs recover --from-snapshot`: a RecoveryPlan (./plan.ts) made from a snapshot
 * file (../backup/snapshot-file.ts) instead of a survivor's files, so that the same writer
 * (./write-files.ts) and report (./report.ts) serve both: the snapshot's KVStoreTTL state
 * (read by KvReplay, as recover reads a dump), its two entries, the new membership (this node
 * alone, or `--members`), and a term above every term the snapshot names.
 *
 * Pure: no I/O, no clock.
 */
import type { SnapshotFileContents } from '../backup/snapshot-file.js';
import { RecoverRefusal, RecoverRefusalCode } from './errors.js';
import { KvReplay } from './kv-replay.js';
import type { RecoveryPlan } from './plan.js';

export interface SnapshotPlanInput {
  /** the node the data dir is built for */
  readonly selfAddr: string;
  readonly snapshot: SnapshotFileContents;
  /** the new membership (self_addr included); null: this node alone */
  readonly members: readonly string[] | null;
}

/** Work out the new data dir's files; RecoverRefusal when the snapshot holds no Patroni DCS state. */
export function planFromSnapshot(input: SnapshotPlanInput): RecoveryPlan {
  const { snapshot, selfAddr } = input;
  const { dump, header } = snapshot;
  if (snapshot.keys === null) {
    throw new RecoverRefusal(
      RecoverRefusalCode.SnapshotUnreadable,
      `${snapshot.file} holds no Patroni DCS state (no KVStoreTTL data in its dump): it was taken from ` +
        'a node of another kind of application, which recover cannot restore',
    );
  }
  const members = input.members === null ? [selfAddr] : [...new Set(input.members)];
  if (!members.includes(selfAddr)) {
    throw new RecoverRefusal(
      RecoverRefusalCode.BadMembers,
      `--members must include this node's self_addr ${selfAddr}`,
    );
  }
  const replay = new KvReplay();
  replay.restore(dump.data);
  const lastEntry = dump.lastEntry;
  const prevEntry = dump.prevEntry;
  const highestTerm = Math.max(header.raftTerm, lastEntry.term, prevEntry.term);
  const newTerm = highestTerm + 1;
  return {
    selfAddr,
    lastEntry,
    prevEntry,
    highestTerm,
    newTerm,
    oldMembers: dump.cluster,
    selfRemoved: false,
    members,
    keys: replay.sm.getPrefix(''),
    committedKnown: lastEntry.index,
    uncommitted: null,
    dumpIndex: lastEntry.index,
    partialData: null,
    notes: [],
    applyFailures: [],
    dump: { data: replay.attributes(), lastEntry, prevEntry, cluster: members },
    journal: {
      hardState: { term: newTerm, votedFor: null },
      entries: [prevEntry, lastEntry],
      commitIndex: lastEntry.index,
    },
  };
}
