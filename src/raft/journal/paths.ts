/**
 * File names of a node's Raft data in `data_dir`, exactly as Patroni and pysyncobj name them
 * (`<data_dir>/<self_addr>.journal`, `.journal.meta`, `.dump`, their temporaries), plus the names
 * raftdcs adds (the journal's rewrite temporary, the backups a pysyncobj migration keeps, and the
 * controller's advisory lock).
 *
 * Pure string work: this module must never touch the file system, and must never change a name
 * Patroni uses (a Python node and a TypeScript node pointed at the same data_dir must agree).
 */
export interface JournalPaths {
  /** `<dir>/<self_addr>.journal` — pysyncobj's FileJournal, or ours (told apart by the magic) */
  readonly journal: string;
  /** `<journal>.meta` — pysyncobj's pickled `{'raftCommitIndex': n}` (we only read it, to migrate) */
  readonly meta: string;
  /** `<journal>.meta.tmp` — pysyncobj writes the meta there, then renames */
  readonly metaTmp: string;
  /** `<journal>.tmp` — ours: the journal being rewritten (compaction, migration); never needed at open */
  readonly journalTmp: string;
  /** `<journal>.pysyncobj-backup` — the Python journal kept after a migration */
  readonly journalBackup: string;
  /** `<journal>.meta.pysyncobj-backup` — the Python meta kept after a migration */
  readonly metaBackup: string;
  /** `<dir>/<self_addr>.dump` — the full dump (snapshot) */
  readonly dump: string;
  /** `<dump>.tmp` — a dump being written by this node */
  readonly dumpTmp: string;
  /** `<dump>.1.tmp` — a dump being received from the leader */
  readonly dumpRecvTmp: string;
  /** `<dir>/<self_addr>.lock` — ours: names the process running the node (src/cli/node-lock.ts) */
  readonly lock: string;
}

export interface JournalPathsOptions {
  /** name files the Windows way (`:` → `_`, as Patroni does when `os.name == 'nt'`); default: this platform */
  readonly windows?: boolean;
}

/** Patroni's file names for a node at `selfAddr` (e.g. `10.0.0.1:2222`) in `dataDir` ('' = cwd). */
export function journalPaths(
  dataDir: string,
  selfAddr: string,
  options: JournalPathsOptions = {},
): JournalPaths {
  const windows = options.windows ?? process.platform === 'win32';
  if (selfAddr === '') throw new Error('journalPaths: self_addr is empty (read-only nodes keep no files)');
  const base = windows ? selfAddr.replaceAll(':', '_') : selfAddr;
  const template = pythonJoin(dataDir, base, windows);
  const journal = `${template}.journal`;
  const dump = `${template}.dump`;
  return {
    journal,
    meta: `${journal}.meta`,
    metaTmp: `${journal}.meta.tmp`,
    journalTmp: `${journal}.tmp`,
    journalBackup: `${journal}.pysyncobj-backup`,
    metaBackup: `${journal}.meta.pysyncobj-backup`,
    dump,
    dumpTmp: `${dump}.tmp`,
    dumpRecvTmp: `${dump}.1.tmp`,
    lock: `${template}.lock`,
  };
}

/** `os.path.join(dir, name)` as Python does it (no normalisation: the names match Patroni's byte for byte). */
function pythonJoin(dir: string, name: string, windows: boolean): string {
  if (dir === '') return name;
  const endsWithSep = dir.endsWith('/') || (windows && dir.endsWith('\\'));
  return endsWithSep ? dir + name : dir + (windows ? '\\' : '/') + name;
}

/** The names derived from a journal file path alone (what FileJournal needs). */
export function journalSidePaths(
  journal: string,
): Pick<JournalPaths, 'journal' | 'meta' | 'journalTmp' | 'journalBackup' | 'metaBackup'> {
  return {
    journal,
    meta: `${journal}.meta`,
    journalTmp: `${journal}.tmp`,
    journalBackup: `${journal}.pysyncobj-backup`,
    metaBackup: `${journal}.meta.pysyncobj-backup`,
  };
}
