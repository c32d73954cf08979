/**
 * The raftdcs journal file format (see docs/journal-format.md): bytes ↔ journal operations, and the
 * recovery scan that decides how much of a file is trustworthy.
 *
 *   file    = header record*
 *   header  = "RAFTDCS\0" | u32le version (1) | u32le crc32(previous 12 bytes)          16 bytes
 *   record  = u32le crc | u32le payloadBytes | u8 kind | u8 0 | u16 0 | u32le batchOffset | payload
 *             crc = CRC-32 (zlib/IEEE) of everything after the crc field: the other 12 header
 *             bytes and the payload. batchOffset = the record's distance from the start of the
 *             write batch (one write + one fdatasync) it went out in.
 *
 * Pure functions over bytes: this module must never touch a file, never decide to skip a damaged
 * record that valid, already-synced records follow (that is JournalCorruptError), and never
 * interpret a command.
 */
import { crc32 } from 'node:zlib';
import { assert } from '../../assert.js';
import type { HardState, LogEntry } from '../core/types.js';
import { JournalCorruptCode, JournalCorruptError } from './errors.js';

export const JOURNAL_MAGIC: Buffer = Buffer.from('RAFTDCS\0', 'latin1');
export const JOURNAL_FORMAT_VERSION = 1;
export const FILE_HEADER_BYTES = 16;
export const RECORD_HEADER_BYTES = 16;
/** a single record's payload limit (one append call, one hard state…); far above any Raft entry batch */
export const MAX_RECORD_PAYLOAD_BYTES = 1 << 30;

export const RecordKind = {
  /** u64 firstIndex | u32 count | count × (u64 term | u32 commandBytes | command) — `append` */
  Entries: 1,
  /** u64 index — `truncateFrom` */
  TruncateFrom: 2,
  /** same payload as Entries — `reset` (the whole log replaced) */
  Reset: 3,
  /** u64 index — `compact` (entries before index dropped) */
  CompactBefore: 4,
  /** u64 term | u8 hasVote | u32 voteBytes | utf-8 votedFor — `writeHardState` */
  HardState: 5,
  /** u64 index — `setCommitIndex` */
  CommitIndex: 6,
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];
const MAX_KIND = 6;

/** One journal operation, as queued by FileJournal and as replayed from the file. */
export type JournalOp =
  | { readonly kind: 'append'; readonly entries: readonly LogEntry[] }
  | { readonly kind: 'reset'; readonly entries: readonly LogEntry[] }
  | { readonly kind: 'truncateFrom'; readonly index: number }
  | { readonly kind: 'compact'; readonly index: number }
  | { readonly kind: 'hardState'; readonly hardState: HardState }
  | { readonly kind: 'commitIndex'; readonly index: number };

// ----------------------------------------------------------------------------------------------
// header

export function encodeFileHeader(): Buffer {
  const b = Buffer.alloc(FILE_HEADER_BYTES);
  JOURNAL_MAGIC.copy(b, 0);
  b.writeUInt32LE(JOURNAL_FORMAT_VERSION, 8);
  b.writeUInt32LE(crc32(b.subarray(0, 12)), 12);
  return b;
}

/** True when the bytes start with our magic (whatever the version). */
export function hasJournalMagic(bytes: Uint8Array): boolean {
  if (bytes.length < JOURNAL_MAGIC.length) return false;
  for (let i = 0; i < JOURNAL_MAGIC.length; i++) if (bytes[i] !== JOURNAL_MAGIC[i]) return false;
  return true;
}

/** Throws JournalCorruptError unless `buf` starts with a valid version-1 header. */
export function checkFileHeader(buf: Buffer, file: string): void {
  if (buf.length < FILE_HEADER_BYTES) {
    throw new JournalCorruptError(
      JournalCorruptCode.BadHeader,
      file,
      0,
      `the file has ${buf.length} bytes, the header alone has ${FILE_HEADER_BYTES}`,
    );
  }
  if (!hasJournalMagic(buf)) {
    throw new JournalCorruptError(JournalCorruptCode.BadMagic, file, 0, 'expected the magic RAFTDCS\\0');
  }
  const crc = buf.readUInt32LE(12);
  const want = crc32(buf.subarray(0, 12));
  if (crc !== want) {
    throw new JournalCorruptError(
      JournalCorruptCode.BadHeader,
      file,
      12,
      `header checksum is ${hex(crc)}, the header's bytes give ${hex(want)}`,
    );
  }
  const version = buf.readUInt32LE(8);
  if (version !== JOURNAL_FORMAT_VERSION) {
    throw new JournalCorruptError(
      JournalCorruptCode.UnsupportedVersion,
      file,
      8,
      `format version ${version}, this build reads version ${JOURNAL_FORMAT_VERSION}`,
    );
  }
}

// ----------------------------------------------------------------------------------------------
// encoding

const TWO_32 = 0x1_0000_0000;

function writeU64(b: Buffer, n: number, at: number): void {
  b.writeUInt32LE(n % TWO_32, at);
  b.writeUInt32LE(Math.floor(n / TWO_32), at + 4);
}

/** A u64 that must be a safe integer, or undefined. */
function readU64(b: Buffer, at: number): number | undefined {
  const lo = b.readUInt32LE(at);
  const hi = b.readUInt32LE(at + 4);
  if (hi > 0x1f_ffff) return undefined;
  return hi * TWO_32 + lo;
}

function entriesPayloadBytes(entries: readonly LogEntry[]): number {
  let n = 12;
  for (const e of entries) n += 12 + e.command.length;
  return n;
}

/** Bytes one entry adds to an Entries/Reset payload (the live-size estimate uses it). */
export function entryEncodedBytes(e: LogEntry): number {
  return 12 + e.command.length;
}

function voteBytes(hs: HardState): Buffer | null {
  return hs.votedFor === null ? null : Buffer.from(hs.votedFor, 'utf8');
}

/** The payload size of `op`'s record. */
export function opPayloadBytes(op: JournalOp): number {
  switch (op.kind) {
    case 'append':
    case 'reset':
      return entriesPayloadBytes(op.entries);
    case 'truncateFrom':
    case 'compact':
    case 'commitIndex':
      return 8;
    case 'hardState':
      return 13 + (op.hardState.votedFor === null ? 0 : Buffer.byteLength(op.hardState.votedFor, 'utf8'));
  }
}

/** The full record size of `op` (header + payload). */
export function opRecordBytes(op: JournalOp): number {
  return RECORD_HEADER_BYTES + opPayloadBytes(op);
}

function kindOf(op: JournalOp): RecordKind {
  switch (op.kind) {
    case 'append':
      return RecordKind.Entries;
    case 'reset':
      return RecordKind.Reset;
    case 'truncateFrom':
      return RecordKind.TruncateFrom;
    case 'compact':
      return RecordKind.CompactBefore;
    case 'hardState':
      return RecordKind.HardState;
    case 'commitIndex':
      return RecordKind.CommitIndex;
  }
}

function writeEntries(b: Buffer, at: number, entries: readonly LogEntry[]): number {
  const head = entries[0];
  assert(head !== undefined, 'a journal record of no entries');
  writeU64(b, head.index, at);
  b.writeUInt32LE(entries.length, at + 8);
  at += 12;
  for (const e of entries) {
    writeU64(b, e.term, at);
    b.writeUInt32LE(e.command.length, at + 8);
    b.set(e.command, at + 12);
    at += 12 + e.command.length;
  }
  return at;
}

/**
 * Encode `ops` as consecutive records into one buffer. `batchStart` is the offset of the buffer's
 * first byte within its write batch (0 for an ordinary batch).
 */
export function encodeRecords(ops: readonly JournalOp[], batchStart = 0): Buffer {
  let total = 0;
  for (const op of ops) total += opRecordBytes(op);
  const b = Buffer.allocUnsafe(total);
  let at = 0;
  for (const op of ops) {
    const start = at;
    const payload = opPayloadBytes(op);
    b.writeUInt32LE(payload, start + 4);
    b.writeUInt32LE(kindOf(op), start + 8); // kind, then three zero bytes
    b.writeUInt32LE(batchStart + start, start + 12);
    at = start + RECORD_HEADER_BYTES;
    switch (op.kind) {
      case 'append':
      case 'reset':
        at = writeEntries(b, at, op.entries);
        break;
      case 'truncateFrom':
      case 'compact':
      case 'commitIndex':
        writeU64(b, op.index, at);
        at += 8;
        break;
      case 'hardState': {
        writeU64(b, op.hardState.term, at);
        const vote = voteBytes(op.hardState);
        b[at + 8] = vote === null ? 0 : 1;
        b.writeUInt32LE(vote === null ? 0 : vote.length, at + 9);
        if (vote !== null) vote.copy(b, at + 13);
        at += 13 + (vote === null ? 0 : vote.length);
        break;
      }
    }
    b.writeUInt32LE(crc32(b.subarray(start + 4, at)), start);
  }
  return b;
}

// ----------------------------------------------------------------------------------------------
// decoding

export type RecordParse =
  | {
      readonly ok: true;
      readonly kind: number;
      readonly payload: Buffer;
      readonly batchOffset: number;
      readonly end: number;
    }
  | {
      readonly ok: false;
      readonly reason: string;
      /** the checksum matched but the header is not one this build writes (a newer writer?) */
      readonly checksumOk: boolean;
    };

/** Parse the record at `at` (the file's bytes are `buf[0, end)`). Never throws. */
export function parseRecordAt(buf: Buffer, at: number, end: number): RecordParse {
  if (at + RECORD_HEADER_BYTES > end) {
    return {
      ok: false,
      reason: `partial record header (${end - at} of ${RECORD_HEADER_BYTES} bytes)`,
      checksumOk: false,
    };
  }
  const len = buf.readUInt32LE(at + 4);
  if (len > end - at - RECORD_HEADER_BYTES) {
    return {
      ok: false,
      reason: `record payload of ${len} bytes runs past the end of the file (${end - at - RECORD_HEADER_BYTES} bytes left)`,
      checksumOk: false,
    };
  }
  const stop = at + RECORD_HEADER_BYTES + len;
  const crc = buf.readUInt32LE(at);
  const want = crc32(buf.subarray(at + 4, stop));
  if (crc !== want) {
    return {
      ok: false,
      reason: `checksum is ${hex(crc)}, the record's bytes give ${hex(want)}`,
      checksumOk: false,
    };
  }
  const kind = buf.readUInt8(at + 8);
  if (kind < 1 || kind > MAX_KIND || buf[at + 9] !== 0 || buf.readUInt16LE(at + 10) !== 0) {
    return {
      ok: false,
      reason: `unknown record kind ${kind} or flags (written by a newer raftdcs?)`,
      checksumOk: true,
    };
  }
  const batchOffset = buf.readUInt32LE(at + 12);
  if (batchOffset > at - FILE_HEADER_BYTES) {
    return {
      ok: false,
      reason: `batch offset ${batchOffset} points before the first record`,
      checksumOk: true,
    };
  }
  return { ok: true, kind, payload: buf.subarray(at + RECORD_HEADER_BYTES, stop), batchOffset, end: stop };
}

/** Cheap pre-check before a checksum, used when hunting for valid records after damage. */
function plausibleRecordAt(buf: Buffer, at: number, end: number): boolean {
  if (at + RECORD_HEADER_BYTES > end) return false;
  const kind = buf.readUInt8(at + 8);
  if (kind < 1 || kind > MAX_KIND || buf[at + 9] !== 0 || buf[at + 10] !== 0 || buf[at + 11] !== 0)
    return false;
  if (buf.readUInt32LE(at + 4) > end - at - RECORD_HEADER_BYTES) return false;
  return buf.readUInt32LE(at + 12) <= at - FILE_HEADER_BYTES;
}

/** Decode a checksum-valid record's payload. Throws a plain Error on malformed contents. */
export function decodeOp(kind: number, p: Buffer): JournalOp {
  const u64 = (at: number, what: string): number => {
    if (at + 8 > p.length) throw new Error(`${what} runs past the payload`);
    const v = readU64(p, at);
    if (v === undefined) throw new Error(`${what} exceeds 2^53 − 1`);
    return v;
  };
  const exact = (used: number): void => {
    if (used !== p.length) throw new Error(`payload has ${p.length} bytes, its contents use ${used}`);
  };
  switch (kind) {
    case RecordKind.Entries:
    case RecordKind.Reset: {
      const first = u64(0, 'first index');
      if (p.length < 12) throw new Error('entry count runs past the payload');
      const count = p.readUInt32LE(8);
      if (count === 0) throw new Error('no entries');
      if (first + count - 1 > Number.MAX_SAFE_INTEGER) throw new Error('entry indexes exceed 2^53 − 1');
      const entries: LogEntry[] = new Array(count);
      let at = 12;
      for (let i = 0; i < count; i++) {
        const term = u64(at, `term of entry ${first + i}`);
        if (at + 12 > p.length) throw new Error(`command size of entry ${first + i} runs past the payload`);
        const n = p.readUInt32LE(at + 8);
        if (at + 12 + n > p.length) throw new Error(`command of entry ${first + i} runs past the payload`);
        // copy: the entries must not pin the whole file buffer (and its dead records) in memory
        entries[i] = { command: new Uint8Array(p.subarray(at + 12, at + 12 + n)), index: first + i, term };
        at += 12 + n;
      }
      exact(at);
      return kind === RecordKind.Entries ? { kind: 'append', entries } : { kind: 'reset', entries };
    }
    case RecordKind.TruncateFrom:
    case RecordKind.CompactBefore:
    case RecordKind.CommitIndex: {
      const index = u64(0, 'index');
      exact(8);
      if (kind === RecordKind.TruncateFrom) return { kind: 'truncateFrom', index };
      if (kind === RecordKind.CompactBefore) return { kind: 'compact', index };
      return { kind: 'commitIndex', index };
    }
    case RecordKind.HardState: {
      const term = u64(0, 'term');
      if (p.length < 13) throw new Error('vote runs past the payload');
      const has = p.readUInt8(8);
      const n = p.readUInt32LE(9);
      if (has > 1 || (has === 0 && n !== 0)) throw new Error(`bad vote flag ${has} / size ${n}`);
      if (13 + n > p.length) throw new Error('vote runs past the payload');
      exact(13 + n);
      const votedFor = has === 1 ? p.toString('utf8', 13, 13 + n) : null;
      return { kind: 'hardState', hardState: { term, votedFor } };
    }
    default:
      throw new Error(`unknown record kind ${kind}`);
  }
}

// ----------------------------------------------------------------------------------------------
// recovery scan

export interface DroppedTail {
  /** where the file is cut (the end of the last good record) */
  readonly offset: number;
  /** bytes dropped from `offset` to the end of the file */
  readonly droppedBytes: number;
  /**
   * `zeros`: only zero bytes follow (preallocation, or a crash after the size grew);
   * `torn`: a partial or damaged last record and nothing valid after it;
   * `torn-batch`: damage inside the last write batch, followed only by records of that same batch
   * (an unsynced write whose pages reached the disk out of order)
   */
  readonly kind: 'zeros' | 'torn' | 'torn-batch';
  /** why the record at `offset` was rejected */
  readonly reason: string;
  /** valid records of the torn last batch that are dropped with it */
  readonly droppedRecords: number;
}

export interface ScanResult {
  /** the end of the last good record: where the next write goes */
  readonly goodEnd: number;
  readonly records: number;
  readonly tail: DroppedTail | null;
}

function allZero(buf: Buffer, from: number, end: number): boolean {
  for (let i = from; i < end; i++) if (buf[i] !== 0) return false;
  return true;
}

function findValidRecord(buf: Buffer, from: number, end: number): number | null {
  for (let x = from; x + RECORD_HEADER_BYTES <= end; x++) {
    if (plausibleRecordAt(buf, x, end) && parseRecordAt(buf, x, end).ok) return x;
  }
  return null;
}

/**
 * Walk the records of a journal file (its header already checked), handing each decoded op to
 * `apply` (which throws to reject it). Returns where the good part ends and what tail is dropped.
 *
 * Rules: a damaged record is a torn tail — dropped — when nothing valid follows it, or when every
 * valid record after it belongs to the same write batch, which is the file's last and also covers
 * the damage (a crash during the last unsynced write). Otherwise valid, earlier-synced data
 * follows the damage: JournalCorruptError, never a silent skip.
 */
export function scanJournal(
  buf: Buffer,
  file: string,
  apply: (op: JournalOp, offset: number) => void,
): ScanResult {
  const end = buf.length;
  let at = FILE_HEADER_BYTES;
  let records = 0;
  let lastBatchStart = FILE_HEADER_BYTES;
  while (at < end) {
    const r = parseRecordAt(buf, at, end);
    if (!r.ok) {
      // intact but not ours to read: never drop it as if it were a torn write
      if (r.checksumOk) throw new JournalCorruptError(JournalCorruptCode.BadRecord, file, at, r.reason);
      return { goodEnd: at, records, tail: judgeDamage(buf, file, at, r.reason, lastBatchStart) };
    }
    let op: JournalOp;
    try {
      op = decodeOp(r.kind, r.payload);
      apply(op, at);
    } catch (e) {
      if (e instanceof JournalCorruptError) throw e;
      throw new JournalCorruptError(
        JournalCorruptCode.BadRecord,
        file,
        at,
        `record of kind ${r.kind} has a valid checksum but cannot be applied: ${(e as Error).message}`,
      );
    }
    lastBatchStart = at - r.batchOffset;
    records++;
    at = r.end;
  }
  return { goodEnd: at, records, tail: null };
}

function judgeDamage(
  buf: Buffer,
  file: string,
  at: number,
  reason: string,
  lastGoodBatchStart: number,
): DroppedTail {
  const end = buf.length;
  if (allZero(buf, at, end)) {
    return {
      offset: at,
      droppedBytes: end - at,
      kind: 'zeros',
      reason: 'only zero bytes follow',
      droppedRecords: 0,
    };
  }
  const first = findValidRecord(buf, at + 1, end);
  if (first === null) return { offset: at, droppedBytes: end - at, kind: 'torn', reason, droppedRecords: 0 };

  const corrupt = (why: string): never => {
    throw new JournalCorruptError(
      JournalCorruptCode.CorruptRecord,
      file,
      at,
      `${reason}; a valid record follows at offset ${first} (${why}), so this is not a torn last write`,
    );
  };
  // the batch the first valid record after the damage belongs to must also contain the damage
  const firstParse = parseRecordAt(buf, first, end);
  if (!firstParse.ok) return corrupt('unreadable on second parse');
  const batchStart = first - firstParse.batchOffset;
  if (batchStart > at) corrupt(`it belongs to a write batch starting at ${batchStart}, after the damage`);
  if (batchStart !== at && batchStart !== lastGoodBatchStart) {
    corrupt(`its write batch starts at ${batchStart}, inside the last good record`);
  }
  // …and every valid record up to the end must belong to that same (last) batch
  let y: number | null = first;
  let droppedRecords = 0;
  while (y !== null && y < end) {
    const r = parseRecordAt(buf, y, end);
    if (r.ok) {
      if (y - r.batchOffset !== batchStart) {
        corrupt(`a later write batch starts at ${y - r.batchOffset}, so the damaged batch was synced`);
      }
      droppedRecords++;
      y = r.end;
    } else if (allZero(buf, y, end)) {
      break;
    } else {
      y = findValidRecord(buf, y + 1, end);
    }
  }
  return { offset: at, droppedBytes: end - at, kind: 'torn-batch', reason, droppedRecords };
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
