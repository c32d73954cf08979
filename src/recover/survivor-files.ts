/**
 * Reading a stopped node's data files for `raftdcs recover`, without changing a byte on disk: the
 * journal (raftdcs's format, or a pysyncobj journal with its `.meta`), the dump, and a fingerprint
 * of each file so the writer can tell that nobody touched them between the read and the switch.
 *
 * The journal is read the way FileJournal.open reads it — the same header check, record scan and
 * in-memory model (a torn last write is left out, as the node would cut it; damage elsewhere is a
 * JournalCorruptError), and a pysyncobj journal gives the state its import would (pysyncobjState)
 * — but the file is neither cut nor imported here. The dump is decoded with the runtime's codec.
 *
 * It must never write, rename or create a file.
 */
import { promises as fsp } from 'node:fs';
import { isPysyncobjJournal } from '../raft/journal/file-journal.js';
import { checkFileHeader, type DroppedTail, hasJournalMagic, scanJournal } from '../raft/journal/format.js';
import { JournalModel } from '../raft/journal/log-state.js';
import { pysyncobjState } from '../raft/journal/migrate.js';
import type { JournalPaths } from '../raft/journal/paths.js';
import { parsePysyncobjJournalMeta } from '../raft/journal/pysyncobj-journal.js';
import type { JournalOpened } from '../raft/journal/types.js';
import { realDumpCodec } from '../raft/runtime/dump-codec.js';
import type { Dump } from '../raft/snapshot/dump.js';

export type JournalFormat = 'raftdcs' | 'pysyncobj' | 'none';

/** What identifies a file's contents as read (compared again before the files are replaced). */
export interface FileFingerprint {
  readonly path: string;
  /** null: there was no file */
  readonly size: number | null;
  readonly mtimeMs: number | null;
  readonly ino: number | null;
}

export interface SurvivorFiles {
  readonly paths: JournalPaths;
  /** the journal's state as the node would open it, and what was on disk */
  readonly journal: JournalOpened;
  readonly journalFormat: JournalFormat;
  /** things worth telling about the journal (a torn tail left out, the pysyncobj commit index) */
  readonly journalNotes: readonly string[];
  /** the dump as stored (gzip), null when there is none */
  readonly dumpGz: Uint8Array | null;
  readonly dump: Dump | null;
  readonly fingerprints: readonly FileFingerprint[];
}

/** The dump could not be decoded. */
export class UnreadableDumpError extends Error {
  override readonly name = 'UnreadableDumpError';
}

async function readOrNull(path: string): Promise<Buffer | null> {
  try {
    return await fsp.readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** The fingerprint of `path` now. */
export async function fingerprint(path: string): Promise<FileFingerprint> {
  try {
    const st = await fsp.stat(path);
    return { path, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { path, size: null, mtimeMs: null, ino: null };
    throw e;
  }
}

function tailNote(path: string, tail: DroppedTail): string | null {
  if (tail.kind === 'zeros') return null;
  return (
    `the journal ${path} ends with a torn write (${tail.droppedBytes} bytes at offset ${tail.offset}: ` +
    `${tail.reason}); it was never acknowledged and is left out, as the node would cut it`
  );
}

/** The state of a raftdcs journal file's bytes (as FileJournal.open replays it), and a note on its tail. */
function readRaftdcsJournal(path: string, bytes: Buffer): { entries: JournalOpened; note: string | null } {
  checkFileHeader(bytes, path);
  const model = new JournalModel();
  const scan = scanJournal(bytes, path, (op) => {
    model.apply(op);
  });
  const file = { path, existed: true, empty: false };
  return { entries: { ...model.state(), file }, note: scan.tail === null ? null : tailNote(path, scan.tail) };
}

/** The state a pysyncobj journal (and its `.meta`) would be imported with. */
async function readPysyncobjJournal(
  paths: JournalPaths,
  bytes: Buffer,
): Promise<{ entries: JournalOpened; notes: string[] }> {
  const notes: string[] = [];
  const metaBytes = await readOrNull(paths.meta);
  let commitIndex = 1;
  if (metaBytes === null) {
    notes.push(`no pysyncobj meta file ${paths.meta}: the commit index is taken as 1, as pysyncobj does`);
  } else {
    try {
      commitIndex = parsePysyncobjJournalMeta(metaBytes).raftCommitIndex;
    } catch (e) {
      notes.push(
        `the pysyncobj meta file ${paths.meta} is unreadable (${(e as Error).message}); commit index 1`,
      );
    }
  }
  const { state, version } = pysyncobjState(paths.journal, bytes, commitIndex);
  notes.unshift(`the journal ${paths.journal} is a pysyncobj ${version} journal`);
  return {
    entries: { ...state, file: { path: paths.journal, existed: true, empty: false } },
    notes,
  };
}

/** Read the node's journal and dump (nothing is changed on disk). */
export async function readSurvivorFiles(paths: JournalPaths): Promise<SurvivorFiles> {
  const fingerprints = await Promise.all([paths.journal, paths.dump, paths.meta].map(fingerprint));
  const journalBytes = await readOrNull(paths.journal);
  const dumpGz = await readOrNull(paths.dump);
  let journal: JournalOpened;
  let journalFormat: JournalFormat = 'none';
  const journalNotes: string[] = [];
  if (journalBytes === null || journalBytes.length === 0) {
    const fresh = new JournalModel().state();
    journal = {
      ...fresh,
      file: { path: paths.journal, existed: journalBytes !== null, empty: journalBytes !== null },
    };
  } else if (!hasJournalMagic(journalBytes) && isPysyncobjJournal(journalBytes)) {
    const read = await readPysyncobjJournal(paths, journalBytes);
    journal = read.entries;
    journalFormat = 'pysyncobj';
    journalNotes.push(...read.notes);
  } else {
    const read = readRaftdcsJournal(paths.journal, journalBytes);
    journal = read.entries;
    journalFormat = 'raftdcs';
    if (read.note !== null) journalNotes.push(read.note);
  }
  let dump: Dump | null = null;
  if (dumpGz !== null) {
    try {
      dump = await realDumpCodec.decode(dumpGz);
    } catch (e) {
      throw new UnreadableDumpError(`cannot read the dump ${paths.dump}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }
  return { paths, journal, journalFormat, journalNotes, dumpGz, dump, fingerprints };
}
