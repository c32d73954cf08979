/**
 * Import of a Python node's pysyncobj journal (docs/protocol.md §10) into a raftdcs journal, in
 * place: the entries come from `<name>` (FileJournal format 1), the commit index from
 * `<name>.meta` (missing or unreadable → 1), the hard state is the last entry's term with no vote
 * (docs/protocol.md §10.4, §10.5: pysyncobj never stored term or vote). Our journal replaces the
 * Python one atomically (written to `<name>.tmp`, fsync'd, renamed over, directory fsync'd); the
 * Python files are kept as `<name>.pysyncobj-backup` and `<name>.meta.pysyncobj-backup`.
 *
 * It must never delete or modify the Python files' contents, never leave the journal path without
 * a complete journal (Python's or ours) at any instant, and never start a node on a journal it could
 * not read: a parse failure is a JournalMigrationError and nothing is touched. Dumps (`.dump`) are
 * not its business.
 */
import { assert } from '../../assert.js';
import type { Logger } from '../../logger.js';
import type { LogEntry } from '../core/types.js';
import { JournalMigrationError } from './errors.js';
import { isNotFound, type JournalFs } from './fs.js';
import type { JournalPaths } from './paths.js';
import { parsePysyncobjJournal, parsePysyncobjJournalMeta } from './pysyncobj-journal.js';
import { INITIAL_ENTRY, type JournalState } from './types.js';
import { writeStateFile } from './write-file.js';

export type MigrationPaths = Pick<
  JournalPaths,
  'journal' | 'meta' | 'journalTmp' | 'journalBackup' | 'metaBackup'
>;

export interface MigrationResult {
  readonly state: JournalState;
  /** the Python writer's version from the header, e.g. `0.3.11` */
  readonly pysyncobjVersion: string;
  /** where the Python journal is kept */
  readonly journalBackup: string;
  /** where the Python meta is kept (null: there was none) */
  readonly metaBackup: string | null;
  /** how the commit index was found */
  readonly commitIndexSource: 'meta' | 'meta-without-key' | 'no-meta' | 'unreadable-meta';
}

/** Build the state a pysyncobj node would restart with (docs/protocol.md §10.4) from its files' bytes. */
export function pysyncobjState(
  journalFile: string,
  journalBytes: Buffer,
  commitIndex: number,
): { state: JournalState; version: string } {
  let parsed: ReturnType<typeof parsePysyncobjJournal>;
  try {
    parsed = parsePysyncobjJournal(journalBytes);
  } catch (e) {
    throw new JournalMigrationError(journalFile, (e as Error).message, { cause: e });
  }
  const entries: LogEntry[] = parsed.entries.map((e) => ({
    command: new Uint8Array(e.command),
    index: e.idx,
    term: e.term,
  }));
  const last = entries.at(-1) ?? INITIAL_ENTRY;
  if (entries.length === 0) entries.push(INITIAL_ENTRY); // pysyncobj adds (NO_OP, 1, 0) to an empty log
  return {
    state: { hardState: { term: last.term, votedFor: null }, entries, commitIndex: Math.max(1, commitIndex) },
    version: parsed.appVersion,
  };
}

/** A name for a backup of a file whose bytes are `bytes`: `base`, or `base.1`, `base.2`… never an existing file, unless it holds exactly those bytes (an interrupted earlier import). */
async function backupName(
  fs: JournalFs,
  base: string,
  bytes: Buffer,
): Promise<{ path: string; exists: boolean }> {
  for (let i = 0; i < 1000; i++) {
    const path = i === 0 ? base : `${base}.${i}`;
    if (!(await fs.exists(path))) return { path, exists: false };
    try {
      if ((await fs.readFile(path)).equals(bytes)) return { path, exists: true };
    } catch (e) {
      if (!isNotFound(e)) throw e;
      return { path, exists: false };
    }
  }
  throw new Error(`no free backup name next to ${base}`);
}

/** Keep the file at `from` under `to` as well (a hard link, or a synced copy where links fail). */
export async function keepCopy(fs: JournalFs, from: string, to: string, logger: Logger): Promise<void> {
  try {
    await fs.link(from, to);
  } catch (e) {
    logger.debug({ err: e, from, to }, 'hard link failed; copying the pysyncobj file instead');
    await fs.copyFileExclusive(from, to);
    const h = await fs.open(to, 'r+');
    try {
      await h.datasync();
    } finally {
      await h.close();
    }
  }
}

function dirOf(path: string): string {
  const i = Math.max(path.lastIndexOf('/'), process.platform === 'win32' ? path.lastIndexOf('\\') : -1);
  return i < 0 ? '.' : i === 0 ? '/' : path.slice(0, i);
}

/**
 * Replace the pysyncobj journal at `paths.journal` (whose bytes are `journalBytes`) by a raftdcs
 * journal holding the same state. Throws JournalMigrationError when the Python journal cannot be
 * parsed (before touching anything).
 */
export async function migratePysyncobjJournal(
  fs: JournalFs,
  paths: MigrationPaths,
  journalBytes: Buffer,
  logger: Logger,
): Promise<MigrationResult> {
  // 1. read everything first: a failure here leaves the files as they are
  let metaBytes: Buffer | null = null;
  let commitIndex = 1;
  let commitIndexSource: MigrationResult['commitIndexSource'] = 'no-meta';
  try {
    metaBytes = await fs.readFile(paths.meta);
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  if (metaBytes !== null) {
    try {
      const meta = parsePysyncobjJournalMeta(metaBytes);
      commitIndex = meta.raftCommitIndex;
      commitIndexSource = meta.present ? 'meta' : 'meta-without-key';
    } catch (e) {
      commitIndexSource = 'unreadable-meta';
      logger.warn(
        { file: paths.meta, err: e },
        'pysyncobj meta file is unreadable; importing with commit index 1 (as pysyncobj would)',
      );
    }
  }
  const { state, version } = pysyncobjState(paths.journal, journalBytes, commitIndex);
  const first = state.entries[0];
  const last = state.entries.at(-1);
  assert(first !== undefined && last !== undefined, 'a migrated journal with no entry');
  if (state.commitIndex > last.index) {
    logger.warn(
      { file: paths.meta, commitIndex: state.commitIndex, lastIndex: last.index },
      'pysyncobj meta commit index is beyond the journal (the journal lost writes); kept as a hint',
    );
  }

  // 2. our journal, complete and synced, under the temporary name
  const written = await writeStateFile(fs, paths.journalTmp, state);
  await written.handle.close();

  // 3. the Python journal also under its backup name (the journal path keeps it meanwhile)
  const dir = dirOf(paths.journal);
  const jb = await backupName(fs, paths.journalBackup, journalBytes);
  if (!jb.exists) await keepCopy(fs, paths.journal, jb.path, logger);
  await fs.syncDir(dir);

  // 4. the switch: one atomic rename
  await fs.rename(paths.journalTmp, paths.journal);
  await fs.syncDir(dir);

  // 5. the meta moves aside (our journal holds the commit index from now on)
  let metaBackup: string | null = null;
  if (metaBytes !== null) {
    metaBackup = await moveMetaAside(fs, paths);
    await fs.syncDir(dir);
  }

  logger.info(
    {
      file: paths.journal,
      pysyncobjVersion: version,
      entries: state.entries.length,
      firstIndex: first.index,
      lastIndex: last.index,
      commitIndex: state.commitIndex,
      commitIndexSource,
      term: state.hardState.term,
      journalBackup: jb.path,
      metaBackup,
    },
    'imported the pysyncobj journal; the Python files are kept as backups',
  );
  return { state, pysyncobjVersion: version, journalBackup: jb.path, metaBackup, commitIndexSource };
}

/** Rename the Python meta to a free backup name; returns that name. */
export async function moveMetaAside(
  fs: JournalFs,
  paths: Pick<MigrationPaths, 'meta' | 'metaBackup'>,
): Promise<string> {
  let name = paths.metaBackup;
  for (let i = 1; await fs.exists(name); i++) {
    if (i >= 1000) throw new Error(`no free backup name next to ${paths.metaBackup}`);
    name = `${paths.metaBackup}.${i}`;
  }
  await fs.rename(paths.meta, name);
  return name;
}
