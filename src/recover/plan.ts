/**
 * The plan of `raftdcs recover --force-new-cluster`: from a stopped node's files (./survivor-files.ts),
 * the KVStoreTTL state as of the last entry of its log, the membership the node is rewritten to, a
 * term above every term in its data, and the two files that replace the old ones — a dump at the
 * last index whose cluster is the new membership, and a journal holding that dump's two entries
 * with the new term — together with what is kept and what may be lost.
 *
 * Which log: the one the node would start with (driver.ts start()): the dump, then the journal's
 * entries after it when the journal holds the dump's last entry with its term; without a dump, the
 * journal from index 1. Data the start-up check refuses (startup-check.ts) is refused here as
 * well, unless the operator allowed partial data; then what the dump alone holds (plus a journal
 * that continues it) is used.
 *
 * The tail: every entry of that log is applied, including those after the highest index known to be
 * committed here (the commit hint). Had this node been elected in its old cluster, it would have
 * committed its whole log (Raft's leader completeness); keeping the tail therefore never gives a
 * state the old cluster could not have reached, while discarding it could undo writes that were
 * committed and acknowledged — such as a leader lock Patroni took and acted on by promoting.
 * A tail write a client saw fail or time out then counts as done, which Raft clients must
 * expect anyway (a timed-out write may still be applied later); Patroni checks the DCS again on
 * its next loop and follows what it finds.
 *
 * Pure: no I/O, no clock.
 */
import { assert } from '../assert.js';
import type { KvRecord } from '../kv/record.js';
import { decodeMembership } from '../raft/commands.js';
import { CommandType, type LogEntry } from '../raft/core/types.js';
import { checkStartupFiles, PartialDataCode, type PartialDataError } from '../raft/journal/startup-check.js';
import type { JournalState } from '../raft/journal/types.js';
import type { Dump } from '../raft/snapshot/dump.js';
import { RecoverRefusal, RecoverRefusalCode } from './errors.js';
import { type ApplyFailure, KvReplay, UnsupportedCodeVersionError } from './kv-replay.js';
import type { SurvivorFiles } from './survivor-files.js';

export interface PlanInput {
  readonly selfAddr: string;
  /** the configuration's partner_addrs: the starting membership of a log without a dump */
  readonly partnerAddrs: readonly string[];
  readonly files: SurvivorFiles;
  /** the new membership (self_addr included); null: this node alone */
  readonly members: readonly string[] | null;
  /** `--unsafe-allow-partial-data`: recover from what an incomplete data dir still holds */
  readonly allowPartialData: boolean;
}

export interface RecoveryPlan {
  readonly selfAddr: string;
  /** the last entry of the recovered log: the new dump ends here */
  readonly lastEntry: LogEntry;
  readonly prevEntry: LogEntry;
  /** the highest term found anywhere in the data (journal hard state, entries, dump) */
  readonly highestTerm: number;
  /** persisted in the new journal: highestTerm + 1 */
  readonly newTerm: number;
  /** the voting members as of the last entry (this node included unless it had been removed) */
  readonly oldMembers: readonly string[];
  /** this node had been removed from the cluster as of the last entry */
  readonly selfRemoved: boolean;
  /** the new membership */
  readonly members: readonly string[];
  /** every key kept, in the store's order */
  readonly keys: ReadonlyMap<string, KvRecord>;
  /** the highest index known to be committed here (commit hint, dump) */
  readonly committedKnown: number;
  /** applied although not known to be committed here */
  readonly uncommitted: { readonly from: number; readonly to: number } | null;
  /** where the dump that was read ended (null: there was none) */
  readonly dumpIndex: number | null;
  /** the start-up check's finding, accepted with `--unsafe-allow-partial-data` */
  readonly partialData: PartialDataError | null;
  /** what else was noticed: journal notes, entries not used */
  readonly notes: readonly string[];
  readonly applyFailures: readonly ApplyFailure[];
  /** the files to write */
  readonly dump: Dump;
  readonly journal: JournalState;
}

/** The log the node would start with, and the index its state machine starts after. */
interface StartLog {
  readonly entries: readonly LogEntry[];
  /** entries after this index are applied (the dump's last, or the journal's first) */
  readonly appliedThrough: number;
  readonly journalUsed: boolean;
  readonly notes: readonly string[];
}

/** The entry at `i` (negative: from the end) of a log that must have it. */
export function entryAt(entries: readonly LogEntry[], i: number): LogEntry {
  const e = entries.at(i);
  assert(e !== undefined, () => `recover: no log entry at position ${i} of ${entries.length}`);
  return e;
}

function holds(entries: readonly LogEntry[], e: LogEntry): boolean {
  const first = entryAt(entries, 0);
  return entries[e.index - first.index]?.term === e.term;
}

function startLog(files: SurvivorFiles, problem: PartialDataError | null): StartLog {
  const j = files.journal.entries;
  const dump = files.dump;
  if (dump === null) {
    return { entries: j, appliedThrough: entryAt(j, 0).index, journalUsed: true, notes: [] };
  }
  // a journal of another history (JOURNAL_DUMP_MISMATCH) is never mixed with the dump
  const trusted = problem === null || problem.code === PartialDataCode.JournalAfterDump;
  const continues = trusted && holds(j, dump.lastEntry);
  const after = continues ? j.filter((e) => e.index > dump.lastEntry.index) : [];
  const notes: string[] = [];
  const jLast = entryAt(j, -1);
  if (!continues && files.journal.file?.existed && jLast.index > dump.lastEntry.index) {
    notes.push(
      trusted
        ? `the journal's entries up to ${jLast.index} do not continue the dump (they were received ` +
            'before a snapshot install the journal had not caught up with, and never committed): not used'
        : `the journal's entries up to ${jLast.index} do not belong with the dump: not used`,
    );
  }
  return {
    entries: [dump.prevEntry, dump.lastEntry, ...after],
    appliedThrough: dump.lastEntry.index,
    journalUsed: continues,
    notes,
  };
}

/** The starting membership, then every membership entry after the applied point. */
function membershipAtEnd(
  input: PlanInput,
  log: StartLog,
): { members: readonly string[]; selfRemoved: boolean } {
  const dump = input.files.dump;
  const self = input.selfAddr;
  const others = new Set((dump ? dump.cluster : input.partnerAddrs).filter((n) => n !== self));
  let selfRemoved = dump !== null && !dump.cluster.includes(self);
  for (const e of log.entries) {
    if (e.index <= log.appliedThrough || e.command[0] !== CommandType.Membership) continue;
    const change = decodeMembership(e.command);
    if (change === null) continue;
    if (change.node === self) selfRemoved = change.op === 'rem';
    else if (change.op === 'add') others.add(change.node);
    else others.delete(change.node);
  }
  return { members: [...others, ...(selfRemoved ? [] : [self])], selfRemoved };
}

function refuseIncomplete(problem: PartialDataError): never {
  const fix = problem.overridable
    ? 'Restore the missing file from a backup; or, if this node is all that is left of the cluster, ' +
      'run recover again with --unsafe-allow-partial-data to rebuild from what the files still hold ' +
      '(what is lost is listed before anything is written).'
    : 'There is no state to rebuild from: restore the dump from a backup.';
  throw new RecoverRefusal(
    RecoverRefusalCode.DataIncomplete,
    `the data files are incomplete (${problem.code}): ${problem.reason}. ${fix}`,
    { cause: problem },
  );
}

/** Work out the recovery; RecoverRefusal when the files do not allow one. */
export function planRecovery(input: PlanInput): RecoveryPlan {
  const { files, selfAddr } = input;
  if (!files.journal.file?.existed && files.dump === null) {
    throw new RecoverRefusal(
      RecoverRefusalCode.NothingToRecover,
      `neither ${files.paths.journal} nor ${files.paths.dump} exists: no data of ${selfAddr} in this ` +
        'data_dir (is it the right data_dir and self_addr?)',
    );
  }
  const problem = checkStartupFiles({
    journal: files.journal,
    dump: files.dump,
    dumpFile: files.paths.dump,
  });
  if (problem !== null && (!problem.overridable || !input.allowPartialData)) refuseIncomplete(problem);

  const log = startLog(files, problem);
  if (log.entries.length < 2) {
    throw new RecoverRefusal(
      RecoverRefusalCode.NothingToRecover,
      `the log of ${selfAddr} holds nothing but its initial entry: there is no state to keep ` +
        '(start a new cluster instead)',
    );
  }
  const replay = new KvReplay();
  if (files.dump !== null) replay.restore(files.dump.data);
  try {
    for (const e of log.entries) if (e.index > log.appliedThrough) replay.apply(e);
  } catch (e) {
    if (!(e instanceof UnsupportedCodeVersionError)) throw e;
    throw new RecoverRefusal(RecoverRefusalCode.DataUnreadable, e.message, { cause: e });
  }

  const lastEntry = entryAt(log.entries, -1);
  const prevEntry = entryAt(log.entries, -2);
  let highestTerm = files.journal.hardState.term;
  for (const e of [...files.journal.entries, ...log.entries]) highestTerm = Math.max(highestTerm, e.term);
  const newTerm = highestTerm + 1;

  const members = input.members === null ? [selfAddr] : [...new Set(input.members)];
  if (!members.includes(selfAddr)) {
    throw new RecoverRefusal(
      RecoverRefusalCode.BadMembers,
      `--members must include this node's self_addr ${selfAddr}`,
    );
  }
  const old = membershipAtEnd(input, log);
  const committedKnown = Math.max(
    log.journalUsed ? files.journal.commitIndex : 0,
    files.dump?.lastEntry.index ?? 0,
    entryAt(log.entries, 0).index,
  );
  return {
    selfAddr,
    lastEntry,
    prevEntry,
    highestTerm,
    newTerm,
    oldMembers: old.members,
    selfRemoved: old.selfRemoved,
    members,
    keys: replay.sm.getPrefix(''),
    committedKnown: Math.min(committedKnown, lastEntry.index),
    uncommitted: lastEntry.index > committedKnown ? { from: committedKnown + 1, to: lastEntry.index } : null,
    dumpIndex: files.dump?.lastEntry.index ?? null,
    partialData: problem,
    notes: [...files.journalNotes, ...log.notes],
    applyFailures: replay.failures,
    dump: { data: replay.attributes(), lastEntry, prevEntry, cluster: members },
    journal: {
      hardState: { term: newTerm, votedFor: null },
      entries: [prevEntry, lastEntry],
      commitIndex: lastEntry.index,
    },
  };
}
