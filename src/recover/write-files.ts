/**
 * Writing the recovered data dir: the new dump and journal of a RecoveryPlan replace the node's
 * files, and the old files stay beside them as backups (`<file>.before-recover-<UTC stamp>`).
 *
 * Crash safety — at every instant the data dir holds either the old files, or the new dump with the
 * old journal, or the new files; each of those starts:
 *  1. both new files are written under temporary names (`<dump>.tmp`, `<journal>.tmp`) and fsync'd;
 *  2. every old file is linked to its backup name (a synced copy where links fail), directory fsync'd;
 *  3. the new dump is renamed over the old one, directory fsync'd — the new dump's entries come from
 *     the old log, so with the old journal beside it the node starts from it as a one-node cluster
 *     (without the term bump), and recover can be run again;
 *  4. the new journal is renamed over the old one, directory fsync'd;
 *  5. a pysyncobj `.journal.meta` (only meaningful beside a pysyncobj journal) is renamed to its
 *     backup name.
 * A leftover `<journal>.tmp` is removed by the next journal open; a leftover `<dump>.tmp` is
 * overwritten by the next recover. For a node pysyncobj will run (`pysyncobj` mode, below) only the
 * dump is replaced (steps 1–3). Before step 2, and again before step 3, the old files must be as
 * they were read (size, mtime, inode), else RecoverRefusal(FILES_CHANGED) and nothing is switched.
 *
 * It never deletes a file it did not create.
 */
import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { silentLogger } from '../logger.js';
import { nodeJournalFs } from '../raft/journal/fs.js';
import { keepCopy } from '../raft/journal/migrate.js';
import { writeStateFile } from '../raft/journal/write-file.js';
import { realDumpCodec } from '../raft/runtime/dump-codec.js';
import { RecoverRefusal, RecoverRefusalCode } from './errors.js';
import type { RecoveryPlan } from './plan.js';
import { fingerprint, type SurvivorFiles } from './survivor-files.js';

export interface Backup {
  readonly from: string;
  readonly to: string;
}

export interface WriteResult {
  readonly backups: readonly Backup[];
  readonly dump: string;
  /** null: the journal was left as it was (`pysyncobj` mode) */
  readonly journal: string | null;
}

/** `20250131T235959Z` for a time in ms. */
export function backupStamp(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

async function exists(path: string): Promise<boolean> {
  return nodeJournalFs.exists(path);
}

/** `<path>.before-recover-<stamp>`, or with `.1`, `.2`… when that is taken. */
async function backupName(path: string, stamp: string): Promise<string> {
  const base = `${path}.before-recover-${stamp}`;
  for (let i = 0; i < 1000; i++) {
    const name = i === 0 ? base : `${base}.${i}`;
    if (!(await exists(name))) return name;
  }
  throw new Error(`no free backup name next to ${base}`);
}

async function ensureUnchanged(files: SurvivorFiles): Promise<void> {
  for (const before of files.fingerprints) {
    const now = await fingerprint(before.path);
    if (now.size !== before.size || now.mtimeMs !== before.mtimeMs || now.ino !== before.ino) {
      throw new RecoverRefusal(
        RecoverRefusalCode.FilesChanged,
        `${before.path} changed after it was read (is a node running on this data dir?); nothing was switched`,
      );
    }
  }
}

async function writeSynced(path: string, bytes: Uint8Array): Promise<void> {
  const h = await fsp.open(path, 'w', 0o600);
  try {
    await h.writeFile(bytes);
    await h.sync();
  } finally {
    await h.close();
  }
}

/**
 * What is written: `raftdcs` — the new dump and journal (steps 1–5 above); `pysyncobj` — the new dump
 * only (`--for-pysyncobj`): the pysyncobj journal and `.meta` stay where they are (backed up too),
 * since a pysyncobj node resets its journal to a dump whose entries it does not start with, and
 * keeps no term to raise.
 */
export type WriteMode = 'raftdcs' | 'pysyncobj';

/** Replace the node's files by the plan's, keeping the old ones as backups (steps above). */
export async function writeRecoveredFiles(
  files: SurvivorFiles,
  plan: RecoveryPlan,
  stamp: string,
  mode: WriteMode = 'raftdcs',
): Promise<WriteResult> {
  const paths = files.paths;
  const dir = dirname(paths.journal);
  const withJournal = mode === 'raftdcs';
  await ensureUnchanged(files);

  // 1. the new files under temporary names
  await writeSynced(paths.dumpTmp, await realDumpCodec.encode(plan.dump));
  if (withJournal) {
    const written = await writeStateFile(nodeJournalFs, paths.journalTmp, plan.journal);
    await written.handle.close();
  }
  await nodeJournalFs.syncDir(dir);

  // 2. backups of the old files (they stay at their paths until replaced)
  const backups: Backup[] = [];
  for (const path of withJournal ? [paths.journal, paths.dump] : [paths.journal, paths.meta, paths.dump]) {
    if (!(await exists(path))) continue;
    const to = await backupName(path, stamp);
    await keepCopy(nodeJournalFs, path, to, silentLogger);
    backups.push({ from: path, to });
  }
  await nodeJournalFs.syncDir(dir);

  // 3., 4. the switch: the dump first, then the journal
  await ensureUnchanged(files);
  await nodeJournalFs.rename(paths.dumpTmp, paths.dump);
  await nodeJournalFs.syncDir(dir);
  if (!withJournal) return { backups, dump: paths.dump, journal: null };
  await nodeJournalFs.rename(paths.journalTmp, paths.journal);
  await nodeJournalFs.syncDir(dir);

  // 5. the pysyncobj meta belongs to the old journal only
  if (await exists(paths.meta)) {
    const to = await backupName(paths.meta, stamp);
    await nodeJournalFs.rename(paths.meta, to);
    await nodeJournalFs.syncDir(dir);
    backups.push({ from: paths.meta, to });
  }
  return { backups, dump: paths.dump, journal: paths.journal };
}
