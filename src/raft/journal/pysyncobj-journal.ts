/**
 * Reader for a Python node's pysyncobj journal files (docs/protocol.md §10), used to migrate a Python node's
 * data_dir to a TypeScript node:
 *
 * - `<self_addr>.journal` (FileJournal format 1): a 40-byte header — `PYSYNCOBJ` + NUL padding
 *   (24 B), the writer's version + NUL padding (8 B), u32le format version 1, u32le offset just
 *   after the last valid record — then records `u32le n | u64le idx | u64le term | command
 *   (n − 16 B) | u32le n`, walked from offset 40 while below the last-record offset. Bytes after
 *   that offset are zeros or stale records and are ignored.
 * - `<self_addr>.journal.meta`: a pickle of `{'raftCommitIndex': int}`.
 *
 * The parsers are pure functions over bytes; only the two `read…File` wrappers touch the file
 * system (one read each). This module must never write, lock or repair a file, and never
 * interpret a command (entries are returned as opaque bytes).
 */
import { readFile } from 'node:fs/promises';
import { messageAtOffset, RaftdcsError } from '../../errors.js';
import { decodePickle } from '../../wire/pickle/index.js';
import { isDict, type PyValue } from '../../wire/value.js';

export const JOURNAL_APP_NAME = 'PYSYNCOBJ';
export const JOURNAL_FORMAT_VERSION = 1;
const NAME_BYTES = 24;
const VERSION_BYTES = 8;
/** offset of the u32le last-record offset; the first record starts right after it */
const LAST_RECORD_OFFSET_AT = NAME_BYTES + VERSION_BYTES + 4;
export const JOURNAL_FIRST_RECORD_OFFSET = LAST_RECORD_OFFSET_AT + 4;
/** idx + term in front of each command */
const RECORD_FIXED_BYTES = 16;

export const JournalErrorCode = {
  /** the file is shorter than the 40-byte header */
  TooShort: 'JOURNAL_TOO_SHORT',
  /** the first 24 bytes are not `PYSYNCOBJ` + NUL padding */
  BadMagic: 'JOURNAL_BAD_MAGIC',
  /** the format version field is not 1 */
  UnsupportedFormat: 'JOURNAL_UNSUPPORTED_FORMAT',
  /** the last-record offset is below 40 or beyond the end of the file */
  BadLastRecordOffset: 'JOURNAL_BAD_LAST_RECORD_OFFSET',
  /** a record (or its size fields) runs past the last-record offset */
  RecordOverrun: 'JOURNAL_RECORD_OVERRUN',
  /** a record's size is smaller than its fixed 16 bytes */
  RecordTooSmall: 'JOURNAL_RECORD_TOO_SMALL',
  /** a record's leading and trailing size fields differ */
  SizeMismatch: 'JOURNAL_SIZE_MISMATCH',
  /** idx or term does not fit a safe integer (2^53 − 1) */
  ValueOutOfRange: 'JOURNAL_VALUE_OUT_OF_RANGE',
  /** entries are not consecutive indexes with non-decreasing terms (checkLogInvariants) */
  BadLogOrder: 'JOURNAL_BAD_LOG_ORDER',
  /** the .meta file is not a pickle of a dict with an int raftCommitIndex */
  BadMeta: 'JOURNAL_BAD_META',
} as const;

export type JournalErrorCode = (typeof JournalErrorCode)[keyof typeof JournalErrorCode];

export class JournalFormatError extends RaftdcsError<JournalErrorCode> {
  override readonly name = 'JournalFormatError';
  constructor(
    code: JournalErrorCode,
    message: string,
    /** byte offset in the file where the problem was found, when known */
    readonly offset?: number,
  ) {
    super(code, messageAtOffset(code, message, offset));
  }
}

/** One log entry `(command, idx, term)` as stored. */
export interface PysyncobjJournalEntry {
  /** type byte + pickle; a view into the input buffer */
  command: Buffer;
  idx: number;
  term: number;
  /** offset of the record's leading size field in the file */
  recordOffset: number;
}

export interface PysyncobjJournal {
  /** `PYSYNCOBJ` */
  appName: string;
  /** the writer's pysyncobj version, e.g. `0.3.11` (informative, never checked) */
  appVersion: string;
  formatVersion: number;
  /** the header's offset just after the last valid record */
  lastRecordOffset: number;
  /** the file size (≥ lastRecordOffset; the rest is zero or stale) */
  fileBytes: number;
  entries: PysyncobjJournalEntry[];
}

export interface JournalParseOptions {
  /**
   * Also require consecutive idx and non-decreasing terms (true Raft logs; pysyncobj itself never
   * checks). Default true.
   */
  checkLogInvariants?: boolean;
}

/** Parse a `.journal` file's bytes. Throws JournalFormatError. */
export function parsePysyncobjJournal(file: Uint8Array, options: JournalParseOptions = {}): PysyncobjJournal {
  const buf = Buffer.isBuffer(file) ? file : Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  const header = parseHeader(buf);
  const last = header.lastRecordOffset;
  const entries: PysyncobjJournalEntry[] = [];
  let at = JOURNAL_FIRST_RECORD_OFFSET;
  while (at < last) {
    const { entry, end } = parseRecord(buf, at, last);
    entries.push(entry);
    at = end;
  }
  if (options.checkLogInvariants ?? true) checkOrder(entries);
  return { ...header, fileBytes: buf.length, entries };
}

/** The 40-byte header: name, writer's version, format version and the last-record offset. */
function parseHeader(
  buf: Buffer,
): Pick<PysyncobjJournal, 'appName' | 'appVersion' | 'formatVersion' | 'lastRecordOffset'> {
  if (buf.length < JOURNAL_FIRST_RECORD_OFFSET) {
    throw new JournalFormatError(
      JournalErrorCode.TooShort,
      `file has ${buf.length} bytes, the header alone has ${JOURNAL_FIRST_RECORD_OFFSET}`,
    );
  }
  const appName = nulPadded(buf.subarray(0, NAME_BYTES));
  if (appName === undefined || appName !== JOURNAL_APP_NAME) {
    throw new JournalFormatError(
      JournalErrorCode.BadMagic,
      `expected 'PYSYNCOBJ' + NUL padding, found ${JSON.stringify(buf.subarray(0, NAME_BYTES).toString('latin1'))}`,
      0,
    );
  }
  const appVersion = nulPadded(buf.subarray(NAME_BYTES, NAME_BYTES + VERSION_BYTES)) ?? '';
  const formatVersion = buf.readUInt32LE(NAME_BYTES + VERSION_BYTES);
  if (formatVersion !== JOURNAL_FORMAT_VERSION) {
    throw new JournalFormatError(
      JournalErrorCode.UnsupportedFormat,
      `format version is ${formatVersion}, expected ${JOURNAL_FORMAT_VERSION}`,
      NAME_BYTES + VERSION_BYTES,
    );
  }
  const last = buf.readUInt32LE(LAST_RECORD_OFFSET_AT);
  if (last < JOURNAL_FIRST_RECORD_OFFSET || last > buf.length) {
    throw new JournalFormatError(
      JournalErrorCode.BadLastRecordOffset,
      `last-record offset ${last} is outside ${JOURNAL_FIRST_RECORD_OFFSET}…${buf.length} (file size)`,
      LAST_RECORD_OFFSET_AT,
    );
  }
  return { appName, appVersion, formatVersion, lastRecordOffset: last };
}

/** The record at `at`, which must end by the last-record offset `last`, and where the next one starts. */
function parseRecord(buf: Buffer, at: number, last: number): { entry: PysyncobjJournalEntry; end: number } {
  if (at + 4 > last) {
    throw new JournalFormatError(
      JournalErrorCode.RecordOverrun,
      `record size field runs past the last-record offset ${last}`,
      at,
    );
  }
  const n = buf.readUInt32LE(at);
  if (n < RECORD_FIXED_BYTES) {
    throw new JournalFormatError(
      JournalErrorCode.RecordTooSmall,
      `record size ${n} is below the ${RECORD_FIXED_BYTES} bytes of idx and term`,
      at,
    );
  }
  const end = at + 4 + n + 4;
  if (end > last) {
    throw new JournalFormatError(
      JournalErrorCode.RecordOverrun,
      `record of ${n} bytes ends at ${end}, past the last-record offset ${last}`,
      at,
    );
  }
  const trailing = buf.readUInt32LE(at + 4 + n);
  if (trailing !== n) {
    throw new JournalFormatError(
      JournalErrorCode.SizeMismatch,
      `record size fields differ: leading ${n}, trailing ${trailing}`,
      at,
    );
  }
  const idx = safeU64(buf, at + 4, 'idx');
  const term = safeU64(buf, at + 12, 'term');
  return {
    entry: { command: buf.subarray(at + 4 + RECORD_FIXED_BYTES, at + 4 + n), idx, term, recordOffset: at },
    end,
  };
}

function checkOrder(entries: readonly PysyncobjJournalEntry[]): void {
  let prev: PysyncobjJournalEntry | undefined;
  for (const cur of entries) {
    if (prev === undefined) {
      prev = cur;
      continue;
    }
    if (cur.idx !== prev.idx + 1) {
      throw new JournalFormatError(
        JournalErrorCode.BadLogOrder,
        `entry idx ${cur.idx} follows idx ${prev.idx} (expected ${prev.idx + 1})`,
        cur.recordOffset,
      );
    }
    if (cur.term < prev.term) {
      throw new JournalFormatError(
        JournalErrorCode.BadLogOrder,
        `entry ${cur.idx} has term ${cur.term}, lower than the previous entry's ${prev.term}`,
        cur.recordOffset,
      );
    }
    prev = cur;
  }
}

function safeU64(buf: Buffer, at: number, what: string): number {
  const v = buf.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new JournalFormatError(JournalErrorCode.ValueOutOfRange, `${what} ${v} exceeds 2^53 − 1`, at);
  }
  return Number(v);
}

/** The text before the NUL padding, or undefined when a non-NUL byte follows the padding. */
function nulPadded(field: Buffer): string | undefined {
  let end = field.indexOf(0);
  if (end < 0) end = field.length;
  for (let i = end; i < field.length; i++) if (field[i] !== 0) return undefined;
  return field.subarray(0, end).toString('latin1');
}

/** Read and parse a `.journal` file (one read; the parse is parsePysyncobjJournal). */
export async function readPysyncobjJournalFile(
  path: string,
  options: JournalParseOptions = {},
): Promise<PysyncobjJournal> {
  return parsePysyncobjJournal(await readFile(path), options);
}

// ----------------------------------------------------------------------------------------------
// .journal.meta

export interface PysyncobjJournalMeta {
  /** the committed index the Python node had persisted (1 when the key is absent, as in Python) */
  raftCommitIndex: number;
  /** false when the dict had no `raftCommitIndex` key (or, for the file reader, no file existed) */
  present: boolean;
}

/** Parse a `.journal.meta` file's bytes. Throws JournalFormatError(BadMeta). */
export function parsePysyncobjJournalMeta(file: Uint8Array): PysyncobjJournalMeta {
  let value: PyValue;
  try {
    value = decodePickle(file);
  } catch (e) {
    throw new JournalFormatError(
      JournalErrorCode.BadMeta,
      `not a readable pickle: ${(e as Error)?.message ?? e}`,
    );
  }
  if (!isDict(value)) {
    throw new JournalFormatError(JournalErrorCode.BadMeta, 'the pickle is not a dict');
  }
  if (!value.has('raftCommitIndex')) return { raftCommitIndex: 1, present: false };
  const v = value.get('raftCommitIndex');
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new JournalFormatError(
      JournalErrorCode.BadMeta,
      `raftCommitIndex is not a non-negative int: ${typeof v === 'bigint' ? `${v}` : typeof v}`,
    );
  }
  return { raftCommitIndex: v, present: true };
}

/**
 * Read a `.journal.meta` file. A missing file gives `{ raftCommitIndex: 1, present: false }`,
 * as pysyncobj starts then; an unreadable one throws (pysyncobj would silently use 1 — a migration
 * should rather be told).
 */
export async function readPysyncobjJournalMetaFile(path: string): Promise<PysyncobjJournalMeta> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException)?.code === 'ENOENT') return { raftCommitIndex: 1, present: false };
    throw e;
  }
  return parsePysyncobjJournalMeta(bytes);
}
