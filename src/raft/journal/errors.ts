/**
 * Errors of the file journal. Each carries a code and says which file, where and what was
 * expected. A journal error at open is fatal on purpose: the node must refuse to start on a log it
 * cannot read completely rather than start with less than it acknowledged.
 *
 * This module must never decide policy (what to truncate, what to skip); it only names failures.
 */
import { RaftdcsError } from '../../errors.js';

export const JournalCorruptCode = {
  /** the file starts with neither our magic nor pysyncobj's */
  BadMagic: 'JOURNAL_BAD_MAGIC',
  /** our magic with a format version this build does not read */
  UnsupportedVersion: 'JOURNAL_UNSUPPORTED_VERSION',
  /** the file header's checksum does not match */
  BadHeader: 'JOURNAL_BAD_HEADER',
  /** a damaged record followed by valid records from an earlier, already-synced write */
  CorruptRecord: 'JOURNAL_CORRUPT_RECORD',
  /** a record with a valid checksum whose contents cannot be applied (a bug, or a foreign file) */
  BadRecord: 'JOURNAL_BAD_RECORD',
} as const;
export type JournalCorruptCode = (typeof JournalCorruptCode)[keyof typeof JournalCorruptCode];

/** The journal file is damaged where damage cannot be explained by a torn last write. */
export class JournalCorruptError extends RaftdcsError<JournalCorruptCode> {
  override readonly name = 'JournalCorruptError';
  constructor(
    code: JournalCorruptCode,
    /** the journal file */
    readonly file: string,
    /** byte offset of the damaged record (or header field) */
    readonly offset: number,
    /** what was expected and what was found */
    readonly reason: string,
  ) {
    super(
      code,
      `${code}: journal ${file} is corrupt at offset ${offset}: ${reason}. ` +
        'Refusing to start with a partial log; restore the file from a backup or a peer (remove it only if this node may rejoin empty).',
    );
  }
}

/** A pysyncobj journal at the journal path could not be imported. */
export class JournalMigrationError extends RaftdcsError<'JOURNAL_MIGRATION_FAILED'> {
  override readonly name = 'JournalMigrationError';
  constructor(
    readonly file: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      'JOURNAL_MIGRATION_FAILED',
      `JOURNAL_MIGRATION_FAILED: cannot import the pysyncobj journal ${file}: ${reason}. ` +
        'Refusing to start rather than start with an empty log; the Python files were left untouched.',
      options,
    );
  }
}

export type JournalStateCode = 'JOURNAL_NOT_OPEN' | 'JOURNAL_CLOSED' | 'JOURNAL_FAILED' | 'JOURNAL_BAD_OP';

/** The journal was used in a state that does not allow it (not open, closed, or failed earlier). */
export class JournalStateError extends RaftdcsError<JournalStateCode> {
  override readonly name = 'JournalStateError';
  constructor(code: JournalStateCode, message: string, options?: { cause?: unknown }) {
    super(code, `${code}: ${message}`, options);
  }
}
