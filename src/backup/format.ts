/**
 * The raftdcs snapshot file (docs/backups.md): a node's dump in the on-disk format — the gzip of
 * pysyncobj's dump pickle, in the format of `<self_addr>.dump` — in a small container that
 * names what it holds and checksums all of it:
 *
 * ```
 * offset     size  field
 * 0          8     magic "RDCSSNAP"
 * 8          4     u32 LE  format version (1)
 * 12         4     u32 LE  n: bytes of the header
 * 16         n     header: UTF-8 JSON object (SnapshotFileHeader, snake_case keys)
 * 16+n       8     u64 LE  m: bytes of the dump (≤ 2^53 − 1)
 * 24+n       m     the dump (gzip)
 * 24+n+m     32    SHA-256 of every byte before it
 * ```
 *
 * The dump's gzip has its own CRC-32, but only over the inflated pickle and only once inflated; the
 * SHA-256 covers the header and the lengths too, and tells a damaged or truncated file from an
 * intact one before anything is decoded.
 *
 * Pure: no I/O. Decoding throws SnapshotFileError (code, file, offset, reason) for any input.
 */
import { createHash } from 'node:crypto';
import { messageAtOffset, RaftdcsError } from '../errors.js';

export const SNAPSHOT_FILE_MAGIC = 'RDCSSNAP';
export const SNAPSHOT_FILE_VERSION = 1;
const FIXED_HEADER_BYTES = 16;
const DUMP_LENGTH_BYTES = 8;
const SHA256_BYTES = 32;
/** a header larger than this is not ours */
const MAX_HEADER_BYTES = 1 << 20;

export const SnapshotFileCode = {
  /** the file cannot be read (missing, permissions) */
  Unreadable: 'SNAPSHOT_FILE_UNREADABLE',
  /** the file does not start with the magic */
  NotSnapshot: 'SNAPSHOT_FILE_NOT_A_SNAPSHOT',
  /** a format version this build does not read */
  UnsupportedVersion: 'SNAPSHOT_FILE_UNSUPPORTED_VERSION',
  /** the file ends before the lengths it states (or goes on after its checksum) */
  Truncated: 'SNAPSHOT_FILE_TRUNCATED',
  /** the SHA-256 does not match: the file is damaged */
  ChecksumMismatch: 'SNAPSHOT_FILE_CHECKSUM_MISMATCH',
  /** the header is not the JSON object it must be */
  BadHeader: 'SNAPSHOT_FILE_BAD_HEADER',
  /** the dump does not decode, or disagrees with the header */
  BadDump: 'SNAPSHOT_FILE_BAD_DUMP',
} as const;
export type SnapshotFileCode = (typeof SnapshotFileCode)[keyof typeof SnapshotFileCode];

/** A snapshot file that cannot be used, with the file and the reason (and where, when known). */
export class SnapshotFileError extends RaftdcsError<SnapshotFileCode> {
  override readonly name = 'SnapshotFileError';
  constructor(
    code: SnapshotFileCode,
    readonly file: string,
    readonly reason: string,
    readonly offset?: number,
    options?: { cause?: unknown },
  ) {
    super(code, messageAtOffset(code, `snapshot file ${file}: ${reason}`, offset), options);
  }
}

/** What the header says (the dump's own entries and cluster must agree with it). */
export interface SnapshotFileHeader {
  /** the node the snapshot was taken from */
  readonly node: string;
  /** when, ISO 8601 UTC */
  readonly created: string;
  /** the raftdcs version that wrote the file */
  readonly raftdcsVersion: string;
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly prevIndex: number;
  readonly prevTerm: number;
  /** the voting members as of lastIndex */
  readonly cluster: readonly string[];
  /** the node's term and commit index when the snapshot was taken */
  readonly raftTerm: number;
  readonly commitIndex: number;
}

export interface DecodedSnapshotFile {
  readonly version: number;
  readonly header: SnapshotFileHeader;
  /** the dump (gzip), a view into the input */
  readonly dumpGz: Uint8Array;
  /** the file's SHA-256 (hex), verified */
  readonly sha256: string;
  readonly bytes: number;
}

/** The header's fields under the names the file (and `snapshot status --json`) use. */
export function headerFields(h: SnapshotFileHeader) {
  return {
    node: h.node,
    created: h.created,
    raftdcs_version: h.raftdcsVersion,
    last_index: h.lastIndex,
    last_term: h.lastTerm,
    prev_index: h.prevIndex,
    prev_term: h.prevTerm,
    cluster: [...h.cluster],
    raft_term: h.raftTerm,
    commit_index: h.commitIndex,
  };
}

function headerToJson(h: SnapshotFileHeader): string {
  return JSON.stringify(headerFields(h));
}

/** The file's bytes for a header and a dump. */
export function encodeSnapshotFile(header: SnapshotFileHeader, dumpGz: Uint8Array): Buffer {
  const json = Buffer.from(headerToJson(header), 'utf8');
  const fixed = Buffer.alloc(FIXED_HEADER_BYTES);
  fixed.write(SNAPSHOT_FILE_MAGIC, 0, 'latin1');
  fixed.writeUInt32LE(SNAPSHOT_FILE_VERSION, 8);
  fixed.writeUInt32LE(json.length, 12);
  const length = Buffer.alloc(DUMP_LENGTH_BYTES);
  length.writeBigUInt64LE(BigInt(dumpGz.length));
  const body = Buffer.concat([fixed, json, length, dumpGz]);
  const sha = createHash('sha256').update(body).digest();
  return Buffer.concat([body, sha]);
}

/** Read the container: magic, version, lengths, checksum, header. The dump is not decoded here. */
export function decodeSnapshotFile(bytes: Uint8Array, file: string): DecodedSnapshotFile {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (code: SnapshotFileCode, reason: string, offset?: number): never => {
    throw new SnapshotFileError(code, file, reason, offset);
  };
  if (buf.length === 0) fail(SnapshotFileCode.Truncated, 'the file is empty (0 bytes)', 0);
  const magic = buf.subarray(0, 8).toString('latin1');
  if (buf.length < 8 || magic !== SNAPSHOT_FILE_MAGIC) {
    if (SNAPSHOT_FILE_MAGIC.startsWith(magic)) {
      fail(SnapshotFileCode.Truncated, `${buf.length} bytes: the file ends inside its magic`, buf.length);
    }
    const gzip = buf[0] === 0x1f && buf[1] === 0x8b;
    fail(
      SnapshotFileCode.NotSnapshot,
      gzip
        ? 'it is a gzip file (a bare `.dump`?), not a raftdcs snapshot file (magic RDCSSNAP)'
        : `it does not start with the magic RDCSSNAP (found ${JSON.stringify(magic)})`,
      0,
    );
  }
  if (buf.length < FIXED_HEADER_BYTES) {
    fail(
      SnapshotFileCode.Truncated,
      `${buf.length} bytes: the file ends inside its fixed header`,
      buf.length,
    );
  }
  const version = buf.readUInt32LE(8);
  if (version !== SNAPSHOT_FILE_VERSION) {
    fail(
      SnapshotFileCode.UnsupportedVersion,
      `format version ${version}; this raftdcs reads version ${SNAPSHOT_FILE_VERSION} (a newer raftdcs wrote it?)`,
      8,
    );
  }
  const headerBytes = buf.readUInt32LE(12);
  if (headerBytes > MAX_HEADER_BYTES) {
    fail(SnapshotFileCode.BadHeader, `a header of ${headerBytes} bytes (at most ${MAX_HEADER_BYTES})`, 12);
  }
  const lengthAt = FIXED_HEADER_BYTES + headerBytes;
  if (buf.length < lengthAt + DUMP_LENGTH_BYTES) {
    fail(
      SnapshotFileCode.Truncated,
      `${buf.length} bytes: the file ends inside its ${headerBytes}-byte header`,
      buf.length,
    );
  }
  const dumpBytes = buf.readBigUInt64LE(lengthAt);
  const dumpAt = lengthAt + DUMP_LENGTH_BYTES;
  const expected = BigInt(dumpAt) + dumpBytes + BigInt(SHA256_BYTES);
  if (BigInt(buf.length) < expected) {
    fail(
      SnapshotFileCode.Truncated,
      `${buf.length} bytes, but its lengths make ${expected} (a dump of ${dumpBytes} bytes and the checksum): ` +
        'the file was cut short (an interrupted copy?)',
      buf.length,
    );
  }
  if (BigInt(buf.length) > expected) {
    fail(
      SnapshotFileCode.Truncated,
      `${BigInt(buf.length) - expected} bytes follow the checksum (the file is ${buf.length} bytes, its lengths make ${expected})`,
      Number(expected),
    );
  }
  const shaAt = buf.length - SHA256_BYTES;
  const stored = buf.subarray(shaAt).toString('hex');
  const computed = createHash('sha256').update(buf.subarray(0, shaAt)).digest('hex');
  if (stored !== computed) {
    fail(
      SnapshotFileCode.ChecksumMismatch,
      `the SHA-256 does not match (stored ${stored}, computed ${computed}): the file is damaged`,
      shaAt,
    );
  }
  const header = parseHeader(buf.subarray(FIXED_HEADER_BYTES, lengthAt), file);
  return { version, header, dumpGz: buf.subarray(dumpAt, shaAt), sha256: computed, bytes: buf.length };
}

function parseHeader(json: Buffer, file: string): SnapshotFileHeader {
  const bad = (reason: string): never => {
    throw new SnapshotFileError(SnapshotFileCode.BadHeader, file, reason, FIXED_HEADER_BYTES);
  };
  let v: unknown;
  try {
    v = JSON.parse(json.toString('utf8'));
  } catch (e) {
    return bad(`the header is not JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad('the header is not a JSON object');
  const o = v as Record<string, unknown>;
  const str = (k: string): string =>
    typeof o[k] === 'string' ? (o[k] as string) : bad(`'${k}' is not a string`);
  const int = (k: string): number => {
    const x = o[k];
    return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
      ? x
      : bad(`'${k}' is not a whole number >= 0`);
  };
  const cluster = o.cluster;
  if (!Array.isArray(cluster) || cluster.some((n) => typeof n !== 'string')) {
    return bad("'cluster' is not a list of strings");
  }
  return {
    node: str('node'),
    created: str('created'),
    raftdcsVersion: str('raftdcs_version'),
    lastIndex: int('last_index'),
    lastTerm: int('last_term'),
    prevIndex: int('prev_index'),
    prevTerm: int('prev_term'),
    cluster: cluster as string[],
    raftTerm: int('raft_term'),
    commitIndex: int('commit_index'),
  };
}
