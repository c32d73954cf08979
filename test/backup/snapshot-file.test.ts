/**
 * The snapshot file (src/backup/format.ts, src/backup/snapshot-file.ts): a round trip keeps the
 * dump byte for byte and the header; every kind of damage is refused with its code, the file and
 * the reason — a cut at any offset, a flipped bit anywhere, bytes after the checksum, another
 * magic (a bare `.dump`), another version, a header or a dump that disagrees with the other even
 * under a valid checksum; the write is atomic and leaves no temporary behind.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decodeSnapshotFile,
  encodeSnapshotFile,
  SnapshotFileCode,
  SnapshotFileError,
  type SnapshotFileHeader,
} from '../../src/backup/format.js';
import { checkSnapshotBytes, readSnapshotFile, writeSnapshotFile } from '../../src/backup/snapshot-file.js';
import { NO_OP_COMMAND } from '../../src/raft/core/types.js';
import { realDumpCodec } from '../../src/raft/runtime/dump-codec.js';
import type { Dump } from '../../src/raft/snapshot/dump.js';
import type { PyDictKey, PyValue } from '../../src/wire/value.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'raftdcs-snapfile-'));
  dirs.push(d);
  return d;
}

const record = (value: string, index: number) =>
  new Map<PyDictKey, PyValue>([
    ['value', value],
    ['index', index],
    ['created', 1],
    ['updated', 1],
  ]);

const DUMP: Dump = {
  data: new Map<PyDictKey, PyValue>([
    ['_SyncObj__enabledCodeVersion', 0],
    [
      '_KVStoreTTL__data',
      new Map<PyDictKey, PyValue>([
        ['/service/batman/leader', record('pg1', 5)],
        ['/service/batman/initialize', record('7301234567890123456', 3)],
      ]),
    ],
  ]),
  lastEntry: { command: NO_OP_COMMAND, index: 7, term: 2 },
  prevEntry: { command: NO_OP_COMMAND, index: 6, term: 2 },
  cluster: ['127.0.0.1:7101', '127.0.0.1:7102', '127.0.0.1:7103'],
};

const HEADER: SnapshotFileHeader = {
  node: '127.0.0.1:7102',
  created: '2025-05-01T10:00:00.000Z',
  raftdcsVersion: '0.1.0',
  lastIndex: 7,
  lastTerm: 2,
  prevIndex: 6,
  prevTerm: 2,
  cluster: ['127.0.0.1:7103', '127.0.0.1:7101', '127.0.0.1:7102'],
  raftTerm: 3,
  commitIndex: 8,
};

async function file(header = HEADER, dump = DUMP): Promise<{ bytes: Buffer; gz: Uint8Array }> {
  const gz = await realDumpCodec.encode(dump);
  return { bytes: encodeSnapshotFile(header, gz), gz };
}

/** The code a decode of `bytes` fails with (checking the message names the file). */
async function refusal(bytes: Uint8Array): Promise<SnapshotFileError> {
  try {
    await checkSnapshotBytes(bytes, '/backups/b.snapshot');
  } catch (e) {
    expect(e).toBeInstanceOf(SnapshotFileError);
    expect((e as Error).message).toContain('snapshot file /backups/b.snapshot: ');
    return e as SnapshotFileError;
  }
  throw new Error('accepted a damaged file');
}

/** Replace the checksum so that only the content check can refuse. */
function resealed(bytes: Buffer): Buffer {
  const body = bytes.subarray(0, bytes.length - 32);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

describe('the snapshot file', () => {
  it('round trip: the dump byte for byte, the header, the key count, the checksum', async () => {
    const { bytes, gz } = await file();
    expect(bytes.subarray(0, 8).toString('latin1')).toBe('RDCSSNAP');
    const c = await checkSnapshotBytes(bytes, 'x');
    expect(Buffer.from(c.dumpGz).equals(Buffer.from(gz))).toBe(true);
    expect(c.header).toEqual(HEADER);
    expect(c.version).toBe(1);
    expect(c.keys).toBe(2);
    expect(c.bytes).toBe(bytes.length);
    expect(c.sha256).toBe(bytes.subarray(bytes.length - 32).toString('hex'));
    expect([c.dump.lastEntry.index, c.dump.lastEntry.term]).toEqual([7, 2]);
    expect([...c.dump.lastEntry.command]).toEqual([...NO_OP_COMMAND]);
    // a state that is not a KVStoreTTL's has no key count
    const other = await checkSnapshotBytes((await file(HEADER, { ...DUMP, data: new Map() })).bytes, 'x');
    expect(other.keys).toBeNull();
  });

  it('a cut at any offset is TRUNCATED; a flipped bit anywhere is refused; bytes after the checksum too', async () => {
    const { bytes } = await file();
    for (let cut = 0; cut < bytes.length; cut++) {
      const e = await refusal(bytes.subarray(0, cut));
      expect(e.code, `cut at ${cut}`).toBe(SnapshotFileCode.Truncated);
    }
    for (let at = 0; at < bytes.length; at++) {
      const damaged = Buffer.from(bytes);
      damaged[at] = (damaged[at] as number) ^ 0x10;
      const e = await refusal(damaged);
      // the magic, the version and the lengths are read before the checksum
      const expected =
        at < 8
          ? SnapshotFileCode.NotSnapshot
          : at < 12
            ? SnapshotFileCode.UnsupportedVersion
            : [SnapshotFileCode.Truncated, SnapshotFileCode.ChecksumMismatch, SnapshotFileCode.BadHeader];
      if (Array.isArray(expected)) expect(expected, `flip at ${at}: ${e.message}`).toContain(e.code);
      else expect(e.code, `flip at ${at}`).toBe(expected);
    }
    const longer = await refusal(Buffer.concat([bytes, Buffer.of(0)]));
    expect(longer.code).toBe(SnapshotFileCode.Truncated);
    expect(longer.reason).toContain('1 bytes follow the checksum');
    const flipped = Buffer.from(bytes);
    flipped[bytes.length - 100] = (flipped[bytes.length - 100] as number) ^ 1;
    expect((await refusal(flipped)).message).toMatch(
      /^SNAPSHOT_FILE_CHECKSUM_MISMATCH at offset \d+: snapshot file \/backups\/b.snapshot: the SHA-256 does not match .*: the file is damaged$/,
    );
  });

  it('a bare dump, another file, a newer version, an empty file', async () => {
    const { bytes, gz } = await file();
    expect((await refusal(gz)).reason).toContain('it is a gzip file (a bare `.dump`?)');
    expect((await refusal(Buffer.from('hello world, not a snapshot'))).code).toBe(
      SnapshotFileCode.NotSnapshot,
    );
    expect((await refusal(Buffer.alloc(0))).reason).toBe('the file is empty (0 bytes)');
    const v2 = Buffer.from(bytes);
    v2.writeUInt32LE(2, 8);
    expect((await refusal(resealed(v2))).reason).toContain('format version 2; this raftdcs reads version 1');
  });

  it('under a valid checksum: a header that is not JSON, or that disagrees with the dump', async () => {
    const { bytes } = await file();
    const json = Buffer.from(bytes);
    json.write('[', 16, 'latin1');
    expect((await refusal(resealed(json))).code).toBe(SnapshotFileCode.BadHeader);
    const other = await file({ ...HEADER, lastIndex: 8 });
    const e = await refusal(other.bytes);
    expect(e.code).toBe(SnapshotFileCode.BadDump);
    expect(e.reason).toBe('the header says index 8 (term 2), the dump ends at 7 (term 2)');
    const members = await file({ ...HEADER, cluster: ['127.0.0.1:7101'] });
    expect((await refusal(members.bytes)).reason).toContain(
      "the header's membership is 127.0.0.1:7101, the dump's",
    );
    const notGzip = encodeSnapshotFile(HEADER, Buffer.from('not gzip'));
    expect((await refusal(notGzip)).reason).toContain('the dump inside does not decode');
    expect(() => decodeSnapshotFile(notGzip, 'x')).not.toThrow(); // the container alone is intact
  });

  it('written atomically: a complete file replaces the old one, no temporary is left; a missing file is named', async () => {
    const dir = tempDir();
    const path = join(dir, 'b.snapshot');
    writeFileSync(path, 'an older backup');
    const { bytes } = await file();
    await writeSnapshotFile(path, bytes);
    expect(readFileSync(path).equals(bytes)).toBe(true);
    expect(readdirSync(dir)).toEqual(['b.snapshot']);
    expect((await readSnapshotFile(path)).keys).toBe(2);
    await expect(writeSnapshotFile(join(dir, 'nope', 'b.snapshot'), bytes)).rejects.toThrow(/ENOENT/);
    expect(existsSync(join(dir, 'nope'))).toBe(false);
    await expect(readSnapshotFile(join(dir, 'missing.snapshot'))).rejects.toThrow(
      `SNAPSHOT_FILE_UNREADABLE: snapshot file ${join(dir, 'missing.snapshot')}: cannot read it: no such file`,
    );
  });
});
