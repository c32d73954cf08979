/**
 * The start-up check of a node's data files: do the journal and the dump found on disk form a state
 * this node could have left behind, or was part of it lost? A node that lost its journal forgets
 * its term, its vote and the entries it acknowledged — started anyway it could vote twice in a term
 * or let a leader without an entry a majority counted on be elected. pysyncobj started regardless;
 * raftdcs refuses with a PartialDataError naming both files and the way out, unless the operator
 * passed the override (SyncObjConf `unsafeAllowPartialData`, controller
 * `--unsafe-allow-partial-data`). When the rest of the cluster is gone as well, the way out is
 * `raftdcs recover --force-new-cluster` (src/cli/recover.ts), which refuses the same files unless
 * given the same override.
 *
 * What the runtime itself can leave on disk (never refused):
 * - no journal file and no dump: a fresh node;
 * - a journal that starts at or before the dump's previous entry `P`: the journal is compacted to
 *   `P` only after the dump is durable, and the dump store only ever replaces a dump by a newer one;
 * - such a journal that ends before the dump, or holds other terms at the dump's indexes: a crash
 *   after a snapshot install stored the leader's dump but before the journal's reset was durable
 *   (syncobj.ts onSnapshotReceived: the dump first, then the journal). Entries that disagree with
 *   the dump's committed entries are uncommitted (log matching), so replacing them is safe.
 *
 * The journal's first entry is always a committed one (the initial `(NO_OP, 1, 0)`, or the
 * previous entry of a dump it was compacted to or reset with), which gives the consistency check
 * against the dump's `P`.
 *
 * Pure: no I/O, no clock. It must never accept a state that needs the override, and never refuse
 * one of the states above.
 */
import { assert } from '../../assert.js';
import { RaftdcsError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { JournalOpened } from './types.js';

export const PartialDataCode = {
  /** a dump but no journal file */
  JournalMissing: 'JOURNAL_MISSING',
  /** a 0-byte journal file (with or without a dump) */
  JournalEmpty: 'JOURNAL_EMPTY',
  /** the journal starts after the dump's previous entry: the dump is older than the journal */
  JournalAfterDump: 'JOURNAL_AFTER_DUMP',
  /** the journal's first entry and the dump's previous entry: same index, different terms */
  JournalDumpMismatch: 'JOURNAL_DUMP_MISMATCH',
  /** a compacted journal and no dump (not overridable: there is no state to start from) */
  DumpMissing: 'DUMP_MISSING',
} as const;
export type PartialDataCode = (typeof PartialDataCode)[keyof typeof PartialDataCode];

export interface EntryId {
  readonly index: number;
  readonly term: number;
}

export interface StartupFiles {
  /** the journal as opened; `file` tells what was on disk (absent: an in-memory journal) */
  readonly journal: JournalOpened;
  /** the dump's last two entries, or null when there is no dump */
  readonly dump: { readonly prevEntry: EntryId; readonly lastEntry: EntryId } | null;
  /** the dump's file (or the store's description) */
  readonly dumpFile: string;
}

export const OVERRIDE_FLAG = '--unsafe-allow-partial-data';
export const OVERRIDE_OPTION = 'unsafeAllowPartialData';

const RISK =
  'only safe when the other members alone hold every committed entry on a quorum (all of them up ' +
  'and caught up with the leader, no election under way), or when this node was removed from the ' +
  'cluster first (raftdcs admin -remove) and is added back afterwards';

/** The way out when the other members are gone too: a new cluster from what this node's files hold. */
const RECOVER =
  "If the cluster has lost its quorum for good and this node's files are the best data left, rebuild a " +
  `new cluster from them instead: raftdcs recover --force-new-cluster ${OVERRIDE_FLAG} (docs/recover.md)`;

/** The data files show a partial loss of this node's state; the node refuses to start. */
export class PartialDataError extends RaftdcsError<PartialDataCode> {
  override readonly name = 'PartialDataError';
  constructor(
    code: PartialDataCode,
    /** the journal file ('(in memory)' for an in-memory journal) */
    readonly journalFile: string,
    readonly dumpFile: string,
    /** what was found */
    readonly reason: string,
    /** what to do */
    readonly wayOut: string,
    /** whether `unsafeAllowPartialData` lets the node start anyway */
    readonly overridable: boolean,
  ) {
    super(code, `${code}: refusing to start: ${reason}. ${wayOut}`);
  }
}

/** The override's effect and risk, for the way-out text. */
function override(effect: string): string {
  return `or start once with ${OVERRIDE_FLAG} (SyncObjConf ${OVERRIDE_OPTION}: true): ${effect} — ${RISK}`;
}

/** Decide whether the files found form a state this node could have left; null: they do. */
export function checkStartupFiles(files: StartupFiles): PartialDataError | null {
  const refuse = refuser(files);
  const journalLost = checkJournalFile(files, refuse);
  if (journalLost !== null) return journalLost;
  return files.dump === null
    ? checkWithoutDump(files, refuse)
    : checkJournalAgainstDump(files, files.dump, refuse);
}

type Refuse = (
  code: PartialDataCode,
  reason: string,
  wayOut: string,
  overridable?: boolean,
) => PartialDataError;

/** A PartialDataError about these files; overridable unless told otherwise. */
function refuser(files: StartupFiles): Refuse {
  const journalFile = journalFileName(files);
  return (code, reason, wayOut, overridable = true) =>
    new PartialDataError(code, journalFile, files.dumpFile, reason, wayOut, overridable);
}

function journalFileName(files: StartupFiles): string {
  return files.journal.file?.path ?? '(in memory)';
}

/** the journal's first entry (a journal is never empty) */
function firstEntry(files: StartupFiles): EntryId {
  const first = files.journal.entries[0];
  assert(first !== undefined, `the journal ${journalFileName(files)} opened with no entry`);
  return first;
}

/** The journal file is missing beside a dump, or empty (0 bytes). */
function checkJournalFile(files: StartupFiles, refuse: Refuse): PartialDataError | null {
  const { dump, dumpFile } = files;
  const jf = files.journal.file;
  const journalFile = journalFileName(files);
  const lostJournal =
    'the journal held its term, its vote and the entries it acknowledged after the dump; without ' +
    'it the node could vote twice in a term or forget entries a majority counted on';
  const fromDump = override(
    'the node starts from the dump with a fresh journal, forgetting its vote and those entries',
  );
  if (jf !== undefined && !jf.existed && dump !== null) {
    return refuse(
      PartialDataCode.JournalMissing,
      `the dump ${dumpFile} exists but the journal ${journalFile} does not (${lostJournal})`,
      `Restore the journal from a backup, ${fromDump}. ${RECOVER}.`,
    );
  }
  if (!jf?.empty) return null;
  if (dump !== null) {
    return refuse(
      PartialDataCode.JournalEmpty,
      `the journal ${journalFile} is empty (0 bytes) beside the dump ${dumpFile} (${lostJournal})`,
      `Restore the journal from a backup, ${fromDump}. ${RECOVER}.`,
    );
  }
  return refuse(
    PartialDataCode.JournalEmpty,
    `the journal ${journalFile} is empty (0 bytes) and there is no dump ${dumpFile}: the node's log, ` +
      'term and vote were lost (a node that never ran has no journal file at all)',
    `Restore the journal from a backup, ${override(
      'the node starts empty, forgetting its vote and the entries it acknowledged',
    )}.`,
  );
}

/** No dump: the journal must still start at the beginning (not compacted). */
function checkWithoutDump(files: StartupFiles, refuse: Refuse): PartialDataError | null {
  const first = firstEntry(files);
  if (first.index <= 1) return null;
  return refuse(
    PartialDataCode.DumpMissing,
    `the journal ${journalFileName(files)} starts at index ${first.index} (it was compacted) but there is no ` +
      `dump ${files.dumpFile}: the state before index ${first.index} is lost`,
    `Restore the dump from a backup. ${OVERRIDE_FLAG} does not help here (there is no state to ` +
      'start from); to rejoin as an empty node, move the journal aside too — the node then forgets ' +
      `its vote and the entries it acknowledged, which is ${RISK}.`,
    false,
  );
}

/** A dump: the journal must start at or before its previous entry `P`, with `P`'s term at `P`. */
function checkJournalAgainstDump(
  files: StartupFiles,
  dump: NonNullable<StartupFiles['dump']>,
  refuse: Refuse,
): PartialDataError | null {
  const { dumpFile } = files;
  const journalFile = journalFileName(files);
  const first = firstEntry(files);
  const prev = dump.prevEntry;
  const last = dump.lastEntry;
  const dropJournal = override(
    `the node starts from this dump and drops the journal's entries (keeping its term and vote), ` +
      `forgetting the entries it acknowledged after index ${last.index}`,
  );
  if (first.index > prev.index) {
    const what =
      first.index > last.index + 1
        ? `entries ${last.index + 1}..${first.index - 1} are in neither file`
        : 'the journal was compacted after a newer dump, which is missing (is the dump an older copy?)';
    return refuse(
      PartialDataCode.JournalAfterDump,
      `the journal ${journalFile} starts at index ${first.index}, but the dump ${dumpFile} ends at ` +
        `index ${last.index} (previous entry ${prev.index}): ${what}`,
      `Put the newest dump back, ${dropJournal}. ${RECOVER}.`,
    );
  }
  if (first.index === prev.index && first.term !== prev.term) {
    return refuse(
      PartialDataCode.JournalDumpMismatch,
      `the journal ${journalFile} starts with entry ${first.index} of term ${first.term}, but the dump ` +
        `${dumpFile} has entry ${prev.index} of term ${prev.term}: both are committed entries, so the ` +
        'files do not come from one history (a dump or journal of another node or cluster?)',
      `Put this node's own files back, ${dropJournal}.`,
    );
  }
  return null;
}

export interface StartupCheckOptions {
  /** SyncObjConf `unsafeAllowPartialData` */
  readonly allowPartialData: boolean;
  readonly logger: Logger;
}

/** Throw the check's PartialDataError, unless the override allows it (then it is logged at warn). */
export function enforceStartupCheck(files: StartupFiles, options: StartupCheckOptions): void {
  const problem = checkStartupFiles(files);
  if (problem === null) return;
  if (!options.allowPartialData || !problem.overridable) throw problem;
  options.logger.warn(
    { code: problem.code, journal: problem.journalFile, dump: problem.dumpFile, reason: problem.reason },
    `starting on partial data because ${OVERRIDE_OPTION} is set: this node forgets what it lost ` +
      '(see reason); do not pass the override to later starts',
  );
}
